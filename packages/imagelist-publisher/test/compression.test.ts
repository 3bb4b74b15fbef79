import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compressFile,
  compressionForFormat,
  detectCompression,
  detectFileCompression,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'vmcaster-compress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Compressible but not trivial content: random lines.
const content = Buffer.from(
  Array.from({ length: 20000 }, (_, i) => `line ${i} ${randomBytes(8).toString('hex')}\n`).join(''),
);
const src = join(dir, 'image.raw');
writeFileSync(src, content);

const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('hex');

describe('compressionForFormat', () => {
  it('maps hv:format suffixes', () => {
    expect(compressionForFormat('raw.gz')).toBe('gzip');
    expect(compressionForFormat('cpio.bz2')).toBe('bzip2');
    expect(compressionForFormat('qcow2.xz')).toBe('xz');
    expect(compressionForFormat('QCOW2')).toBeUndefined();
    expect(compressionForFormat('OVA')).toBeUndefined();
    expect(compressionForFormat(undefined)).toBeUndefined();
  });
});

describe('detectCompression', () => {
  it('recognises the magic numbers produced by the real tools', () => {
    expect(detectCompression(gzipSync(content).subarray(0, 8))).toBe('gzip');
    const bz = spawnSync('bzip2', ['-c'], { input: content });
    expect(bz.status).toBe(0);
    expect(detectCompression(bz.stdout.subarray(0, 8))).toBe('bzip2');
    const xz = spawnSync('xz', ['-c'], { input: content });
    expect(xz.status).toBe(0);
    expect(detectCompression(xz.stdout.subarray(0, 8))).toBe('xz');
    expect(detectCompression(content.subarray(0, 8))).toBeUndefined();
    expect(detectCompression(new Uint8Array([0x1f]))).toBeUndefined();
  });
  it('reads a file head', async () => {
    const gz = join(dir, 'x.gz');
    writeFileSync(gz, gzipSync(content));
    expect(await detectFileCompression(gz)).toBe('gzip');
    expect(await detectFileCompression(src)).toBeUndefined();
  });
});

describe('compressFile', () => {
  it('gzip: the output decompresses to the input and the digest is of the compressed bytes', async () => {
    const out = join(dir, 'o.gz');
    const d = await compressFile(src, out, 'gzip');
    const written = readFileSync(out);
    expect(d.size).toBe(written.length);
    expect(d.sha512).toBe(sha512(written));
    expect(gunzipSync(written).equals(content)).toBe(true);
  });
  for (const kind of ['bzip2', 'xz'] as const) {
    it(`${kind}: runs the system program and hashes its output`, async () => {
      const out = join(dir, `o.${kind}`);
      const d = await compressFile(src, out, kind);
      const written = readFileSync(out);
      expect(d.size).toBe(written.length);
      expect(d.sha512).toBe(sha512(written));
      expect(detectCompression(written)).toBe(kind);
      const back = spawnSync(kind, ['-dc', out]);
      expect(back.status).toBe(0);
      expect(Buffer.compare(back.stdout, content)).toBe(0);
    });
  }
  it('fails with ERR_PUBLISHER_COMPRESS when the input cannot be read or the program fails', async () => {
    // A missing source makes the read side fail; the error must surface, not hang.
    for (const kind of ['gzip', 'xz'] as const)
      await expect(compressFile(join(dir, 'missing'), join(dir, `m.${kind}`), kind)).rejects.toMatchObject({
        code: 'ERR_PUBLISHER_COMPRESS',
      });
    // bzip2 refuses to write into a directory that does not exist: the pipeline's write side fails.
    await expect(compressFile(src, join(dir, 'no', 'such', 'dir.bz2'), 'bzip2')).rejects.toMatchObject({
      code: 'ERR_PUBLISHER_COMPRESS',
    });
  });
});
