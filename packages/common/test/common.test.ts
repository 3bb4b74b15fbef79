import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  asctime,
  atomicWriteFile,
  chunks,
  delay,
  errorCodeOf,
  escapeControl,
  formatJsonRecord,
  formatPythonRecord,
  HepixError,
  hashFile,
  isHepixError,
  type LogFields,
  type LogLevel,
  mapLimit,
  openExclusive,
  sameBytes,
  sha512Hex,
  utcStamp,
  withFields,
} from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hepix-common-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HepixError', () => {
  class DemoError extends HepixError<'ERR_DEMO_A' | 'ERR_DEMO_B'> {
    override readonly name = 'DemoError';
  }
  it('keeps code, message and cause, and is recognised across packages', () => {
    const cause = new Error('low level');
    const e = new DemoError('ERR_DEMO_A', 'it failed', { cause });
    expect(e).toBeInstanceOf(Error);
    expect(isHepixError(e)).toBe(true);
    expect(e.code).toBe('ERR_DEMO_A');
    expect(e.message).toBe('it failed');
    expect(e.cause).toBe(cause);
    expect(e.name).toBe('DemoError');
    expect(isHepixError(new Error('x'))).toBe(false);
  });
  it('finds the first code in a cause chain', () => {
    const inner = Object.assign(new Error('tls'), { code: 'CERT_HAS_EXPIRED' });
    expect(errorCodeOf(new Error('outer', { cause: inner }))).toBe('CERT_HAS_EXPIRED');
    expect(errorCodeOf(new Error('none'))).toBeUndefined();
  });
});

describe('log formatting', () => {
  const time = new Date('2026-12-01T15:23:49.123Z');
  it('renders Python logging format strings in UTC', () => {
    const rec = {
      time,
      level: 'warn' as LogLevel,
      message: 'Signature validation failed',
      fields: { subscription: 'abc', uri: 'https://x/l', name: 'sub' },
    };
    expect(formatPythonRecord(rec)).toBe('WARNING:sub:Signature validation failed');
    expect(formatPythonRecord(rec, '%(asctime)s %(levelname)-8s %(name)s %(message)s')).toBe(
      '2026-12-01 15:23:49,123 WARNING  sub Signature validation failed',
    );
    expect(formatPythonRecord(rec, '%(asctime)s [%(context)s] %(message)s', '%Y-%m-%dT%H:%M:%SZ')).toBe(
      '2026-12-01T15:23:49Z [subscription=abc uri=https://x/l] Signature validation failed',
    );
    expect(formatPythonRecord(rec, '%(levelno)03d %(subscription)s 100%%')).toBe('030 abc 100%');
  });
  it('escapes control characters so that a value cannot forge a line', () => {
    const rec = {
      time,
      level: 'info' as LogLevel,
      message: 'title\nERROR:main:forged\tx\u001b[31m',
      fields: { image: 'a\nb' },
    };
    const line = formatPythonRecord(rec, '%(message)s %(context)s');
    expect(line).toBe('title\\nERROR:main:forged\\tx\\x1b[31m image=a\\nb');
    expect(line).not.toMatch(/[\n\t\u001b]/);
    expect(escapeControl('ok\u2028x\u0085')).toBe('ok\\x2028x\\x85');
  });
  it('writes one JSON object per line', () => {
    const line = formatJsonRecord({
      time,
      level: 'error',
      message: 'a\nb\u2028',
      fields: { name: 'db', code: 'ERR_X' },
    });
    expect(line.includes('\n')).toBe(false);
    expect(JSON.parse(line)).toEqual({
      time: '2026-12-01T15:23:49.123Z',
      level: 'error',
      name: 'db',
      message: 'a\nb\u2028',
      code: 'ERR_X',
    });
  });
  it('asctime follows datefmt', () => {
    expect(asctime(time)).toBe('2026-12-01 15:23:49,123');
    expect(asctime(time, '%d/%b/%Y:%H:%M:%S %z')).toBe('01/Dec/2026:15:23:49 +0000');
  });
  it('withFields adds context to every line, the caller’s fields winning', () => {
    const lines: [LogLevel, string, LogFields | undefined][] = [];
    const log = withFields((l, m, f) => lines.push([l, m, f]), { subscription: 's', name: 'sub' });
    log('info', 'one');
    log('warn', 'two', { image: 'i', name: 'cache' });
    expect(lines).toEqual([
      ['info', 'one', { subscription: 's', name: 'sub' }],
      ['warn', 'two', { subscription: 's', name: 'cache', image: 'i' }],
    ]);
  });
});

