import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join, posix } from 'node:path';
import type { Client, ConnectConfig, SFTPWrapper, Stats } from 'ssh2';
import { UploadError } from '../errors.js';
import type {
  BackendFactory,
  OpOptions,
  PutOptions,
  TargetStat,
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
  isTempName,
  staleTempAge,
  tempName,
  throwIfAborted,
  wrapError,
} from '../util.js';
import { checkKnownHosts, fingerprint, hostKeyAlgorithms, knownKeyTypes } from './known-hosts.js';

/** A parsed SSH target. */
export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
  path: string;
}

/**
 * Parses `user@host:/path` (scp style, also `user@host:relative/path` and `[::1]:/path`) and
 * `sftp://user@host:port/path` / `scp://…` URLs; refuses hostile paths.
 */
export function parseSshTarget(target: string, protocol = 'sftp'): SshTarget {
  const bad = (why: string) =>
    new UploadError('ERR_UPLOAD_TARGET', `bad ${protocol} target ${JSON.stringify(target)}: ${why}`, {
      target,
      protocol,
    });
  const url = /^(?:sftp|scp|ssh):\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^/:]+)(?::(\d+))?(\/.*)?$/i.exec(target);
  if (url) {
    const [, user, host, port, rawPath] = url;
    if (!rawPath) throw bad('no path');
    checkRemotePath(rawPath, target, protocol);
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw bad('bad percent-encoding');
    }
    checkRemotePath(path, target, protocol);
    // `sftp://host/~/x` is relative to the login directory
    if (path.startsWith('/~/')) path = path.slice(3);
    return {
      user: user ? decodeURIComponent(user) : undefined,
      host: host.replace(/^\[|\]$/g, ''),
      port: port ? Number(port) : undefined,
      path,
    };
  }
  const scp = /^(?:([^@/:]+)@)?(\[[^\]]+\]|[^/:@[\]]+):(.*)$/.exec(target);
  if (!scp) throw bad('expected user@host:/path or sftp://user@host:port/path');
  const [, user, host, path] = scp;
  checkRemotePath(path, target, protocol);
  return { user, host: host.replace(/^\[|\]$/g, ''), port: undefined, path };
}

interface Conn {
  client: Client;
  sftp: SFTPWrapper;
  dirs: Set<string>;
  closed: boolean;
}

