import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UploadError } from '../errors.js';
import type {
  BackendFactory,
  OpOptions,
  PutOptions,
  UploadBackend,
  UploadLogger,
  UploadSource,
} from '../types.js';
import {
  abortedError,
  checkRemotePath,
  Meter,
  openSource,
  optBool,
  optNumber,
  optString,
  optStringArray,
  optStringMap,
  throwIfAborted,
  wrapError,
} from '../util.js';

/** The `gsidcap` preset: dCache's `dccp`, as the original vmcaster ran it, with a preloaded-dcap `rm` for deletes. */
export const GSIDCAP_PRESET = {
  argv: ['dccp', '-C', '3000', '-d', '2', '-A', '{local}', '{remote}'],
  deleteArgv: ['env', 'LD_PRELOAD=/usr/lib64/libpdcap.so.1', 'rm', '-f', '{remote}'],
  deleteBeforePut: true,
} as const;

/** The path part of a remote target (URL, `host:path` or plain path), for the hostile-name checks. */
function remotePathOf(target: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(target);
  if (url) return url[1] ?? '';
  const scp = /^(?:[^@/:]+@)?[^/:]+:(.*)$/.exec(target);
  return scp ? scp[1] : target;
}

function expand(argv: readonly string[], vars: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{(local|remote)\}/g, (_, k: string) => vars[k]));
}

/**
 * `command` (and the `gsidcap` preset): any other transfer tool (`dccp`, `gfal-copy`, `rclone`, …) run as an
 * argv template with `{local}` and `{remote}`, without a shell, with a timeout. Stream sources are spooled to
 * a private temp file first (a command needs a path).
 */
export const commandBackend: BackendFactory = ({
  protocol = 'command',
  options,
  log: logOpt,
} = {}): UploadBackend => {
  const log: UploadLogger = logOpt ?? (() => {});
  const preset = protocol === 'gsidcap' ? GSIDCAP_PRESET : undefined;
  const argv = optStringArray(options, 'argv', protocol) ?? preset?.argv;
  if (!argv?.length)
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      `${protocol}: option "argv" (e.g. ["cp", "{local}", "{remote}"]) is required`,
      {
        key: 'argv',
        protocol,
      },
    );
  if (!argv.some((a) => a.includes('{local}')) || !argv.some((a) => a.includes('{remote}')))
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      `${protocol}: option "argv" must contain {local} and {remote}`,
      {
        key: 'argv',
        protocol,
      },
    );
  const deleteArgv = optStringArray(options, 'deleteArgv', protocol) ?? preset?.deleteArgv;
  const deleteBeforePut = optBool(options, 'deleteBeforePut', protocol) ?? preset?.deleteBeforePut ?? false;
  const timeout = optNumber(options, 'timeout', protocol) ?? 3_600_000;
  const atomic = optBool(options, 'atomic', protocol) ?? false;
  const extraEnv = optStringMap(options, 'env', protocol) ?? {};
  const cwd = optString(options, 'cwd', protocol);

  function checkTarget(target: string): void {
    checkRemotePath(remotePathOf(target), target, protocol);
    if (target.startsWith('-'))
      throw new UploadError(
        'ERR_UPLOAD_TARGET',
        `refusing remote target ${JSON.stringify(target)}: starts with "-"`,
        {
          target,
          protocol,
        },
      );
  }

  function run(
    template: readonly string[],
    vars: Record<string, string>,
    target: string,
    signal?: AbortSignal,
  ) {
    const args = expand(template, vars);
    log('debug', `${protocol}: running ${JSON.stringify(args)}`);
    return new Promise<void>((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(args[0], args.slice(1), {
          cwd,
          env: { ...process.env, ...extraEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
          shell: false,
          // own process group, so a timeout or abort also stops whatever the tool forked
          detached: true,
        });
      } catch (err) {
        reject(
          wrapError(err, 'ERR_UPLOAD_FAILED', `${protocol}: cannot run ${args[0]}`, { target, protocol }),
        );
        return;
      }
      let output = '';
      const keep = (c: Buffer) => {
        output = (output + c.toString('utf8')).slice(-4000);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      let reason: 'timeout' | 'abort' | undefined;
      const kill = (why: 'timeout' | 'abort') => {
        reason ??= why;
        const signalGroup = (sig: NodeJS.Signals) => {
          try {
            if (child.pid) process.kill(-child.pid, sig);
          } catch {
            child.kill(sig);
          }
        };
        signalGroup('SIGTERM');
        setTimeout(() => signalGroup('SIGKILL'), 5000).unref();
      };
      const timer = setTimeout(() => kill('timeout'), timeout);
      const onAbort = () => kill('abort');
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(
          wrapError(err, 'ERR_UPLOAD_FAILED', `${protocol}: cannot run ${args[0]}`, { target, protocol }),
        );
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (reason === 'abort') reject(abortedError(target, protocol, signal?.reason));
        else if (reason === 'timeout')
          reject(
            new UploadError('ERR_UPLOAD_FAILED', `${protocol}: ${args[0]} timed out after ${timeout} ms`, {
              target,
              protocol,
            }),
          );
        else if (code === 0) resolve();
        else
          reject(
            new UploadError(
              'ERR_UPLOAD_FAILED',
              `${protocol}: ${args[0]} exited with ${code ?? sig}${output.trim() ? `: ${output.trim()}` : ''}`,
              { target, protocol, status: code ?? undefined },
            ),
          );
      });
    });
  }

  async function put(target: string, source: UploadSource, opts: PutOptions = {}): Promise<void> {
    checkTarget(target);
    const { signal } = opts;
    throwIfAborted(signal, target, protocol);
    let local: string;
    let spoolDir: string | undefined;
    let size: number | undefined;
    try {
      if (typeof source === 'string') {
        const src = await openSource(source, opts);
        src.stream.destroy();
        local = source;
        size = src.size;
        opts.onProgress?.({ transferred: 0, total: size });
      } else {
        spoolDir = await mkdtemp(join(tmpdir(), 'hepix-upload-'));
        local = join(spoolDir, 'source');
        const src = await openSource(source, opts);
        const fh = await open(local, 'wx', 0o600);
        const meter = new Meter(src.size, opts.onProgress);
        try {
          await pipeline(src.stream, meter, fh.createWriteStream(), { signal });
        } finally {
          await fh.close().catch(() => {});
        }
        size = meter.transferred;
      }
      if (deleteBeforePut && deleteArgv)
        await run(deleteArgv, { remote: target, local }, target, signal).catch((err) => {
          if (signal?.aborted) throw err;
          log('debug', `${protocol}: delete before put failed (ignored): ${(err as Error).message}`);
        });
      await run(argv as string[], { local, remote: target }, target, signal);
      opts.onProgress?.({ transferred: size ?? 0, total: size });
    } catch (err) {
      if (signal?.aborted) throw abortedError(target, protocol, signal.reason);
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `${protocol}: upload to ${target} failed`, {
        target,
        protocol,
      });
    } finally {
      if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    }
  }

  const backend: UploadBackend = {
    name: protocol,
    capabilities: { delete: !!deleteArgv, stat: false, atomicReplace: atomic },
    put,
  };
  if (deleteArgv)
    backend.delete = async (target: string, opts?: OpOptions) => {
      checkTarget(target);
      await run(deleteArgv, { remote: target, local: '' }, target, opts?.signal);
    };
  return backend;
};