describe('atomicWriteFile', () => {
  it('replaces the file, leaves no temporary file and applies the mode', async () => {
    const path = join(dir, 'cache.index');
    await writeFile(path, 'old');
    await atomicWriteFile(path, 'new content', { mode: 0o600 });
    expect(await readFile(path, 'utf8')).toBe('new content');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['cache.index']);
  });
  it('replaces a planted symbolic link instead of writing through it', async () => {
    const outside = join(dir, 'outside');
    await writeFile(outside, 'precious');
    const path = join(dir, 'target');
    await symlink(outside, path);
    await atomicWriteFile(path, 'data');
    expect(await readFile(outside, 'utf8')).toBe('precious');
    expect((await lstat(path)).isSymbolicLink()).toBe(false);
  });
  it('openExclusive refuses an existing file and a link', async () => {
    await writeFile(join(dir, 'f'), 'x');
    await symlink(join(dir, 'nowhere'), join(dir, 'l'));
    await expect(openExclusive(join(dir, 'f'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(openExclusive(join(dir, 'l'))).rejects.toMatchObject({ code: 'EEXIST' });
  });
  it('removes its temporary file when the rename fails', async () => {
    const path = join(dir, 'sub');
    await (await import('node:fs/promises')).mkdir(join(path, 'child'), { recursive: true });
    await expect(atomicWriteFile(path, 'x')).rejects.toMatchObject({
      code: expect.stringMatching(/EISDIR|ENOTEMPTY|EEXIST/),
    });
    expect((await readdir(dir)).sort()).toEqual(['sub']);
  });
});

describe('hashing', () => {
  it('hashFile matches node:crypto over several chunks', async () => {
    const data = Buffer.alloc(5 * 1024 * 1024 + 17, 7);
    data.write('variation', 1234);
    const path = join(dir, 'img');
    await writeFile(path, data);
    const seen: number[] = [];
    const r = await hashFile(path, { chunkSize: 1 << 20, onProgress: (n) => seen.push(n) });
    expect(r).toEqual({ size: data.length, digest: createHash('sha512').update(data).digest('hex') });
    expect(seen.at(-1)).toBe(data.length);
    expect(seen.length).toBe(6);
    expect(sha512Hex(data)).toBe(r.digest);
  });
  it('hashFile throws the file system error for a missing file', async () => {
    await expect(hashFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
  it('sameBytes compares views, not buffers', () => {
    const big = new Uint8Array([9, 1, 2, 3, 9]);
    expect(sameBytes(big.subarray(1, 4), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(sameBytes(big.subarray(1, 4), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(sameBytes(new Uint8Array(0), new Uint8Array(1))).toBe(false);
  });
});

describe('async helpers', () => {
  it('mapLimit keeps order and the limit', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n, i) => {
      running++;
      peak = Math.max(peak, running);
      await delay(n);
      running--;
      return n * 10 + i;
    });
    expect(out).toEqual([50, 11, 42, 23, 34]);
    expect(peak).toBe(2);
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
  it('delay rejects when aborted', async () => {
    const ac = new AbortController();
    const p = delay(10_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
  it('chunks and utcStamp', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(() => chunks([1], 0)).toThrow(RangeError);
    expect(utcStamp(new Date('2026-03-29T01:02:03.999Z'))).toBe('2026-03-29_01-02-03');
  });
});
