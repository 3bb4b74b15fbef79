// Compression decided by the image's hv:format suffix, detected by magic bytes, applied while streaming,
// with sha512 and size computed over the bytes that will be published, in the same pass.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { PublisherError } from './errors.js';

export type Compression = 'gzip' | 'bzip2' | 'xz';

/** The compression an `hv:format` value asks for (`raw.gz` → gzip), or undefined for none. */
export function compressionForFormat(format: string | undefined): Compression | undefined {
  if (!format) return undefined;
  const f = format.trim().toLowerCase();
  if (f.endsWith('.gz') || f === 'gz' || f === 'tgz' || f.endsWith('.tgz')) return 'gzip';
  if (f.endsWith('.bz2') || f === 'bz2') return 'bzip2';
  if (f.endsWith('.xz') || f === 'xz') return 'xz';
  return undefined;
}

/** The compression of the first bytes of a file, by magic number. */
export function detectCompression(head: Uint8Array): Compression | undefined {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  // "BZh" followed by the block size digit 1-9.
  if (
    head.length >= 4 &&
    head[0] === 0x42 &&
    head[1] === 0x5a &&
    head[2] === 0x68 &&
    head[3] >= 0x31 &&
    head[3] <= 0x39
  )
    return 'bzip2';
  const xz = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (head.length >= 6 && xz.every((b, i) => head[i] === b)) return 'xz';
  return undefined;
}

/** Reads the first bytes of `path` and detects its compression. */
export async function detectFileCompression(path: string): Promise<Compression | undefined> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(buf, 0, 8, 0);
    return detectCompression(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export interface Digest {
  /** Lowercase hex sha512 of the bytes. */
  sha512: string;
  size: number;
}

/** A pass-through that hashes and counts what flows through it. */
class DigestTap extends Transform {
  private readonly hash = createHash('sha512');
  size = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }
  digest(): Digest {
    return { sha512: this.hash.digest('hex'), size: this.size };
  }
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** Called with the number of input bytes read so far. */
  onProgress?: (readBytes: number) => void;
}

function progressTap(onProgress?: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onProgress?.(n);
      cb(null, chunk);
    },
  });
}

/**
 * Compresses `source` into `destination` in one pass, hashing the compressed bytes on their way to disk.
 * gzip runs in-process (node:zlib); bzip2 and xz run `bzip2 -c` / `xz -c` (argv, no shell) as a pipe.
 */
export async function compressFile(
  source: string,
  destination: string,
  kind: Compression,
  options: StreamOptions = {},
): Promise<Digest> {
  const tap = new DigestTap();
  if (kind === 'gzip') {
    try {
      await pipeline(
        createReadStream(source, { highWaterMark: 1 << 20 }),
        progressTap(options.onProgress),
        createGzip({ level: 6 }),
        tap,
        createWriteStream(destination),
        { signal: options.signal },
      );
    } catch (err) {
      throw new PublisherError(
        'ERR_PUBLISHER_COMPRESS',
        `compressing with gzip failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return tap.digest();
  }
  const program = kind === 'bzip2' ? 'bzip2' : 'xz';
  const args = kind === 'xz' ? ['-c', '-T0'] : ['-c'];
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) =>
      reject(
        new PublisherError('ERR_PUBLISHER_COMPRESS', `cannot run ${program}: ${err.message}`, { cause: err }),
      ),
    );
    child.on('close', (code) => resolve(code));
  });
  try {
    await Promise.all([
      pipeline(
        createReadStream(source, { highWaterMark: 1 << 20 }),
        progressTap(options.onProgress),
        child.stdin,
        {
          signal: options.signal,
        },
      ),
      pipeline(child.stdout, tap, createWriteStream(destination), { signal: options.signal }),
      exited.then((code) => {
        if (code !== 0)
          throw new PublisherError(
            'ERR_PUBLISHER_COMPRESS',
            `${program} ${args.join(' ')} exited with status ${code}${stderr ? `: ${stderr.trim()}` : ''}`,
          );
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    if (err instanceof PublisherError) throw err;
    throw new PublisherError(
      'ERR_PUBLISHER_COMPRESS',
      `compressing with ${program} failed: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return tap.digest();
}
