import { spawn } from 'node:child_process';
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

/** Files up to this size are copied by the kernel in this process (copyFile): it takes well under a second. */
export const SMALL_FILE_BYTES = 32 * 1024 * 1024;
/** How often the size of a large copy is looked at for progress. */
const PROGRESS_EVERY_MS = 200;
/** After a SIGKILL, how long to wait for the helper to be gone before its temp file is removed anyway. */
const KILL_WAIT_MS = 500;
/**
 * The helper process of a large copy: the kernel copies the file (copyFile: copy_file_range, else sendfile),
 * then it is fsynced. Node 20 can neither copy in kernel-side chunks nor interrupt a copyFile or an fsync on its
 * thread pool (a process does not even exit while a thread waits in fsync), so the kernel's copy runs in a
 * process of its own, which is killed on abort. It prints `copied` between the copy and the fsync. Its standard
 * input is a pipe from the uploader that is never written: when the uploader dies (SIGKILL), the pipe ends and
 * the helper kills itself, which stops a copy in progress at once.
 */
const COPY_HELPER = `const fs = require('node:fs');
const [source, tmp] = process.argv.slice(1);
const fail = (err) => {
  process.stderr.write(String(err && err.message ? err.message : err));
  process.exit(1);
};
// Not process.exit(): at exit, libuv waits for its thread pool, so for the copy to finish.
const orphaned = () => process.kill(process.pid, 'SIGKILL');
process.stdin.on('end', orphaned).on('error', orphaned).resume();
fs.copyFile(source, tmp, fs.constants.COPYFILE_EXCL, (err) => {
  if (err) return fail(err);
  process.stdout.write('copied\\n');
  fs.open(tmp, 'r+', (err, fd) => {
    if (err) return fail(err);
    fs.fsync(fd, (err) => (err ? fail(err) : process.exit(0)));
  });
});`;

/**
 * Copies the large file `source` (`size` bytes) to the new file `tmp` and makes it durable, by the kernel in
 * a helper process ({@link COPY_HELPER}), at `cp` speed. Progress comes from the size of `tmp`, every
 * PROGRESS_EVERY_MS. On abort the helper is killed and the promise rejects at once: during the copy once the
 * helper is gone (it stops within milliseconds), during the final fsync (which nothing interrupts) without
 * waiting for it, so that Ctrl-C is honoured within a second; the caller removes `tmp`.
 */
function kernelCopy(
  source: string,
  tmp: string,
  size: number,
  opts: PutOptions,
  target: string,
): Promise<void> {
  const { signal, onProgress } = opts;
  const { NODE_OPTIONS: _, ...env } = process.env; // the helper needs no preloads of the parent
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(target, 'local', signal.reason));
    const child = spawn(process.execPath, ['-e', COPY_HELPER, source, tmp], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    child.stdin.on('error', () => {}); // never written; only its end matters to the helper
    let stderr = '';
    let copied = false;
    let reported = 0;
    let settled = false;
    const progress = (transferred: number) => {
      if (settled || transferred < reported) return;
      reported = transferred;
      onProgress?.({ transferred, total: size });
    };
    const poll = setInterval(() => {
      stat(tmp).then(
        (st) => !copied && progress(Math.min(st.size, size)),
        () => {},
      );
    }, PROGRESS_EVERY_MS);
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    const onAbort = () => {
      child.kill('SIGKILL');
      // Nothing of the helper may keep the caller's event loop alive (it may still be in its fsync).
      child.unref();
      child.stdin.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
      const failed = () => finish(abortedError(target, 'local', signal?.reason));
      if (copied) failed();
      else void Promise.race([gone, new Promise((r) => setTimeout(r, KILL_WAIT_MS).unref())]).then(failed);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    progress(0);
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (copied || !text.includes('copied')) return;
      copied = true;
      progress(size);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 4096) stderr += text;
    });
    child.once('error', (err) =>
      finish(
        wrapError(err, 'ERR_UPLOAD_FAILED', `cannot start the copy of ${source}`, {
          target,
          protocol: 'local',
        }),
      ),
    );
    child.once('close', (code, sig) => {
      if (signal?.aborted) return; // killed by onAbort, which settles
      if (code === 0) return finish();
      const why = stderr.trim() || `the copy helper exited with ${sig ?? code}`;
      finish(
        new UploadError('ERR_UPLOAD_FAILED', `copying ${source} failed: ${why}`, {
          target,
          protocol: 'local',
        }),
      );
    });
  });
}

/** Copies a path source to `tmp` by the kernel (a large one in a helper process), checks its size, renames. */
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
      opts.onProgress?.({ transferred: size, total: size });
    } else {
      await kernelCopy(source, tmp, size, opts, target);
    }
    fh = await open(tmp, 'r+');
    // The source changed while it was copied (the kernel copies the size it saw when it began).
    const [copy, now] = await Promise.all([fh.stat(), stat(source)]);
    if (copy.size !== size || now.size !== size)
      throw new UploadError('ERR_UPLOAD_FAILED', `source ${source} changed size while it was copied`, {
        target,
        protocol: 'local',
      });
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
