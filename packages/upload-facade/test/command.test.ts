import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { commandBackend, createUploadFacade, parseUploadConfig, UploadError } from '../src/index.js';
import { testBackend } from '../src/testing.js';
import { exists } from './helpers.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const root = await mkdtemp(join(tmpdir(), 'hepix-command-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const read = async (rel: string) =>
  (await exists(join(root, rel))) ? createReadStream(join(root, rel)) : undefined;
const list = (rel: string) => readdir(join(root, rel)).then((n) => n.sort());

testBackend({
  name: 'command (argv template running a copy script, no shell)',
  create: () =>
    commandBackend({
      protocol: 'command',
      options: {
        argv: [join(fixtures, 'copy.sh'), '{local}', '{remote}'],
        deleteArgv: ['rm', '-f', '--', '{remote}'],
        atomic: true,
      },
    }),
  target: (rel) => `${root}/${rel}`,
  read,
  list,
  bigSize: 64 * 1024 * 1024,
});

describe('command backend', () => {
  it('passes hostile-looking but legal names as one argv element, never through a shell', async () => {
    const b = commandBackend({ options: { argv: [join(fixtures, 'copy.sh'), '{local}', '{remote}'] } });
    const name = `x $(touch ${root}/pwned) ; y'"\`.bin`;
    await b.put(`${root}/${name}`, Readable.from([Buffer.from('ok')]));
    expect(await readFile(join(root, name), 'utf8')).toBe('ok');
    expect(await exists(join(root, 'pwned'))).toBe(false);
  });

  it('reports the exit code and output of a failing command', async () => {
    const b = commandBackend({
      options: { argv: ['sh', '-c', 'echo "no space left" >&2; exit 7', 'sh', '{local}', '{remote}'] },
    });
    const err = await b.put(`${root}/fail.bin`, Readable.from([Buffer.from('x')])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect(err).toMatchObject({ code: 'ERR_UPLOAD_FAILED', status: 7 });
    expect((err as Error).message).toContain('no space left');
  });

  it('kills a command that exceeds its timeout', async () => {
    const b = commandBackend({
      options: { argv: ['sh', '-c', 'sleep 30', 'sh', '{local}', '{remote}'], timeout: 300 },
    });
    const t0 = Date.now();
    await expect(b.put(`${root}/slow.bin`, Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
      code: 'ERR_UPLOAD_FAILED',
      message: expect.stringContaining('timed out'),
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('kills a running command on abort', async () => {
    const b = commandBackend({ options: { argv: ['sh', '-c', 'sleep 30', 'sh', '{local}', '{remote}'] } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await expect(
      b.put(`${root}/aborted.bin`, Readable.from([Buffer.from('x')]), { signal: ac.signal }),
    ).rejects.toMatchObject({ code: 'ERR_UPLOAD_ABORTED' });
  });

  it('refuses a target that would read as an option', async () => {
    const b = commandBackend({ options: { argv: ['cp', '{local}', '{remote}'] } });
    await expect(b.put('-rf', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
      code: 'ERR_UPLOAD_TARGET',
    });
  });

  it('requires {local} and {remote} in argv', () => {
    expect(() => commandBackend({ options: { argv: ['cp', '{local}'] } })).toThrow(
      expect.objectContaining({ code: 'ERR_UPLOAD_CONFIG', key: 'argv' }),
    );
    expect(() => commandBackend({ options: {} })).toThrow(
      expect.objectContaining({ code: 'ERR_UPLOAD_CONFIG' }),
    );
  });

  it('runs the gsidcap preset as `dccp -C 3000 -d 2 -A LOCAL REMOTE` for the README config', async () => {
    const dcache = await mkdtemp(join(tmpdir(), 'hepix-dcache-'));
    try {
      const cfg = parseUploadConfig(`
   [dish.desy.de]
   server = "dish.desy.de"
   writeprotocol = "gsidcap"
   uriMatch = "https://dish.desy.de:2880/"
   uriReplace = "gsidcap://dcache-desy-gsidcap.desy.de:22128/pnfs/desy.de/desy/vmimages/"
   deleteArgv = ["rm", "-f", "{remote}"]
   deleteBeforePut = false
`);
      const warnings: string[] = [];
      const f = createUploadFacade({
        config: cfg,
        backendOptions: { env: { PATH: `${fixtures}:${process.env.PATH}`, FAKE_DCACHE_ROOT: dcache } },
        log: (level, msg) => level === 'warn' && warnings.push(msg),
      });
      const local = join(dcache, 'list.smime');
      await writeFile(local, 'signed list');
      expect(f.resolve('https://dish.desy.de:2880/lists/desy.list').target).toBe(
        'gsidcap://dcache-desy-gsidcap.desy.de:22128/pnfs/desy.de/desy/vmimages/lists/desy.list',
      );
      await f.put('https://dish.desy.de:2880/lists/desy.list', local);
      expect(await readFile(join(dcache, 'pnfs/desy.de/desy/vmimages/lists/desy.list'), 'utf8')).toBe(
        'signed list',
      );
      expect(warnings.join('\n')).toMatch(/writeprotocol.*deprecated/);
      await f.dispose();
    } finally {
      await rm(dcache, { recursive: true, force: true });
    }
  });
});
