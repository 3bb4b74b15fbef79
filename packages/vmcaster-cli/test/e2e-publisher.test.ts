// Through the built bin: imports with the subscriber's checks (signer == hv:endorser, dates), PKCS#12 signing,
// sl:deprecated / sl:locations, empty values, --log-format json, and uploads interrupted by SIGINT and killed
// by SIGKILL in the middle of a large local copy.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@hepix/imagelist-store';
import {
  issueCert,
  makeListJson,
  makePki,
  openssl,
  opensslVerify,
  signList,
  type TestPki,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, CA_DN, DN, treeDigest, vmcaster } from './helpers.js';
import { makeImage, ok, type Scenario, scenario } from './scenario.js';

const base = mkdtempSync(join(tmpdir(), 'vmcaster-e2e-pub-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const DAY = 86_400_000;
const decoder = join(import.meta.dirname, '../../marketplace/test/fixtures/legacy-decoder.py');

let pki: TestPki;
let eve: { cert: string; key: string };
let s: Scenario;
const www = join(base, 'www');
const publicBase = 'https://images.example.org/';

beforeAll(async () => {
  pki = makePki(join(base, 'pki'));
  eve = issueCert(pki, 'eve', '/C=DE/O=GermanGrid/OU=DESY/CN=Eve Example');
  s = scenario(base, pki, 'pub', publicBase, www, {
    server: 'images.example.org',
    protocol: 'local',
    uriMatch: publicBase,
    uriReplace: `${www}/`,
  });
  await ok(s, ['--add-endorser', DN]);
  for (const [k, v] of [
    ['hv:ca', CA_DN],
    ['dc:creator', 'Owen Synge'],
    ['hv:email', 'owen@example.org'],
  ])
    await ok(s, ['--select-endorser', DN, '--key-set-endorser', k, '--key-value-endorser', v]);
  await ok(s, ['--add-imagelist', s.list]);
  for (const [k, v] of [
    ['dc:title', 'Test list'],
    ['dc:description', 'Images'],
    ['hv:uri', `${publicBase}lists/${s.list}.smime`],
  ])
    await ok(s, ['--select-imagelist', s.list, '--key-set-imagelist', k, '--key-value-imagelist', v]);
  await ok(s, ['--imagelist-add-endorser', '--select-endorser', DN, '--select-imagelist', s.list]);
  await ok(s, ['imagelist', 'bind-image', s.list, s.image]);
  for (const [k, v] of [
    ['dc:title', 'Worker node'],
    ['dc:description', 'SL6 worker node'],
    ['sl:arch', 'x86_64'],
    ['sl:os', 'Linux'],
    ['sl:osversion', 'SL 6.4'],
    ['sl:comments', ''],
    ['hv:hypervisor', 'kvm'],
    ['hv:uri', `${publicBase}images/${s.image}.img`],
  ])
    await ok(s, ['--select-image', s.image, '--key-set-image', k, '--key-value-image', v]);
  await ok(s, [
    '--upload-image',
    makeImage(join(base, 'images'), 'first.img', 1024 * 1024),
    '--select-image',
    s.image,
  ]);
});

/** The whole database and every published file. */
async function snapshot() {
  const store = await openStore(`sqlite:///${join(s.home, 'vmcaster.db')}`);
  try {
    const p = store.publisher;
    return {
      lists: await Promise.all((await p.listImageLists()).map((id) => p.getImageListContents(id))),
      images: await Promise.all((await p.listImages()).map((id) => p.getImage(id))),
      endorsers: await Promise.all((await p.listEndorsers()).map((dn) => p.getEndorser(dn))),
      files: treeDigest(www),
    };
  } finally {
    await store.close();
  }
}

function list(id: string, created: Date, expires: Date): string {
  return makeListJson({
    identifier: id,
    version: '1',
    created,
    expires,
    uri: `https://elsewhere.example/${id}.smime`,
    dn: DN,
    ca: CA_DN,
    images: [{ identifier: `${id}-img` }],
  });
}

describe('imports get the subscriber’s checks', () => {
  const file = (name: string, data: Uint8Array) => {
    const p = join(base, name);
    writeFileSync(p, data);
    return p;
  };
  const now = () => new Date();

  it('a list signed by someone other than its hv:endorser is refused with its own status (34)', async () => {
    const signed = file(
      'eve.smime',
      signList(list(randomUUID(), new Date(Date.now() - DAY), new Date(Date.now() + DAY)), eve),
    );
    const before = await snapshot();
    const r = await s.run(['--import-imagelist-smime', signed, '--ca-dir', pki.certDir]);
    expect(r.code, r.stderr).toBe(34);
    expect(r.stderr).toMatch(/does not match the signer '\/C=DE\/O=GermanGrid\/OU=DESY\/CN=Eve Example'/);
    expect(await snapshot()).toEqual(before);
    // --no-verify keeps working as before: no checks at all.
    const forced = await s.run(['--import-imagelist-smime', signed, '--no-verify']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/WITHOUT verifying/);
  });

  it('a list created in the future is refused (35); an expired one is imported with a warning', async () => {
    const future = file(
      'future.smime',
      signList(
        list(randomUUID(), new Date(now().getTime() + DAY), new Date(now().getTime() + 9 * DAY)),
        pki.endorser,
      ),
    );
    const before = await snapshot();
    const r = await s.run(['--import-imagelist-smime', future, '--ca-dir', pki.certDir]);
    expect(r.code, r.stderr).toBe(35);
    expect(r.stderr).toMatch(/creation date in the future/);
    expect(await snapshot()).toEqual(before);
    const id = randomUUID();
    const expired = file(
      'expired.smime',
      signList(list(id, new Date(now().getTime() - 9 * DAY), new Date(now().getTime() - DAY)), pki.endorser),
    );
    const e = await s.run(['imagelist', 'import-smime', expired, '--ca-dir', pki.certDir]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stderr).toMatch(/vmcaster: warn: .*has expired.*imported anyway/);
    expect(e.stdout).toMatch(new RegExp(`created image list ${id}`));
  });
});

describe('publishing', () => {
  it('with a PKCS#12 file (--p12-cert, or a .p12 in DISH_CERT); a wrong passphrase is 29', async () => {
    const p12 = join(base, 'owen.p12');
    openssl([
      'pkcs12',
      '-export',
      '-in',
      pki.endorser.cert,
      '-inkey',
      pki.endorser.key,
      '-out',
      p12,
      '-passout',
      'pass:grid pass',
    ]);
    const pass = join(base, 'p12-pass.txt');
    writeFileSync(pass, 'grid pass\n');
    const r = await ok(s, [
      '--select-imagelist',
      s.list,
      '--upload-imagelist',
      '--p12-cert',
      p12,
      '--passphrase-file',
      pass,
    ]);
    expect(r.stdout).toMatch(/published image list .* version 0\.0\.1/);
    // The empty sl:comments is published, with a warning.
    expect(r.stderr).toMatch(
      new RegExp(`warn: image ${s.image}: sl:comments is empty \\(published as it is\\)`),
    );
    const doc = JSON.parse(opensslVerify(join(www, 'lists', `${s.list}.smime`), pki.certDir));
    expect(doc['hv:imagelist']['hv:images'][0]['hv:image']['sl:comments']).toBe('');
    const legacyP12 = join(base, 'owen-legacy.p12');
    openssl([
      'pkcs12',
      '-export',
      '-legacy',
      '-in',
      pki.endorser.cert,
      '-inkey',
      pki.endorser.key,
      '-out',
      legacyP12,
      '-passout',
      'pass:grid pass',
    ]);
    await ok(s, ['--select-imagelist', s.list, '--upload-imagelist'], {
      env: { DISH_CERT: legacyP12, VMCASTER_X509_PASSPHRASE: 'grid pass' },
    });
    expect(
      JSON.parse(opensslVerify(join(www, 'lists', `${s.list}.smime`), pki.certDir))['hv:imagelist'][
        'hv:version'
      ],
    ).toBe('0.0.2');
    const before = await snapshot();
    const wrong = await s.run(['--select-imagelist', s.list, '--upload-imagelist', '--p12-cert', p12], {
      env: { VMCASTER_X509_PASSPHRASE: 'not it' },
    });
    expect(wrong.code, wrong.stderr).toBe(29);
    expect(wrong.stderr).toMatch(/wrong passphrase for the PKCS#12 file/);
    expect(await snapshot()).toEqual(before);
  });

  it('sl:deprecated and sl:locations set by commands, published, and accepted by the original decoder', async () => {
    await ok(s, ['image', 'deprecate', s.image, '--reason', 'superseded by SL7']);
    const added = await ok(s, ['image', 'add-location', s.image, 'https://mirror.example.org/w.img']);
    expect(added.stdout).toMatch(/location https:\/\/mirror\.example\.org\/w\.img added/);
    const before = await snapshot();
    const bad = await s.run(['image', 'add-location', s.image, 'ftp://mirror.example.org/w.img']);
    expect(bad.code).toBe(2);
    const missing = await s.run(['image', 'remove-location', s.image, 'https://other.example/w.img']);
    expect(missing.code).toBe(3);
    const noReason = await s.run(['image', 'deprecate', s.image, '--reason', ' ']);
    expect(noReason.code).toBe(2);
    expect(await snapshot()).toEqual(before);
    await ok(s, ['--select-imagelist', s.list, '--upload-imagelist']);
    const content = opensslVerify(join(www, 'lists', `${s.list}.smime`), pki.certDir);
    const image = JSON.parse(content)['hv:imagelist']['hv:images'][0]['hv:image'];
    expect(image['sl:deprecated']).toBe('superseded by SL7');
    expect(image['sl:locations']).toEqual(['https://mirror.example.org/w.img']);
    const py = spawnSync('python3', [decoder], { input: content, encoding: 'utf8' });
    expect(JSON.parse(py.stdout)).toEqual({ accepted: true, reason: '', images: [s.image] });
    await ok(s, ['image', 'undeprecate', s.image]);
    await ok(s, ['image', 'remove-location', s.image, 'https://mirror.example.org/w.img']);
  });

  it('--log-format json', async () => {
    const r = await s.run(['--select-imagelist', 'nope', '--upload-imagelist', '--log-format', 'json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stderr.trim().split('\n').at(-1)!)).toMatchObject({
      level: 'error',
      name: 'vmcaster',
      code: 'ERR_PUBLISHER_NOT_FOUND',
    });
  });
});

/** Starts an upload of `file` through the bin; `onPart` runs once a temp file appears in the image directory. */
function uploadUntilTemp(file: string, onPart: (child: ChildProcess) => void) {
  const images = join(www, 'images');
  mkdirSync(images, { recursive: true });
  const child = spawn(process.execPath, [bin, '--upload-image', file, '--select-image', s.image], {
    cwd: s.home,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: s.home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdout?.resume();
  let fired = false;
  const watcher = watch(images, () => {
    if (!fired && readdirSync(images).some((n) => n.endsWith('.part'))) {
      fired = true;
      onPart(child);
    }
  });
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; fired: boolean }>(
    (resolve) =>
      child.on('close', (code, signal) => {
        watcher.close();
        resolve({ code, signal, stderr, fired });
      }),
  );
}

/** Resolves once no process has `name` in its command line (the upload backend's copy helper), within 10 s. */
async function helperGone(name: string): Promise<void> {
  const running = () =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .some((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(name);
        } catch {
          return false; // gone meanwhile
        }
      });
  for (const started = Date.now(); running(); ) {
    if (Date.now() - started > 10_000) throw new Error(`a process copying ${name} is still running`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('interrupted uploads of a large file to a local target', () => {
  let big: string;
  beforeAll(() => {
    big = join(base, 'images', 'big.img');
    writeFileSync(big, randomBytes(384 * 1024 * 1024));
  });
  afterAll(() => rmSync(big, { force: true }));

  it('SIGINT in the middle of the copy: exit 130, no temp file, database and files unchanged', async () => {
    const before = await snapshot();
    const r = await uploadUntilTemp(big, (child) => child.kill('SIGINT'));
    expect(r.fired).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: aborting/);
    expect(readdirSync(join(www, 'images')).filter((n) => n.endsWith('.part'))).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });

  it('SIGKILL leaves a temp file; the next upload to the directory removes it once it is stale', async () => {
    const before = await snapshot();
    const r = await uploadUntilTemp(big, (child) => child.kill('SIGKILL'));
    expect(r.signal).toBe('SIGKILL');
    const images = join(www, 'images');
    const left = readdirSync(images).filter((n) => n.endsWith('.part'));
    expect(left).toHaveLength(1);
    // The kernel-copy helper of the killed upload sees its input pipe end and exits too (it would otherwise
    // go on writing the temp file).
    await helperGone(left[0]);
    expect(await snapshot()).toEqual({ ...before, files: treeDigest(www) });
    // A fresh leftover might belong to a running upload: kept. An hour later it is a leftover.
    const small = makeImage(join(base, 'images'), 'small.img', 1024 * 1024);
    const kept = await ok(s, ['--upload-image', small, '--select-image', s.image]);
    expect(kept.stderr).not.toMatch(/left behind/);
    expect(readdirSync(images)).toContain(left[0]);
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(images, left[0]), hourAgo, hourAgo);
    const swept = await ok(s, [
      '--upload-image',
      makeImage(join(base, 'images'), 'small2.img', 1024 * 1024),
      '--select-image',
      s.image,
    ]);
    expect(swept.stderr).toMatch(
      new RegExp(
        `warn: removed .*${left[0].replace(/\./g, '\\.')}, left behind by an upload that did not finish`,
      ),
    );
    expect(readdirSync(images).filter((n) => n.endsWith('.part'))).toEqual([]);
  });
});

describe('downloads get the same checks', () => {
  it('--download-imagelist of a list signed by someone else is 34 (file: hv:uri)', async () => {
    const dl = join(base, 'dl');
    mkdirSync(dl, { recursive: true });
    const id = randomUUID();
    const signedFile = join(dl, 'list.smime');
    writeFileSync(
      signedFile,
      signList(list(id, new Date(Date.now() - DAY), new Date(Date.now() + DAY)), eve),
    );
    const run = (args: string[]) =>
      vmcaster(args, { cwd: dl, env: { HOME: dl, VMCASTER_CA_DIR: pki.certDir } });
    expect((await run(['--add-imagelist', id])).code).toBe(0);
    expect(
      (
        await run([
          '--select-imagelist',
          id,
          '--key-set-imagelist',
          'hv:uri',
          '--key-value-imagelist',
          `file://${signedFile}`,
        ])
      ).code,
    ).toBe(0);
    const r = await run(['--select-imagelist', id, '--download-imagelist']);
    expect(r.code, r.stderr).toBe(34);
    writeFileSync(
      signedFile,
      signList(list(id, new Date(Date.now() - DAY), new Date(Date.now() + DAY)), pki.endorser),
    );
    const good = await run(['--select-imagelist', id, '--download-imagelist']);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/signed by \/C=DE\/O=GermanGrid\/OU=DESY\/CN=Owen Synge/);
  });
});
