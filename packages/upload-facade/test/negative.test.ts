import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createUploadFacade,
  httpBackend,
  isUploadError,
  parseUploadConfig,
  sshBackend,
  type UploadBackend,
  UploadError,
} from '../src/index.js';
import { env } from './env.js';
import { exists } from './helpers.js';
import { issueCert, makePki, type TestPki } from '@hepix/test-support';
import { cuttingProxy } from './proxy.js';

const sshHost = env('TEST_SSH_HOST');
const sshPort = Number(env('TEST_SSH_PORT'));
const sshUser = env('TEST_SSH_USER');
const sshKey = env('TEST_SSH_KEY');
const knownHosts = env('TEST_SSH_KNOWN_HOSTS');
const sshRoot = join(env('TEST_SSH_ROOT'), `negative-${process.pid}`);
const davUrl = env('TEST_DAV_URL');
const davCa = env('TEST_DAV_CA');
const davDir = `negative-${process.pid}`;
const davRoot = join(env('TEST_DAV_ROOT'), davDir);

let pki: TestPki;
beforeAll(async () => {
  await mkdir(sshRoot, { recursive: true });
  await mkdir(davRoot, { recursive: true });
  await mkdir(join(davRoot, 'cut'), { recursive: true });
  pki = await makePki();
}, 60_000);
afterAll(async () => {
  await rm(sshRoot, { recursive: true, force: true });
  await rm(davRoot, { recursive: true, force: true });
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<UploadError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UploadError);
    return err as UploadError;
  }
  throw new Error('expected the operation to fail');
}

async function withBackend<T>(b: UploadBackend, fn: (b: UploadBackend) => Promise<T>): Promise<T> {
  try {
    return await fn(b);
  } finally {
    await b.dispose?.();
  }
}

const body = () => Readable.from([Buffer.from('payload')]);
const sshTarget = (name: string, port = sshPort) => `sftp://${sshUser}@${sshHost}:${port}${sshRoot}/${name}`;

