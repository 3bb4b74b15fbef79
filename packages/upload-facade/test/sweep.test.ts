// Large local copies by the kernel in a helper process (progress, abort, failures) and the sweep of temp files
// left by killed uploads, on the local backend and on sftp against the real test sshd.
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isUploadError, localBackend, sshBackend } from '../src/index.js';
import { SMALL_FILE_BYTES } from '../src/backends/local.js';
import { env } from './env.js';

const root = await mkdtemp(join(tmpdir(), 'hepix-sweep-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const big = join(root, 'big.img');
writeFileSync(big, randomBytes(SMALL_FILE_BYTES + 9 * 1024 * 1024 + 123));

describe('local: a large file is copied by the kernel in a helper process', () => {
  it('reports progress from 0 up to the size, and the copy is exact and durable', async () => {
    const dest = join(root, 'copy', 'big.img');
    const seen: number[] = [];
    await localBackend({}).put(dest, big, { onProgress: (p) => seen.push(p.transferred) });
    const size = statSync(big).size;
    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(size);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(sha(dest)).toBe(sha(big));
    expect(statSync(dest).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(root, 'copy'))).toEqual(['big.img']);
  });

  // The signal fires while the helper starts (at the first progress report) and once the copy is done
  // (the last one: the helper is in its fsync, which is not waited for).
  for (const [when, fire] of [
    ['during the copy', (t: number) => t === 0],
    ['during the final fsync', (t: number) => t === statSync(big).size],
  ] as const) {
    it(`aborted ${when}: the helper is killed, the old file is kept and no temp file is left`, async () => {
      const dir = join(root, `abort-${when.replaceAll(' ', '-')}`);
      mkdirSync(dir, { recursive: true });
      const dest = join(dir, 'big.img');
      writeFileSync(dest, 'previous version');
      const ac = new AbortController();
      const err = await localBackend({})
        .put(dest, big, { signal: ac.signal, onProgress: (p) => fire(p.transferred) && ac.abort() })
        .catch((e: unknown) => e);
      expect(isUploadError(err, 'ERR_UPLOAD_ABORTED')).toBe(true);
      expect(ac.signal.aborted).toBe(true);
      expect(readFileSync(dest, 'utf8')).toBe('previous version');
      expect(readdirSync(dir)).toEqual(['big.img']);
    });
  }

  it('a source removed before the helper reads it: ERR_UPLOAD_FAILED with the reason, no temp file', async () => {
    const dir = join(root, 'gone');
    mkdirSync(dir, { recursive: true });
    const source = join(dir, 'source.img');
    copyFileSync(big, source);
    const err = await localBackend({})
      .put(join(dir, 'out', 'big.img'), source, {
        onProgress: (p) => p.transferred === 0 && unlinkSync(source),
      })
      .catch((e: unknown) => e);
    expect(isUploadError(err, 'ERR_UPLOAD_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/copying .*source\.img failed: .*no such file/i);
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });

  it('a source that grows before the helper copies it: ERR_UPLOAD_FAILED (changed size), no temp file', async () => {
    const dir = join(root, 'grows');
    mkdirSync(dir, { recursive: true });
    const source = join(dir, 'source.img');
    copyFileSync(big, source);
    const err = await localBackend({})
      .put(join(dir, 'out', 'big.img'), source, {
        onProgress: (p) => p.transferred === 0 && appendFileSync(source, 'more'),
      })
      .catch((e: unknown) => e);
    expect(isUploadError(err, 'ERR_UPLOAD_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/changed size while it was copied/);
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });
});

/** Leftovers in `dir`: one stale temp (removed), and what a sweep must keep. */
function plantLeftovers(
  dir: string,
  touch: (name: string, ageS: number) => void,
): { stale: string; kept: string[] } {
  const stale = '.image_2030-01-01_00-00-00.raw.gz.0123456789ab.part';
  const kept = [
    '.image_2030-01-01_00-00-01.raw.gz.abcdef012345.part', // fresh: an upload may be writing it
    '.other.ABCDEF012345.part', // not the exact pattern (upper-case hex)
    '.other.0123456789a.part', // 11 hex digits
    'visible.0123456789ab.part', // not hidden
    '.notes.part',
    'image.raw.gz',
  ];
  for (const name of [stale, ...kept]) writeFileSync(join(dir, name), 'x');
  touch(stale, 2 * 3600);
  for (const name of kept.slice(1)) touch(name, 2 * 3600);
  mkdirSync(join(dir, '.dir.0123456789ab.part')); // a directory with the name: not a file, kept
  touch('.dir.0123456789ab.part', 2 * 3600);
  return { stale, kept: [...kept, '.dir.0123456789ab.part'] };
}

const age = (dir: string) => (name: string, ageS: number) => {
  const t = new Date(Date.now() - ageS * 1000);
  utimesSync(join(dir, name), t, t);
};

describe('temp files of killed uploads are swept on the next upload to the directory', () => {
  it('local: exactly the stale temp files of the tempName pattern', async () => {
    const dir = join(root, 'sweep-local');
    mkdirSync(dir, { recursive: true });
    const { stale, kept } = plantLeftovers(dir, age(dir));
    const logs: string[] = [];
    await localBackend({ log: (_l, m) => logs.push(m) }).put(join(dir, 'new.img'), big);
    expect(readdirSync(dir).sort()).toEqual([...kept, 'new.img'].sort());
    expect(logs.some((m) => m.includes(stale))).toBe(true);
  });

  it('local: staleTempAge 0 turns the sweep off; a smaller age sweeps younger files', async () => {
    const dir = join(root, 'sweep-off');
    mkdirSync(dir, { recursive: true });
    const { stale } = plantLeftovers(dir, age(dir));
    await localBackend({ options: { staleTempAge: 0 } }).put(join(dir, 'a.img'), big);
    expect(readdirSync(dir)).toContain(stale);
    age(dir)(stale, 120);
    await localBackend({ options: { staleTempAge: 3600 } }).put(join(dir, 'b.img'), big);
    expect(readdirSync(dir)).toContain(stale);
    await localBackend({ options: { staleTempAge: 60 } }).put(join(dir, 'c.img'), big);
    expect(readdirSync(dir)).not.toContain(stale);
  });

  it('sftp (real OpenSSH): the same rule through SFTP', async () => {
    const base = join(env('TEST_SSH_ROOT'), `sweep-test-${process.pid}`);
    mkdirSync(base, { recursive: true });
    try {
      const { stale, kept } = plantLeftovers(base, age(base));
      const logs: string[] = [];
      const backend = sshBackend({
        protocol: 'sftp',
        options: { identityFile: env('TEST_SSH_KEY'), knownHosts: env('TEST_SSH_KNOWN_HOSTS'), agent: false },
        log: (_l, m) => logs.push(m),
      });
      try {
        await backend.put(
          `sftp://${env('TEST_SSH_USER')}@${env('TEST_SSH_HOST')}:${env('TEST_SSH_PORT')}${base}/new.img`,
          big,
        );
      } finally {
        await backend.dispose?.();
      }
      expect(readdirSync(base).sort()).toEqual([...kept, 'new.img'].sort());
      expect(logs.some((m) => m.includes(stale))).toBe(true);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
