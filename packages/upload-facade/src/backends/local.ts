import { constants } from 'node:fs';
import {
  copyFile,
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { UploadError } from '../errors.js';
import type {
  BackendFactory,
  PutOptions,
  TargetStat,
  UploadBackend,
  UploadLogger,
  UploadSource,
} from '../types.js';
import {
  abortedError,
  checkRemotePath,
  isTempName,
  Meter,
  openSource,
  optString,
  staleTempAge,
  tempName,
  wrapError,
} from '../util.js';

/** Resolves a `file://` URL or a path to an absolute local path, refusing hostile names. */
function localPath(target: string, root?: string): string {
  let p = target;
  if (/^file:/i.test(target)) {
    try {
      p = fileURLToPath(target);
    } catch (err) {
      throw new UploadError('ERR_UPLOAD_TARGET', `bad file URL ${target}`, {
        target,
        protocol: 'local',
        cause: err,
      });
    }
    // the URL parser already folded any `..`: check the raw text too
    checkRemotePath(new URL(target).pathname, target, 'local');
    checkRemotePath(target.replace(/^file:\/*/i, '/'), target, 'local');
  }
  checkRemotePath(p, target, 'local');
  return isAbsolute(p) ? p : resolve(root ?? process.cwd(), p);
}

/** Makes a rename in `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r').catch(() => undefined);
  await d?.sync().catch(() => {});
  await d?.close();
}

/** Files up to this size are copied by the kernel in one call (copyFile): it takes well under a second. */
export const SMALL_FILE_BYTES = 32 * 1024 * 1024;
/** Chunk of the copy loop: large enough to run near memory speed, small enough to stop within milliseconds. */
const CHUNK_BYTES = 2 * 1024 * 1024;
/** Chunks in flight: reads and writes of different chunks overlap on libuv's thread pool (4 threads). */
const LANES = 4;
/**
 * The copy is flushed to disk in the background every this many bytes, so that the disk writes while the copy
 * goes on and the fsync before the rename waits for the last few MiB only, not for gigabytes: that fsync cannot
 * be interrupted, and Ctrl-C must stop the upload within a second.
 */
export const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Copies `source` into the open temp file `out`. Node 20 has no copy_file_range binding and `copyFile` is all
 * or nothing (no progress, no abort), so a large file is copied in chunks: LANES loops, each with one reused
 * buffer, take the next chunk, read it and write it at its position (measured near `cp` speed on tmpfs; one
 * read-then-write loop reached about 0.6 of it). Between chunks the signal is checked and progress reported.
 * Every SYNC_EVERY_BYTES an fdatasync runs beside the copy (one at a time; an error fails the copy).
 */
async function copyChunks(source: string, out: FileHandle, size: number, opts: PutOptions, target: string) {
  const input = await open(source, constants.O_RDONLY);
  const changed = () =>
    new UploadError('ERR_UPLOAD_FAILED', `source ${source} changed size while it was copied`, {
      target,
      protocol: 'local',
    });
  let next = 0;
  let copied = 0;
  let failure: { error: unknown } | undefined;
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  const flush = () => {
    unsynced = 0;
    syncing = out
      .datasync()
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => {
        syncing = undefined;
      });
  };
  const lane = async () => {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    try {
      while (!failure) {
        if (opts.signal?.aborted) throw abortedError(target, 'local', opts.signal.reason);
        const position = next;
        if (position >= size) return;
        next += CHUNK_BYTES;
        const want = Math.min(CHUNK_BYTES, size - position);
        const { bytesRead } = await input.read(buffer, 0, want, position);
        if (bytesRead !== want) throw changed();
        for (let done = 0; done < bytesRead; ) {
          const { bytesWritten } = await out.write(buffer, done, bytesRead - done, position + done);
          done += bytesWritten;
        }
        copied += bytesRead;
        unsynced += bytesRead;
        if (unsynced >= SYNC_EVERY_BYTES && !syncing) flush();
        opts.onProgress?.({ transferred: copied, total: size });
      }
    } catch (error) {
      failure ??= { error };
    }
  };
  try {
    // Every lane has stopped before the handles are closed (and before the temp file is removed).
    await Promise.all(Array.from({ length: LANES }, lane));
    await syncing;
    if (failure) throw failure.error;
    const { bytesRead } = await input.read(Buffer.alloc(1), 0, 1, size);
    if (bytesRead !== 0) throw changed();
  } finally {
    await input.close();
  }
}

/** Copies a path source to `tmp` (small files by the kernel in one go, large ones in chunks), then renames. */
async function copyPath(
  source: string,
  tmp: string,
  dest: string,
  mode: number,
  target: string,
  opts: PutOptions,
): Promise<void> {
  let size: number;
  try {
    const st = await stat(source);
    if (!st.isFile()) throw new UploadError('ERR_UPLOAD_FAILED', `source ${source} is not a regular file`);
    size = st.size;
  } catch (err) {
    throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot read source ${source}`, { target, protocol: 'local' });
  }
  if (opts.size !== undefined && opts.size !== size)
    throw new UploadError('ERR_UPLOAD_FAILED', `source ${source} has ${size} bytes, expected ${opts.size}`, {
      target,
      protocol: 'local',
    });
  const { signal } = opts;
  let fh: FileHandle | undefined;
  try {
    if (size <= SMALL_FILE_BYTES) {
      await copyFile(source, tmp, constants.COPYFILE_EXCL);
      fh = await open(tmp, 'r+');
      opts.onProgress?.({ transferred: size, total: size });
    } else {
      fh = await open(tmp, 'wx', mode);
      await copyChunks(source, fh, size, opts, target);
    }
    await fh.chmod(mode);
    await fh.sync();
    await fh.close();
    fh = undefined;
    if (signal?.aborted) throw abortedError(target, 'local', signal.reason);
    await rename(tmp, dest);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    if (signal?.aborted) throw abortedError(target, 'local', signal.reason);
    throw wrapError(err, 'ERR_UPLOAD_FAILED', `upload to ${dest} failed`, { target, protocol: 'local' });
  }
}

/**
 * Removes the temporary files of uploads that were killed (SIGKILL, a crash) from `dir`: only names of the
 * exact {@link tempName} pattern, only regular files, only when untouched for `ageS` seconds.
 */
async function sweepLocalTemps(dir: string, ageS: number, log?: UploadLogger): Promise<string[]> {
  if (ageS <= 0) return [];
  const removed: string[] = [];
  const names = await readdir(dir).catch(() => [] as string[]);
  const before = Date.now() - ageS * 1000;
  for (const name of names) {
    if (!isTempName(name)) continue;
    const p = join(dir, name);
    try {
      const st = await lstat(p);
      if (!st.isFile() || st.mtimeMs > before) continue;
      await unlink(p);
      removed.push(p);
      log?.('warn', `removed ${p}, left behind by an upload that did not finish`);
    } catch {
      // gone meanwhile, or not ours to remove: leave it
    }
  }
  return removed;
}

/**
 * `local`: targets are `file://` URLs or paths. Writes a temp file in the target directory, fsyncs it and
 * renames it over the target (atomic on POSIX); missing directories are created.
 * Options: `root` (base for relative paths), `mode` (file mode, octal string, default "0644"), `staleTempAge`
 * (seconds after which a temp file of a killed upload in the target directory is removed; default 3600, 0 = never).
 */
export const localBackend: BackendFactory = ({ options, log } = {}): UploadBackend => {
  const root = optString(options, 'root', 'local');
  const sweepAge = staleTempAge(options, 'local');
  const modeText = optString(options, 'mode', 'local') ?? '0644';
  if (!/^0?[0-7]{3,4}$/.test(modeText))
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      'local: option "mode" must be an octal string such as "0644"',
      {
        key: 'mode',
        protocol: 'local',
      },
    );
  const mode = Number.parseInt(modeText, 8);

  async function put(target: string, source: UploadSource, opts: PutOptions = {}): Promise<void> {
    const dest = localPath(target, root);
    const { signal } = opts;
    if (signal?.aborted) throw abortedError(target, 'local', signal.reason);
    const dir = dirname(dest);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot create directory ${dir}`, {
        target,
        protocol: 'local',
      });
    }
    await sweepLocalTemps(dir, sweepAge, log);
    const tmp = join(dir, tempName(basename(dest)));
    if (typeof source === 'string') {
      await copyPath(source, tmp, dest, mode, target, opts);
      await syncDir(dir);
      return;
    }
    const src = await openSource(source, opts);
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      fh = await open(tmp, 'wx', mode);
      const handle = fh;
      await pipeline(
        src.stream,
        new Meter(src.size, opts.onProgress),
        async (chunks: AsyncIterable<Buffer>) => {
          for await (const chunk of chunks) await handle.write(chunk);
        },
        { signal },
      );
      await handle.chmod(mode);
      await handle.sync();
      await handle.close();
      fh = undefined;
      await rename(tmp, dest);
    } catch (err) {
      await fh?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      if (!src.stream.destroyed) src.stream.destroy();
      if (signal?.aborted) throw abortedError(target, 'local', signal.reason);
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `upload to ${dest} failed`, { target, protocol: 'local' });
    }
    await syncDir(dir);
  }

  return {
    name: 'local',
    capabilities: { delete: true, stat: true, atomicReplace: true },
    put,
    async delete(target) {
      const p = localPath(target, root);
      try {
        await unlink(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot delete ${p}`, { target, protocol: 'local' });
      }
    },
    async stat(target): Promise<TargetStat | undefined> {
      const p = localPath(target, root);
      try {
        const st = await stat(p);
        return st.isFile() ? { size: st.size, mtime: st.mtime } : undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot stat ${p}`, { target, protocol: 'local' });
      }
    },
  };
};
