import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { UploadError } from '../errors.js';
import type { BackendFactory, PutOptions, TargetStat, UploadBackend, UploadSource } from '../types.js';
import { abortedError, checkRemotePath, Meter, openSource, optString, tempName, wrapError } from '../util.js';

/** Resolves a `file://` URL or a path to an absolute local path, refusing hostile names. */
export function localPath(target: string, root?: string): string {
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

/**
 * Copies a file source inside the kernel (copy_file_range, reflinks where the filesystem has them): several
 * times faster than streaming through the process. An abort is honoured before the copy and before the rename;
 * progress is reported once the data is written.
 */
async function fastCopy(
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
  try {
    await copyFile(source, tmp, constants.COPYFILE_EXCL);
    const fh = await open(tmp, 'r+');
    try {
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    opts.onProgress?.({ transferred: size, total: size });
    if (signal?.aborted) throw abortedError(target, 'local', signal.reason);
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    if (signal?.aborted) throw abortedError(target, 'local', signal.reason);
    throw wrapError(err, 'ERR_UPLOAD_FAILED', `upload to ${dest} failed`, { target, protocol: 'local' });
  }
}

/**
 * `local`: targets are `file://` URLs or paths. Writes a temp file in the target directory, fsyncs it and
 * renames it over the target (atomic on POSIX); missing directories are created.
 * Options: `root` (base for relative paths), `mode` (file mode, octal string, default "0644").
 */
export const localBackend: BackendFactory = ({ options } = {}): UploadBackend => {
  const root = optString(options, 'root', 'local');
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
    const tmp = join(dir, tempName(basename(dest)));
    if (typeof source === 'string') {
      await fastCopy(source, tmp, dest, mode, target, opts);
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
