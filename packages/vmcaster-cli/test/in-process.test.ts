// The library API and runCli in-process, against a real SQLite store and the real local upload backend.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import { createUploadFacade, parseUploadConfig } from '@hepix/upload-facade';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCompression } from '../src/compression.js';
import { runCli } from '../src/main.js';
import { uploadImage } from '../src/upload-image.js';
import { sha512File } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vmcaster-inproc-'));
const www = join(dir, 'www');
let store: Store;
const config = parseUploadConfig(
  `[t]\nserver = "img.example"\nprotocol = "local"\nuriMatch = "https://img.example/"\nuriReplace = ${JSON.stringify(`${www}/`)}\n`,
);

beforeAll(async () => {
  store = await openStore(`sqlite:///${join(dir, 'store.db')}`);
  await store.publisher.addImageList('L');
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newImage(format: string): Promise<string> {
  const id = randomUUID();
  await store.publisher.addImage(id, {
    'hv:uri': `https://img.example/images/${id}.img`,
    'hv:format': format,
  });
  await store.publisher.bindImage('L', id);
  return id;
}

describe('uploadImage compresses as hv:format asks, with the system bzip2 and xz', () => {
  const source = join(dir, 'disk.raw');
  beforeAll(() => writeFileSync(source, Buffer.concat([randomBytes(256 * 1024), Buffer.alloc(768 * 1024)])));
  for (const [format, kind, program] of [
    ['cpio.bz2', 'bzip2', 'bzip2'],
    ['raw.xz', 'xz', 'xz'],
    ['raw.gz', 'gzip', 'gzip'],
  ] as const) {
    it(`${format}`, async () => {
      const id = await newImage(format);
      const target = createUploadFacade({ config });
      const phases = new Set<string>();
      const at = new Date(Date.UTC(2030, 4, 6, 7, 8, 9));
      const r = await uploadImage({
        store: store.publisher,
        target,
        image: id,
        file: source,
        now: () => at,
        onProgress: (phase) => phases.add(phase),
      });
      await target.dispose();
      expect(r).toMatchObject({ changed: true, compressed: kind, version: '0.0.1' });
      expect(r.uri).toBe(`https://img.example/images/${id}_2030-05-06_07-08-09.${format}`);
      const published = join(www, 'images', `${id}_2030-05-06_07-08-09.${format}`);
      expect(sha512File(published)).toBe(r.sha512);
      expect(detectCompression(readFileSync(published).subarray(0, 8))).toBe(kind);
      const back = spawnSync(program, ['-dc', published]);
      expect(Buffer.compare(back.stdout, readFileSync(source))).toBe(0);
      expect([...phases]).toEqual(['compress', 'upload']);
      const stored = await store.publisher.getImage(id);
      expect(stored?.metadata).toMatchObject({
        'hv:uri': r.uri,
        'hv:size': String(r.size),
        'sl:checksum:sha512': r.sha512,
        'hv:version': '0.0.1',
      });
    });
  }
  it('refuses a file compressed differently from hv:format', async () => {
    const id = await newImage('raw.xz');
    const gz = join(dir, 'disk.gz');
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]));
    await expect(
      uploadImage({ store: store.publisher, target: createUploadFacade({ config }), image: id, file: gz }),
    ).rejects.toMatchObject({ code: 'ERR_VMCASTER_FORMAT' });
    expect((await store.publisher.getImage(id))?.metadata['hv:version']).toBeUndefined();
  });
});