describe('ssh host keys', () => {
  it('refuses an unknown host and writes nothing', async () => {
    const empty = join(sshRoot, 'empty_known_hosts');
    await writeFile(empty, '# nothing here\n');
    const err = await withBackend(
      sshBackend({ options: { identityFile: sshKey, knownHosts: empty, agent: false } }),
      (b) => rejection(b.put(sshTarget('unknown.bin'), body())),
    );
    expect(err.code).toBe('ERR_UPLOAD_HOST_KEY');
    expect(err.message).toMatch(/is not in .*empty_known_hosts \(key SHA256:/);
    expect(await exists(join(sshRoot, 'unknown.bin'))).toBe(false);
  });

  it('refuses when known_hosts is missing, unless allowUnknownHost is set', async () => {
    const missing = join(sshRoot, 'no-such-known-hosts');
    const err = await withBackend(
      sshBackend({ options: { identityFile: sshKey, knownHosts: missing, agent: false } }),
      (b) => rejection(b.put(sshTarget('missing.bin'), body())),
    );
    expect(err.code).toBe('ERR_UPLOAD_HOST_KEY');
    const warnings: string[] = [];
    await withBackend(
      sshBackend({
        options: { identityFile: sshKey, knownHosts: missing, agent: false, allowUnknownHost: true },
        log: (_l, m) => warnings.push(m),
      }),
      (b) => b.put(sshTarget('allowed.bin'), body()),
    );
    expect(await readFile(join(sshRoot, 'allowed.bin'), 'utf8')).toBe('payload');
    expect(warnings.join('\n')).toMatch(/accepting unknown host key SHA256:/);
  });

  it('refuses a changed host key (a known_hosts entry with another key)', async () => {
    const other = join(sshRoot, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const pub = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    const kh = join(sshRoot, 'changed_known_hosts');
    await writeFile(kh, `[${sshHost}]:${sshPort} ${pub}\n`);
    const err = await withBackend(
      sshBackend({ options: { identityFile: sshKey, knownHosts: kh, agent: false } }),
      (b) => rejection(b.put(sshTarget('changed.bin'), body())),
    );
    expect(err.code).toBe('ERR_UPLOAD_HOST_KEY');
    expect(err.message).toMatch(/HOST KEY MISMATCH/);
    // allowUnknownHost never covers a changed key
    const again = await withBackend(
      sshBackend({ options: { identityFile: sshKey, knownHosts: kh, agent: false, allowUnknownHost: true } }),
      (b) => rejection(b.put(sshTarget('changed.bin'), body())),
    );
    expect(again.code).toBe('ERR_UPLOAD_HOST_KEY');
    expect(await exists(join(sshRoot, 'changed.bin'))).toBe(false);
  });

  it('accepts a hashed known_hosts entry (ssh-keygen -H)', async () => {
    const kh = join(sshRoot, 'hashed_known_hosts');
    await writeFile(kh, readFileSync(knownHosts));
    execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
    expect(readFileSync(kh, 'utf8')).toMatch(/^\|1\|/);
    await withBackend(sshBackend({ options: { identityFile: sshKey, knownHosts: kh, agent: false } }), (b) =>
      b.put(sshTarget('hashed.bin'), body()),
    );
    expect(await readFile(join(sshRoot, 'hashed.bin'), 'utf8')).toBe('payload');
  });

  it('authenticates through an ssh-agent', async () => {
    const sock = join(sshRoot, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && !(await exists(sock)); i++) await new Promise((r) => setTimeout(r, 50));
      execFileSync('ssh-add', [sshKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      // no identity file given: the agent holds the only key the server accepts
      await withBackend(
        sshBackend({ options: { identityFile: undefined, agent: sock, knownHosts }, protocol: 'sftp' }),
        (b) => b.put(sshTarget('agent.bin'), body()),
      );
      expect(await readFile(join(sshRoot, 'agent.bin'), 'utf8')).toBe('payload');
    } finally {
      agent.kill();
    }
  });

  it('reports a key the server does not accept as ERR_UPLOAD_AUTH', async () => {
    const stranger = join(sshRoot, 'stranger_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const err = await withBackend(
      sshBackend({ options: { identityFile: stranger, knownHosts, agent: false } }),
      (b) => rejection(b.put(sshTarget('stranger.bin'), body())),
    );
    expect(err.code).toBe('ERR_UPLOAD_AUTH');
  });
});

describe('TLS', () => {
  it('a client certificate with the key of another is ERR_UPLOAD_AUTH when the backend is made, before any request', () => {
    const other = issueCert(pki, 'other-client', '/CN=other.example.org', 'san:DNS:other.example.org');
    let thrown: unknown;
    try {
      httpBackend({ options: { cert: pki.server.cert, key: other.key } });
    } catch (err) {
      thrown = err;
    }
    expect(isUploadError(thrown, 'ERR_UPLOAD_AUTH')).toBe(true);
    expect((thrown as Error).message).toMatch(/cannot use the client certificate .* with its key/);
  });

  it('refuses nginx when its CA is not trusted', async () => {
    const err = await withBackend(httpBackend({ options: {} }), (b) =>
      rejection(b.put(`${davUrl}${davDir}/x.bin`, body())),
    );
    expect(err.code).toBe('ERR_UPLOAD_TLS');
    expect(await exists(join(davRoot, 'x.bin'))).toBe(false);
  });

  it('refuses a certificate that does not match the host, even from a trusted CA', async () => {
    const wrong = issueCert(pki, 'wrong', '/CN=wrong.example.org', 'san:DNS:wrong.example.org');
    let requests = 0;
    const server = createServer(
      { cert: readFileSync(wrong.cert), key: readFileSync(wrong.key) },
      (req, res) => {
        requests++;
        req.resume();
        req.on('end', () => res.writeHead(201).end());
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const err = await withBackend(httpBackend({ options: { ca: pki.ca.cert, mkcol: false } }), (b) =>
        rejection(b.put(`https://127.0.0.1:${port}/x.bin`, body())),
      );
      expect(err.code).toBe('ERR_UPLOAD_TLS');
      expect(err.message).toMatch(/127\.0\.0\.1|altname|wrong\.example\.org/i);
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });

  it('refuses http:// targets and redirects to http, follows redirects to https', async () => {
    await withBackend(httpBackend({ options: { ca: davCa } }), async (b) => {
      expect(
        (await rejection(b.put(davUrl.replace('https:', 'http:') + `${davDir}/p.bin`, body()))).code,
      ).toBe('ERR_UPLOAD_TLS');
      const origin = new URL(davUrl).origin;
      const toHttp = await rejection(b.put(`${origin}/to-http/${davDir}/r.bin`, body()));
      expect(toHttp.code).toBe('ERR_UPLOAD_TLS');
      expect(toHttp.message).toMatch(/refusing redirect/);
      const file = join(davRoot, 'local-source.bin');
      await writeFile(file, 'from a file');
      await b.put(`${origin}/to-https/${davDir}/redirected.bin`, file);
      expect(await readFile(join(davRoot, 'redirected.bin'), 'utf8')).toBe('from a file');
      // Expect: 100-continue lets the server redirect before a stream body is sent, so a stream follows too
      await b.put(
        `${origin}/to-https/${davDir}/redirected-stream.bin`,
        Readable.from([Buffer.from('from a stream')]),
      );
      expect(await readFile(join(davRoot, 'redirected-stream.bin'), 'utf8')).toBe('from a stream');
    });
  });

  it('maps a missing client certificate at an mTLS door to ERR_UPLOAD_AUTH', async () => {
    const err = await withBackend(httpBackend({ options: { ca: davCa, mkcol: false } }), (b) =>
      rejection(b.put(`${env('TEST_DAV_MTLS_URL')}${davDir}/m.bin`, body())),
    );
    expect(err.code).toBe('ERR_UPLOAD_AUTH');
  });
});

describe('a server that closes the connection mid-upload', () => {
  const size = 8 * 1024 * 1024;
  const big = () =>
    Readable.from(
      (function* () {
        for (let i = 0; i < size / 65536; i++) yield Buffer.alloc(65536, i & 0xff);
      })(),
    );

  it('http: clear error, no file at the final name (previous version kept)', async () => {
    const port = Number(new URL(davUrl).port);
    const proxy = await cuttingProxy(port, 1024 * 1024);
    await writeFile(join(davRoot, 'cut/image.img'), 'previous version');
    try {
      for (const protocol of ['http', 'webdav']) {
        const err = await withBackend(httpBackend({ protocol, options: { ca: davCa, mkcol: false } }), (b) =>
          rejection(b.put(`https://127.0.0.1:${proxy.port}/dav/${davDir}/cut/image.img`, big(), { size })),
        );
        expect(err.code).toBe('ERR_UPLOAD_FAILED');
        expect(err.message).toMatch(
          /PUT https:\/\/127\.0\.0\.1:\d+\/dav\/.*failed: the server closed the connection/,
        );
        expect(await readFile(join(davRoot, 'cut/image.img'), 'utf8')).toBe('previous version');
        await new Promise((r) => setTimeout(r, 200));
        expect(await readdir(join(davRoot, 'cut'))).toEqual(['image.img']);
      }
    } finally {
      await proxy.close();
    }
  });

  it('sftp: clear error, no file at the final name', async () => {
    const proxy = await cuttingProxy(sshPort, 1024 * 1024);
    const kh = join(sshRoot, 'proxy_known_hosts');
    const key = readFileSync(knownHosts, 'utf8').trim().split(' ').slice(1).join(' ');
    await writeFile(kh, `[127.0.0.1]:${proxy.port} ${key}\n`);
    await mkdir(join(sshRoot, 'cut'), { recursive: true });
    await writeFile(join(sshRoot, 'cut/image.img'), 'previous version');
    try {
      const err = await withBackend(
        sshBackend({ options: { identityFile: sshKey, knownHosts: kh, agent: false } }),
        (b) => rejection(b.put(sshTarget('cut/image.img', proxy.port), big(), { size })),
      );
      expect(err.code).toBe('ERR_UPLOAD_FAILED');
      expect(err.message).toMatch(/connection to 127\.0\.0\.1 lost while uploading sftp:/);
      expect(await readFile(join(sshRoot, 'cut/image.img'), 'utf8')).toBe('previous version');
    } finally {
      await proxy.close();
    }
  });
});

describe('facade with the original scp configuration form', () => {
  it('uploads and deletes through `uriReplace = "user@host:/dir/"`', async () => {
    const cfg = parseUploadConfig(
      [
        '[foo]',
        'server = "gridvirt.example.org"',
        'protocol = "scp"',
        'uriMatch = "https://gridvirt.example.org/"',
        `uriReplace = ${JSON.stringify(`${sshUser}@${sshHost}:${sshRoot}/www/`)}`,
        `port = ${sshPort}`,
        `identityFile = ${JSON.stringify(sshKey)}`,
        `knownHosts = ${JSON.stringify(knownHosts)}`,
        'agent = false',
      ].join('\n'),
      'vmcaster.cfg',
    );
    const f = createUploadFacade({ config: cfg });
    try {
      const uri = 'https://gridvirt.example.org/images/uuid_2026-11-22.img.gz';
      expect(f.resolve(uri).target).toBe(
        `${sshUser}@${sshHost}:${sshRoot}/www/images/uuid_2026-11-22.img.gz`,
      );
      const progress: number[] = [];
      await f.put(uri, Readable.from([Buffer.alloc(300_000, 7)]), {
        size: 300_000,
        onProgress: (p) => progress.push(p.transferred),
      });
      expect((await readFile(join(sshRoot, 'www/images/uuid_2026-11-22.img.gz'))).length).toBe(300_000);
      expect(progress.at(-1)).toBe(300_000);
      expect((await f.stat(uri))?.size).toBe(300_000);
      // the original appended the whole `user@host:` target after the prefix path here; we delete the file itself
      await f.delete(uri);
      expect(await exists(join(sshRoot, 'www/images/uuid_2026-11-22.img.gz'))).toBe(false);
      expect((await rejection(f.put('https://gridvirt.example.org/../../etc/x', body()))).code).toBe(
        'ERR_UPLOAD_TARGET',
      );
    } finally {
      await f.dispose();
    }
  });
});
