// File helpers with one set of rules: temporary files are created exclusively (never through a planted link),
// durable data is fsynced before it is renamed into place, and the directory is fsynced after the rename.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644; the umask applies). */
  mode?: number;
  /** fsync the file before the rename and the directory after it (default true). */
  fsync?: boolean;
  /** Prefix of the temporary file in the same directory (default `.<name>.tmp-`). */
  tempPrefix?: string;
}

/** Opens `path` for writing only if it does not exist yet, never following a symbolic link. */
export function openExclusive(path: string, mode = 0o644): Promise<FileHandle> {
  return open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
}

/** fsync of a directory, so that a rename or create in it survives a crash. Ignored where unsupported. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

/**
 * Replaces `path` with `data` atomically: a new temporary file in the same directory (exclusive create), its
 * data fsynced, renamed over `path`, the directory fsynced. Readers see the old or the new content, never a
 * mixture; a crash leaves at worst a temporary file with the prefix.
 */
export async function atomicWriteFile(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const prefix = options.tempPrefix ?? `.${basename(path)}.tmp-`;
  const tmp = join(dir, `${prefix}${process.pid}-${randomBytes(6).toString('hex')}`);
  const fsync = options.fsync ?? true;
  const handle = await openExclusive(tmp, options.mode ?? 0o644);
  try {
    try {
      await handle.writeFile(data);
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (fsync) await syncDirectory(dir);
}

export interface HashFileOptions {
  /** Any algorithm node:crypto knows (default `sha512`). */
  algorithm?: string;
  /** Called with the bytes read so far after each chunk. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Read size (default 4 MiB). */
  chunkSize?: number;
}

export interface FileDigest {
  size: number;
  /** Lower-case hex. */
  digest: string;
}

/**
 * The digest and size of a file, read once in large chunks straight into the hash (one reused buffer: no
 * per-chunk allocation). Errors of the file system (ENOENT, EISDIR, …) are thrown as they are.
 */
export async function hashFile(path: string, options: HashFileOptions = {}): Promise<FileDigest> {
  const hash = createHash(options.algorithm ?? 'sha512');
  const buffer = Buffer.allocUnsafe(options.chunkSize ?? 4 << 20);
  const handle = await open(path, constants.O_RDONLY);
  let size = 0;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      size += bytesRead;
      options.onProgress?.(size);
    }
  } finally {
    await handle.close();
  }
  return { size, digest: hash.digest('hex') };
}

/** sha512 of bytes, lower-case hex. */
export function sha512Hex(data: Uint8Array | string): string {
  return createHash('sha512').update(data).digest('hex');
}

/** Byte-for-byte equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.byteLength === b.byteLength &&
    Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  );
}