describe('runCli', () => {
  function io(extra: { tty?: boolean; env?: Record<string, string> } = {}) {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: {
        stdout: (t: string) => out.push(t),
        stderr: (t: string) => err.push(t),
        env: { HOME: dir, VMCASTER_RDBMS: `sqlite:///${join(dir, 'cli.db')}`, ...(extra.env ?? {}) },
        stderrIsTTY: extra.tty ?? false,
        stdinIsTTY: false,
      },
    };
  }
  it('draws a progress bar on a terminal only', async () => {
    writeFileSync(
      join(dir, 'cli.cfg'),
      `[t]\nserver = "img.example"\nprotocol = "local"\nuriMatch = "https://img.example/"\nuriReplace = ${JSON.stringify(`${www}/`)}\n`,
    );
    const file = join(dir, 'p.img');
    writeFileSync(file, randomBytes(3 * 1024 * 1024));
    const env = { VMCASTER_CFG: join(dir, 'cli.cfg') };
    for (const args of [
      ['--add-imagelist', 'P'],
      ['image', 'add', 'I'],
      ['imagelist', 'bind-image', 'P', 'I'],
      ['image', 'set', 'I', 'hv:uri', 'https://img.example/i.img'],
    ]) {
      const c = io({ env });
      expect(await runCli(args, c.io), c.err.join('')).toBe(0);
    }
    const tty = io({ tty: true, env });
    expect(await runCli(['--upload-image', file, '--select-image', 'I'], tty.io), tty.err.join('')).toBe(0);
    expect(tty.err.join('')).toMatch(/\rupload +\[#+\] 100% 3\.0\/3\.0 MiB/);
    writeFileSync(file, randomBytes(3 * 1024 * 1024));
    const pipe = io({ env });
    expect(await runCli(['--upload-image', file, '--select-image', 'I'], pipe.io)).toBe(0);
    expect(pipe.err.join('')).not.toMatch(/\r/);
  });
  it('help, version, usage errors', async () => {
    const h = io();
    expect(await runCli(['--help'], h.io)).toBe(0);
    expect(h.out.join('')).toMatch(/--upload-imagelist/);
    const m = io();
    expect(await runCli(['image', 'upload', '--help'], m.io)).toBe(0);
    expect(m.out.join('')).toMatch(/--image/);
    const v = io();
    expect(await runCli(['--version'], v.io)).toBe(0);
    expect(v.out.join('')).toMatch(/^\d+\.\d+\.\d+\n$/);
    const u = io();
    expect(await runCli(['--bogus'], u.io)).toBe(2);
    expect(u.err.join('')).toMatch(/unknown option --bogus/);
    const n = io();
    expect(await runCli(['image', 'frobnicate'], n.io)).toBe(2);
  });
  it('--json on listings and shows', async () => {
    const c = io();
    expect(await runCli(['--add-endorser', '/C=DE/CN=A'], c.io)).toBe(0);
    const l = io();
    expect(await runCli(['--list-endorser', '--json'], l.io)).toBe(0);
    expect(JSON.parse(l.out.join(''))).toEqual(['/C=DE/CN=A']);
    const s = io();
    expect(await runCli(['endorser', 'show', '/C=DE/CN=A', '--json'], s.io)).toBe(0);
    expect(JSON.parse(s.out.join(''))).toMatchObject({ 'hv:dn': '/C=DE/CN=A', imageLists: [] });
    const d = io();
    expect(await runCli(['--add-endorser', '/C=DE/CN=A'], d.io)).toBe(4);
  });
});

describe('fetchList (for --download-imagelist)', () => {
  let pkiDir: string;
  let server: import('node:https').Server;
  let port = 0;
  beforeAll(async () => {
    const { makePki } = await import('@hepix/test-support');
    const { createServer } = await import('node:https');
    pkiDir = join(dir, 'fetch-pki');
    makePki(pkiDir);
    server = createServer(
      {
        cert: readFileSync(join(pkiDir, 'server/cert.pem')),
        key: readFileSync(join(pkiDir, 'server/key.pem')),
      },
      (req, res) => {
        if (req.url === '/list.smime') res.writeHead(200).end('signed bytes');
        else if (req.url === '/moved') res.writeHead(302, { location: '/list.smime' }).end();
        else res.writeHead(404).end();
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('https with the server verified against the given CA, following redirects', async () => {
    const { fetchList } = await import('../src/import.js');
    const tlsCa = readFileSync(join(pkiDir, 'ca/ca.pem'), 'utf8');
    expect(Buffer.from(await fetchList(`https://127.0.0.1:${port}/moved`, { tlsCa })).toString()).toBe(
      'signed bytes',
    );
    // Unknown CA: refused.
    await expect(fetchList(`https://127.0.0.1:${port}/list.smime`)).rejects.toMatchObject({
      code: 'ERR_VMCASTER_DOWNLOAD',
    });
    await expect(fetchList(`https://127.0.0.1:${port}/missing`, { tlsCa })).rejects.toThrow(
      /HTTP status 404/,
    );
    await expect(fetchList('ftp://example.org/x')).rejects.toThrow(/Invalid protocol/);
  });
  it('file URLs', async () => {
    const { fetchList } = await import('../src/import.js');
    const f = join(dir, 'local.smime');
    writeFileSync(f, 'local bytes');
    expect(Buffer.from(await fetchList(`file://${f}`)).toString()).toBe('local bytes');
  });
});