const NO_SUCH_FILE = 2;
/** SFTP extensions the server announced (ssh2 keeps them on a private field). */
const extensions = (c: { sftp: SFTPWrapper }) =>
  (c.sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
const isMissing = (err: unknown) => (err as { code?: unknown })?.code === NO_SUCH_FILE;

function cb<T = void>(fn: (done: (err: Error | undefined | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

async function loadSsh2(): Promise<typeof import('ssh2')> {
  try {
    const mod = await import('ssh2');
    return (mod as { default?: typeof import('ssh2') }).default ?? mod;
  } catch (err) {
    throw new UploadError(
      'ERR_UPLOAD_UNSUPPORTED',
      `the scp/sftp backend cannot load "ssh2" (an incomplete installation of @hepix/upload-facade): ${(err as Error).message}`,
      { protocol: 'sftp', cause: err },
    );
  }
}

async function defaultKey(): Promise<{ path: string; data: Buffer } | undefined> {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = join(homedir(), '.ssh', name);
    try {
      return { path: p, data: await readFile(p) };
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/**
 * `scp` and `sftp`: uploads over SSH with the ssh2 library (SFTP subsystem; modern OpenSSH `scp` uses it too).
 * Host keys are checked against known_hosts; unknown hosts are refused unless `allowUnknownHost` is true.
 * Uploads go to a temp name in the target directory, then `posix-rename@openssh.com` replaces the target.
 */
export const sshBackend: BackendFactory = ({
  protocol = 'sftp',
  options,
  log: logOpt,
} = {}): UploadBackend => {
  const log: UploadLogger = logOpt ?? (() => {});
  const optPort = optNumber(options, 'port', protocol);
  const optUser = optString(options, 'username', protocol) ?? optString(options, 'user', protocol);
  const identityFile =
    optString(options, 'identityFile', protocol) ?? optString(options, 'privateKey', protocol);
  const passphrase = optString(options, 'passphrase', protocol);
  const agentOpt = options?.agent;
  const knownHostsFile = optString(options, 'knownHosts', protocol) ?? join(homedir(), '.ssh', 'known_hosts');
  const allowUnknownHost = optBool(options, 'allowUnknownHost', protocol) ?? false;
  const readyTimeout = optNumber(options, 'readyTimeout', protocol) ?? 20_000;
  const concurrency = Math.max(1, optNumber(options, 'concurrency', protocol) ?? 32);
  const fsync = optBool(options, 'fsync', protocol) ?? true;
  const sweepAge = staleTempAge(options, protocol);
  const modeText = optString(options, 'mode', protocol) ?? '0644';
  if (!/^0?[0-7]{3,4}$/.test(modeText))
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      `${protocol}: option "mode" must be an octal string such as "0644"`,
      {
        key: 'mode',
        protocol,
      },
    );
  const fileMode = Number.parseInt(modeText, 8);
  if (agentOpt !== undefined && agentOpt !== false && typeof agentOpt !== 'string')
    throw new UploadError('ERR_UPLOAD_CONFIG', `${protocol}: option "agent" must be a socket path or false`, {
      key: 'agent',
      protocol,
    });
  const agent =
    agentOpt === false ? undefined : ((agentOpt as string | undefined) ?? process.env.SSH_AUTH_SOCK);

  const pool = new Map<string, Promise<Conn>>();
  let disposed = false;

  async function connect(t: SshTarget): Promise<Conn> {
    const port = t.port ?? optPort ?? 22;
    const username = t.user ?? optUser ?? userInfo().username;
    const id = `${username}@${t.host}:${port}`;
    const existing = pool.get(id);
    if (existing) {
      const c = await existing.catch(() => undefined);
      if (c && !c.closed) return c;
      pool.delete(id);
    }
    const p = open(t.host, port, username);
    pool.set(id, p);
    p.catch(() => pool.delete(id));
    const c = await p;
    c.client.on('close', () => {
      c.closed = true;
      if (pool.get(id) === p) pool.delete(id);
    });
    return c;
  }

  async function open(host: string, port: number, username: string): Promise<Conn> {
    if (disposed) throw new UploadError('ERR_UPLOAD_FAILED', `${protocol} backend disposed`, { protocol });
    const ssh2 = await loadSsh2();
    let knownText = '';
    try {
      knownText = await readFile(knownHostsFile, 'utf8');
    } catch (err) {
      if (!allowUnknownHost)
        throw new UploadError(
          'ERR_UPLOAD_HOST_KEY',
          `cannot read known_hosts file ${knownHostsFile} to verify ${host}:${port} (set "knownHosts", or "allowUnknownHost": true to accept any host key)`,
          { host, protocol, cause: err },
        );
    }
    let privateKey: Buffer | undefined;
    if (identityFile) {
      try {
        privateKey = await readFile(identityFile);
      } catch (err) {
        throw new UploadError('ERR_UPLOAD_AUTH', `cannot read SSH identity file ${identityFile}`, {
          host,
          protocol,
          cause: err,
        });
      }
    } else privateKey = (await defaultKey())?.data;
    if (!privateKey && !agent)
      throw new UploadError(
        'ERR_UPLOAD_AUTH',
        `no SSH key for ${username}@${host}: set "identityFile", create ~/.ssh/id_ed25519, or run an ssh-agent (SSH_AUTH_SOCK)`,
        { host, protocol },
      );

    let refusal: UploadError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const verdict = checkKnownHosts(knownText, host, port, key);
      if (verdict === 'match') return true;
      if (verdict === 'unknown' && allowUnknownHost) {
        log(
          'warn',
          `${protocol}: accepting unknown host key ${fingerprint(key)} of ${host}:${port} (allowUnknownHost)`,
        );
        return true;
      }
      const why =
        verdict === 'unknown'
          ? `host ${host}:${port} is not in ${knownHostsFile} (key ${fingerprint(key)}); add it, or set "allowUnknownHost": true`
          : verdict === 'revoked'
            ? `host key ${fingerprint(key)} of ${host}:${port} is revoked in ${knownHostsFile}`
            : `HOST KEY MISMATCH for ${host}:${port}: got ${fingerprint(key)}, which ${knownHostsFile} does not list for this host`;
      refusal = new UploadError('ERR_UPLOAD_HOST_KEY', why, { host, protocol });
      return false;
    };
    const types = knownKeyTypes(knownText, host, port);
    const config: ConnectConfig = {
      host,
      port,
      username,
      privateKey,
      passphrase,
      agent,
      readyTimeout,
      hostVerifier,
      keepaliveInterval: 15_000,
      ...(types.length
        ? {
            algorithms: {
              serverHostKey: hostKeyAlgorithms(types) as NonNullable<
                ConnectConfig['algorithms']
              >['serverHostKey'],
            },
          }
        : {}),
    };
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error & { level?: string }) => {
        client.removeListener('ready', onReady);
        if (refusal) reject(refusal);
        else if (err.level === 'client-authentication')
          reject(
            new UploadError(
              'ERR_UPLOAD_AUTH',
              `SSH authentication as ${username}@${host}:${port} failed: ${err.message}`,
              {
                host,
                protocol,
                cause: err,
              },
            ),
          );
        else
          reject(
            wrapError(err, 'ERR_UPLOAD_FAILED', `SSH connection to ${host}:${port} failed`, {
              host,
              protocol,
            }),
          );
      };
      const onReady = () => {
        client.removeListener('error', onError);
        resolve();
      };
      client.once('error', onError);
      client.once('ready', onReady);
      client.connect(config);
    });
    client.on('error', (err) => log('warn', `${protocol}: connection to ${host}:${port}: ${err.message}`));
    const sftp = await cb<SFTPWrapper>((done) => client.sftp(done)).catch((err) => {
      client.end();
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot start SFTP on ${host}:${port}`, { host, protocol });
    });
    return { client, sftp, dirs: new Set(), closed: false };
  }

  async function mkdirp(c: Conn, dir: string): Promise<void> {
    if (dir === '.' || dir === '/' || dir === '' || c.dirs.has(dir)) return;
    let st: Stats | undefined;
    try {
      st = await cb<Stats>((d) => c.sftp.stat(dir, d));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    if (!st) {
      await mkdirp(c, posix.dirname(dir));
      try {
        await cb((d) => c.sftp.mkdir(dir, { mode: 0o755 }, d));
      } catch (err) {
        // lost a race with another uploader: fine if it is a directory now
        const again = await cb<Stats>((d) => c.sftp.stat(dir, d)).catch(() => undefined);
        if (!again?.isDirectory()) throw err;
      }
    } else if (!st.isDirectory()) {
      throw new UploadError('ERR_UPLOAD_FAILED', `${dir} exists and is not a directory`);
    }
    c.dirs.add(dir);
  }

  async function replace(c: Conn, from: string, to: string): Promise<void> {
    if (extensions(c)['posix-rename@openssh.com']) {
      await cb((d) => c.sftp.ext_openssh_rename(from, to, d));
      return;
    }
    // plain SFTP rename refuses to overwrite: not atomic, but the best a non-OpenSSH server offers
    try {
      await cb((d) => c.sftp.rename(from, to, d));
    } catch {
      await cb((d) => c.sftp.unlink(to, d)).catch(() => {});
      await cb((d) => c.sftp.rename(from, to, d));
    }
  }

  /**
   * Removes temp files of killed uploads from `dir`: exact tempName() names, regular files, untouched for
   * `staleTempAge` seconds (by the server's mtime against this host's clock; the age dwarfs any clock skew).
   */
  async function sweep(c: Conn, dir: string): Promise<void> {
    if (sweepAge <= 0) return;
    type Entry = { filename: string; attrs: Stats };
    const entries = await cb<Entry[]>((d) => c.sftp.readdir(dir, d)).catch(() => [] as Entry[]);
    const before = Date.now() / 1000 - sweepAge;
    for (const e of entries) {
      if (!isTempName(e.filename) || !e.attrs.isFile() || e.attrs.mtime > before) continue;
      const p = posix.join(dir, e.filename);
      try {
        await cb((d) => c.sftp.unlink(p, d));
        log('warn', `removed ${p}, left behind by an upload that did not finish`);
      } catch {
        // gone meanwhile, or not ours to remove
      }
    }
  }

  async function put(target: string, source: UploadSource, opts: PutOptions = {}): Promise<void> {
    const t = parseSshTarget(target, protocol);
    const { signal } = opts;
    throwIfAborted(signal, target, protocol);
    const ctx = { target, protocol, host: t.host };
    let c: Conn;
    try {
      c = await connect(t);
      await mkdirp(c, posix.dirname(t.path));
      await sweep(c, posix.dirname(t.path));
    } catch (err) {
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot prepare ${target}`, ctx);
    }
    throwIfAborted(signal, target, protocol);
    const src = await openSource(source, opts);
    const tmp = posix.join(posix.dirname(t.path), tempName(posix.basename(t.path)));
    const meter = new Meter(src.size, opts.onProgress);
    src.stream.on('error', (err) => meter.destroy(err));
    const onAbort = () => src.stream.destroy(abortedError(target, protocol, signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    let handle: Buffer | undefined;
    try {
      handle = await cb<Buffer>((d) => c.sftp.open(tmp, 'wx', { mode: fileMode }, d));
      const h = handle;
      throwIfAborted(signal, target, protocol);
      const maxLen = Math.min(
        (c.sftp as unknown as { _maxWriteLen?: number })._maxWriteLen ?? 32_768,
        255 * 1024,
      );
      let position = 0;
      let inflight = 0;
      let failure: unknown;
      let wake: (() => void) | undefined;
      const settle = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      src.stream.pipe(meter);
      for await (const chunk of meter as AsyncIterable<Buffer>) {
        for (let off = 0; off < chunk.length; off += maxLen) {
          while (inflight >= concurrency && !failure) await new Promise<void>((r) => (wake = r));
          if (failure) throw failure;
          const len = Math.min(maxLen, chunk.length - off);
          inflight++;
          c.sftp.write(h, chunk, off, len, position, (err) => {
            inflight--;
            if (err && !failure) failure = err;
            settle();
          });
          position += len;
        }
      }
      while (inflight > 0 && !failure) await new Promise<void>((r) => (wake = r));
      if (failure) throw failure;
      if (signal?.aborted) throw abortedError(target, protocol, signal.reason);
      if (fsync && extensions(c)['fsync@openssh.com']) await cb((d) => c.sftp.ext_openssh_fsync(h, d));
      handle = undefined;
      await cb((d) => c.sftp.close(h, d));
      await replace(c, tmp, t.path);
    } catch (err) {
      src.stream.destroy();
      if (handle && !c.closed) await cb((d) => c.sftp.close(handle as Buffer, d)).catch(() => {});
      if (!c.closed) await cb((d) => c.sftp.unlink(tmp, d)).catch(() => {});
      if (signal?.aborted) throw abortedError(target, protocol, signal.reason);
      const lost =
        c.closed ||
        /No response from server|Not connected|ECONNRESET|EPIPE/.test(String((err as Error)?.message));
      if (lost && !(err instanceof UploadError))
        throw wrapError(
          err,
          'ERR_UPLOAD_FAILED',
          `connection to ${t.host} lost while uploading ${target}`,
          ctx,
        );
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `upload to ${target} failed`, ctx);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return {
    name: protocol,
    capabilities: { delete: true, stat: true, atomicReplace: true },
    put,
    async delete(target: string, opts?: OpOptions) {
      const t = parseSshTarget(target, protocol);
      throwIfAborted(opts?.signal, target, protocol);
      try {
        const c = await connect(t);
        await cb((d) => c.sftp.unlink(t.path, d));
      } catch (err) {
        if (isMissing(err)) return;
        throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot delete ${target}`, {
          target,
          protocol,
          host: t.host,
        });
      }
    },
    async stat(target: string, opts?: OpOptions): Promise<TargetStat | undefined> {
      const t = parseSshTarget(target, protocol);
      throwIfAborted(opts?.signal, target, protocol);
      try {
        const c = await connect(t);
        const st = await cb<Stats>((d) => c.sftp.stat(t.path, d));
        return st.isFile() ? { size: st.size, mtime: new Date(st.mtime * 1000) } : undefined;
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot stat ${target}`, {
          target,
          protocol,
          host: t.host,
        });
      }
    },
    async dispose() {
      disposed = true;
      const all = [...pool.values()];
      pool.clear();
      await Promise.all(
        all.map(async (p) => {
          const c = await p.catch(() => undefined);
          if (c && !c.closed) {
            await new Promise<void>((r) => {
              c.client.once('close', () => r());
              c.client.end();
              setTimeout(r, 2000).unref();
            });
          }
        }),
      );
    },
  };
};
