// Large local copies in chunks (progress, abort) and the sweep of temp files left by killed uploads, on the
// local backend and on sftp against the real test sshd.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isUploadError, localBackend, sshBackend } from '../src/index.js';
import { SMALL_FILE_BYTES, SYNC_EVERY_BYTES } from '../src/backends/local.js';
import { env } from './env.js';

const root = await mkdtemp(join(tmpdir(), 'hepix-sweep-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const big = join(root, 'big.img');
writeFileSync(big, randomBytes(SMALL_FILE_BYTES + 9 * 1024 * 1024 + 123));

describe('local: a large file is copied in chunks', () => {
  it('reports progress chunk by chunk up to the size, and the copy is exact', async () => {
    const dest = join(root, 'copy', 'big.img');
    const seen: number[] = [];
    await localBackend({}).put(dest, big, { onProgress: (p) => seen.push(p.transferred) });
    const size = statSync(big).size;
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.at(-1)).toBe(size);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(sha(dest)).toBe(sha(big));
    expect(readdirSync(join(root, 'copy'))).toEqual(['big.img']);
  });

  it('stops at the next chunk when the signal fires, leaving the old file and no temp file', async () => {
    const dir = join(root, 'abort');
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, 'big.img');
    writeFileSync(dest, 'previous version');
    const ac = new AbortController();
    let progressAfterAbort = 0;
    const err = await localBackend({})
      .put(dest, big, {
        signal: ac.signal,
        onProgress: (p) => {
          if (ac.signal.aborted) progressAfterAbort++;
          if (p.transferred >= 16 * 1024 * 1024) ac.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(isUploadError(err, 'ERR_UPLOAD_ABORTED')).toBe(true);
    // At most the chunks in flight when it fired: one per copy lane (LANES = 4).
    expect(progressAfterAbort).toBeLessThanOrEqual(4);
    expect(readFileSync(dest, 'utf8')).toBe('previous version');
    expect(readdirSync(dir)).toEqual(['big.img']);
  });
});

describe('local: a copy larger than the background flush interval', () => {
  // Past SYNC_EVERY_BYTES an fdatasync runs beside the copy; the copy must stay exact, and an abort must wait for
  // that flush before closing and removing the temp file.
  const huge = join(root, 'huge.img');
  writeFileSync(huge, randomBytes(2 * SYNC_EVERY_BYTES + 5 * 1024 * 1024 + 7));

  it('copies it exactly with progress up to the size', async () => {
    const dest = join(root, 'huge', 'huge.img');
    const seen: number[] = [];
    await localBackend({}).put(dest, huge, { onProgress: (p) => seen.push(p.transferred) });
    expect(seen.at(-1)).toBe(statSync(huge).size);
    expect(sha(dest)).toBe(sha(huge));
    expect(readdirSync(join(root, 'huge'))).toEqual(['huge.img']);
  });

  it('aborted after a background flush began: old file kept, no temp file', async () => {
    const dir = join(root, 'huge-abort');
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, 'huge.img');
    writeFileSync(dest, 'previous version');
    const ac = new AbortController();
    const err = await localBackend({})
      .put(dest, huge, {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.transferred >= SYNC_EVERY_BYTES + 8 * 1024 * 1024) ac.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(isUploadError(err, 'ERR_UPLOAD_ABORTED')).toBe(true);
    expect(readFileSync(dest, 'utf8')).toBe('previous version');
    expect(readdirSync(dir)).toEqual(['huge.img']);
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
