// End to end through the built bin against a local directory target served over HTTP: the seed READMEs'
// command sequences, imports, downloads, and every bad-input case leaving database and files untouched.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openStore } from '@hepix/imagelist-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, makePki, type TestPki } from '@hepix/test-support';
import { DN, treeDigest, vmcaster } from './helpers.js';
import { checkPublished, makeImage, ok, type Scenario, scenario, seedSequence } from './scenario.js';

const base = mkdtempSync(join(tmpdir(), 'vmcaster-e2e-local-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let pki: TestPki;
let otherPki: TestPki;
beforeAll(() => {
  pki = makePki(join(base, 'pki'));
  otherPki = makePki(join(base, 'pki-other'), 'Eve Example');
});

describe('local directory target, served over HTTP', () => {
  let s: Scenario;
  let server: Server;
  let port = 0;
  const www = join(base, 'local', 'www');

  beforeAll(async () => {
    mkdirSync(www, { recursive: true });
    server = createServer((req, res) => {
      const path = join(www, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      try {
        const body = readFileSync(path);
        res.writeHead(200, { 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    const publicBase = `http://127.0.0.1:${port}/`;
    s = scenario(base, pki, 'local', publicBase, www, {
      server: '127.0.0.1',
      protocol: 'local',
      uriMatch: publicBase,
      uriReplace: `${www}/`,
    });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('runs the seed sequence; the published list verifies with openssl and validates strict', async () => {
    const img = makeImage(join(base, 'local', 'images'), 'hudson-slave-vm06.img');
    await seedSequence(s, img);
    checkPublished(s, pki, '0.0.1');
    expect((await ok(s, '--imagelist-list')).stdout.trim()).toBe(s.list);
    const image = JSON.parse((await ok(s, `--select-image ${s.image} --show-image --json`)).stdout);
    expect(image['hv:version']).toBe('0.0.1');

    // Unchanged image: no-op with a message, nothing new on the server.
    const before = treeDigest(www);
    const again = await ok(s, `--upload-image ${img} --select-image ${s.image}`);
    expect(again.stdout).toMatch(/unchanged/);
    expect(treeDigest(www)).toEqual(before);

    // Second publish (encrypted key, passphrase from a file) bumps the version.
    await ok(s, [
      '--select-imagelist',
      s.list,
      '--upload-imagelist',
      '--x509-key',
      pki.endorser.encryptedKey,
      '--passphrase-file',
      pki.endorser.passphraseFile,
    ]);
    checkPublished(s, pki, '0.0.2');
  });

  it('the subcommand interface reaches the same code paths', async () => {
    const img = makeImage(join(base, 'local', 'images'), 'v2.img');
    const up = JSON.parse((await ok(s, ['image', 'upload', img, '--image', s.image, '--json'])).stdout);
    expect(up).toMatchObject({ changed: true, version: '0.0.2' });
    // Passphrase from the environment this time.
    const pub = JSON.parse(
      (
        await ok(
          s,
          ['imagelist', 'publish', '--imagelist', s.list, '--json', '--x509-key', pki.endorser.encryptedKey],
          {
            env: { VMCASTER_X509_PASSPHRASE: readFileSync(pki.endorser.passphraseFile, 'utf8').trim() },
          },
        )
      ).stdout,
    );
    expect(pub.version).toBe('0.0.3');
    const { doc } = checkPublished(s, pki, '0.0.3');
    expect(doc['hv:imagelist']['hv:images'][0]['hv:image']['hv:version']).toBe('0.0.2');
    expect(JSON.parse((await ok(s, ['imagelist', 'list', '--json'])).stdout)).toEqual([s.list]);
    expect(JSON.parse((await ok(s, ['imagelist', 'images', s.list, '--json'])).stdout)).toEqual([s.image]);
  });

  it('imports: verified by default, refused when unverifiable, --no-verify warns; download over http', async () => {
    const listFile = join(www, 'lists', `${s.list}.smime`);
    const other = join(base, 'local', 'other');
    mkdirSync(other, { recursive: true });
    const run = (args: string[], env: Record<string, string> = {}) =>
      vmcaster(args, { cwd: other, env: { HOME: other, ...env } });

    // Default CA dir is /etc/grid-security/certificates; point it at the test PKI.
    const imported = await run(['--imagelist-import-smime', listFile, '--ca-dir', pki.certDir]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/signed by \/C=DE\/O=GermanGrid\/OU=DESY\/CN=Owen Synge/);
    const shown = JSON.parse(
      (await run(['--select-imagelist', s.list, '--imagelist-show', '--stored', '--json'])).stdout,
    );
    expect(shown['hv:imagelist']['hv:version']).toBe('0.0.3');

    // Tampered: refused, nothing imported.
    const tampered = join(other, 'tampered.smime');
    writeFileSync(tampered, readFileSync(listFile, 'utf8').replace('Test list', 'Evil list'));
    const fresh = join(other, 'fresh');
    mkdirSync(fresh);
    const refused = await vmcaster(['--imagelist-import-smime', tampered], {
      cwd: fresh,
      env: { HOME: fresh, VMCASTER_CA_DIR: pki.certDir },
    });
    expect(refused.code).toBe(33);
    expect(refused.stderr).toMatch(/Signature validation failed/);
    expect((await vmcaster(['--imagelist-list'], { cwd: fresh, env: { HOME: fresh } })).stdout.trim()).toBe(
      '',
    );
    // Trusting the other PKI's CA only: refused too.
    const wrongCa = await vmcaster(['--imagelist-import-smime', listFile, '--ca-dir', otherPki.certDir], {
      cwd: fresh,
      env: { HOME: fresh },
    });
    expect(wrongCa.code).toBe(33);
    const forced = await vmcaster(['--imagelist-import-smime', tampered, '--no-verify'], {
      cwd: fresh,
      env: { HOME: fresh },
    });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/WITHOUT verifying/);

    // Download: the list's hv:uri is served by the test HTTP server.
    const dl = join(other, 'dl');
    mkdirSync(dl);
    const dlRun = (args: string[]) =>
      vmcaster(args, { cwd: dl, env: { HOME: dl, VMCASTER_CA_DIR: pki.certDir } });
    expect((await dlRun(['--add-imagelist', s.list])).code).toBe(0);
    expect(
      (
        await dlRun([
          '--select-imagelist',
          s.list,
          '--key-set-imagelist',
          'hv:uri',
          '--key-value-imagelist',
          `${s.publicBase}lists/${s.list}.smime`,
        ])
      ).code,
    ).toBe(0);
    const got = await dlRun(['--select-imagelist', s.list, '--download-imagelist']);
    expect(got.code, got.stderr).toBe(0);
    const dlShown = JSON.parse(
      (await dlRun(['--select-imagelist', s.list, '--imagelist-show', '--stored', '--json'])).stdout,
    );
    expect(dlShown['hv:imagelist']['hv:version']).toBe('0.0.3');
    expect(dlShown['hv:imagelist']['hv:images']).toHaveLength(1);
  });

  describe('bad input leaves the database and the published files as they were', () => {
    // The whole publisher database (read in-process from the same SQLite file) and every published file.
    async function snapshot() {
      const store = await openStore(`sqlite:///${join(s.home, 'vmcaster.db')}`);
      try {
        const p = store.publisher;
        const lists = await Promise.all((await p.listImageLists()).map((id) => p.getImageList(id)));
        const images = await Promise.all((await p.listImages()).map((id) => p.getImage(id)));
        const endorsers = await Promise.all((await p.listEndorsers()).map((dn) => p.getEndorser(dn)));
        return { lists, images, endorsers, files: treeDigest(www) };
      } finally {
        await store.close();
      }
    }
    async function expectFailure(
      args: string[],
      code: number,
      message: RegExp,
      extra?: Parameters<Scenario['run']>[1],
    ): Promise<void> {
      const before = await snapshot();
      const r = await s.run(args, extra);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(await snapshot()).toEqual(before);
    }
    const publish = () => ['--select-imagelist', s.list, '--upload-imagelist'];

    it('wrong passphrase', async () => {
      const wrong = join(base, 'wrong-pass.txt');
      writeFileSync(wrong, 'not-the-passphrase\n');
      await expectFailure(
        [...publish(), '--x509-key', pki.endorser.encryptedKey, '--passphrase-file', wrong],
        29,
        /wrong passphrase/,
      );
    });
    it('encrypted key and no way to ask for the passphrase', async () => {
      await expectFailure(
        [...publish(), '--x509-key', pki.endorser.encryptedKey],
        29,
        /encrypted and no passphrase/,
      );
    });
    it('certificate not matching any bound endorser', async () => {
      await expectFailure(
        [...publish(), '--x509-cert', otherPki.endorser.cert, '--x509-key', otherPki.endorser.key],
        20,
        /matches no endorser bound/,
      );
    });
    it('key not matching the certificate', async () => {
      await expectFailure(
        [...publish(), '--x509-key', otherPki.endorser.key],
        29,
        /does not belong to the signing certificate/,
      );
    });
    it('certificate without keyUsage (31) or without digitalSignature (32)', async () => {
      const none = issueCert(pki, 'no-key-usage', DN, {
        extensions: ['basicConstraints = critical, CA:false'],
      });
      await expectFailure(
        [...publish(), '--x509-cert', none.cert, '--x509-key', none.key],
        31,
        /no keyUsage/,
      );
      const enc = issueCert(pki, 'no-digital-signature', DN, {
        extensions: ['basicConstraints = critical, CA:false', 'keyUsage = critical, keyEncipherment'],
      });
      await expectFailure(
        [...publish(), '--x509-cert', enc.cert, '--x509-key', enc.key],
        32,
        /digitalSignature/,
      );
    });
    it('missing certificate file', async () => {
      await expectFailure(
        [...publish(), '--x509-cert', join(base, 'nope.pem')],
        23,
        /cannot read the signing certificate/,
      );
    });
    it('missing config section for the list host (list: 21, image: 99)', async () => {
      const cfg = join(base, 'other.cfg');
      writeFileSync(
        cfg,
        '[x]\nserver = "elsewhere.example"\nprotocol = "local"\nuriMatch = "http://elsewhere.example/"\nuriReplace = "/tmp/x/"\n',
      );
      await expectFailure([...publish(), '-C', cfg], 21, /no section with server = "127.0.0.1"/);
      const img = makeImage(join(base, 'local', 'images'), 'v3.img');
      await expectFailure(['--upload-image', img, '--select-image', s.image, '-C', cfg], 99, /no section/);
    });
    it('no configuration file at all', async () => {
      const img = makeImage(join(base, 'local', 'images'), 'v4.img');
      await expectFailure(['--upload-image', img, '--select-image', s.image], 1, /no configuration file/, {
        env: { HOME: join(base, 'nowhere') },
      });
    });
    it('an upload failing mid-way (file size limit hit while writing the target)', async () => {
      // An already-compressed 3 MiB image is uploaded as is; the process may write at most 1 MiB per file,
      // so the local backend fails in the middle of writing its temp file.
      const dir = join(base, 'local', 'images');
      const gz = join(dir, 'big.img.gz');
      writeFileSync(gz, gzipSync(randomBytes(3 * 1024 * 1024), { level: 0 }));
      await expectFailure(['--upload-image', gz, '--select-image', s.image], 77, /EFBIG|too large|failed/i, {
        wrapper: ['prlimit', '--fsize=1048576'],
      });
    });
    it('Ctrl-C while compressing and while uploading (130)', async () => {
      const dir = join(base, 'local', 'images');
      const raw = join(dir, 'big.img');
      // Gzip magic followed by random bytes: taken as already compressed, so it is uploaded as is.
      const gz = join(dir, 'big.img.gz');
      writeFileSync(raw, randomBytes(160 * 1024 * 1024));
      writeFileSync(
        gz,
        Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]), readFileSync(raw)]),
      );
      try {
        for (const [file, when] of [
          [raw, /compressing/],
          [gz, /hashing alongside/],
        ] as const) {
          const before = await snapshot();
          const r = await vmcaster(['--upload-image', file, '--select-image', s.image], {
            cwd: s.home,
            env: s.env,
            interrupt: when,
          });
          expect(r.code, r.stderr).toBe(130);
          expect(r.stderr).toMatch(/SIGINT: aborting/);
          expect(await snapshot()).toEqual(before);
        }
      } finally {
        rmSync(raw, { force: true });
        rmSync(gz, { force: true });
      }
    });
    it('image not bound to a list (45), image without hv:uri (13), unknown image (3)', async () => {
      const lone = randomUUID();
      await ok(s, ['--select-image', lone, '--add-image']);
      const img = makeImage(join(base, 'local', 'images'), 'v5.img');
      await expectFailure(['--upload-image', img, '--select-image', lone], 45, /not part of any image list/);
      await ok(s, ['--select-imagelist', s.list, '--select-image', lone, '--imagelist-add-image']);
      await expectFailure(['--upload-image', img, '--select-image', lone], 13, /has no hv:uri/);
      await ok(s, ['--select-imagelist', s.list, '--select-image', lone, '--imagelist-del-image']);
      await ok(s, ['--select-image', lone, '--del-image']);
      await expectFailure(['--upload-image', img, '--select-image', randomUUID()], 3, /does not exist/);
    });
    it('usage errors exit 2', async () => {
      await expectFailure(['--imagelist-list', '--list-image'], 2, /To many actions/);
      await expectFailure(['--upload-imagelist'], 2, /--select-imagelist/);
    });
  });
  it('asks for the passphrase of an encrypted key on a terminal', async () => {
    // python3's pty module gives the bin a real terminal; the passphrase is typed into it.
    const passphrase = readFileSync(pki.endorser.passphraseFile, 'utf8').trim();
    const r = await vmcaster(
      ['--select-imagelist', s.list, '--upload-imagelist', '--x509-key', pki.endorser.encryptedKey],
      {
        cwd: s.home,
        env: s.env,
        wrapper: ['python3', '-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)'],
        respond: { when: /Enter pass phrase for /, send: `${passphrase}\n` },
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Enter pass phrase for .*userkey-enc\.pem/);
    expect(r.stdout).toMatch(/published image list .* version 0\.0\.4/);
    expect(r.stdout).not.toContain(passphrase);
    checkPublished(s, pki, '0.0.4');
  });
});
