import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  createTransport,
  type TlsTrust,
  type Transport,
  TransportError,
  type TransportOptions,
} from '@hepix/transport';
import { ImageCacheError } from './errors.js';

/** How images are fetched. */
export interface DownloadOptions {
  /** Attempts after the first one, per image and run, when the transfer fails (default 3). */
  retries?: number;
  /** First back-off delay; it doubles per attempt, with jitter (default 1 000 ms). */
  backoffMs?: number;
  /** Longest back-off delay (default 30 000 ms). */
  maxBackoffMs?: number;
  /** Time allowed for the response headers and between two body chunks (default 60 000 ms). */
  timeoutMs?: number;
  /** Resume partial files with HTTP `Range` (default true). */
  resume?: boolean;
  /** Extra CA certificates (PEM) for https image servers, in addition to the system roots. */
  ca?: string | string[];
  /**
   * Verify https servers (default true). The originals never did; the sha512 check still protects the image,
   * so turning this off only exposes which images are fetched.
   */
  rejectUnauthorized?: boolean;
  /**
   * How https image servers are authenticated, instead of `ca` and `rejectUnauthorized`: e.g.
   * `{ mode: 'igtf', certDir: '/etc/grid-security/certificates' }` for servers with grid host certificates.
   */
  tls?: TlsTrust;
  /** Use `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` from the environment (default true). */
  proxyFromEnv?: boolean;
  /** Sent as `User-Agent` (default `hepix-vmtools/vmcatcher`). */
  userAgent?: string;
}

export interface TransferRequest {
  identifier: string;
  uri: string;
  /** The partial file. */
  path: string;
  size: number;
  sha512: string;
  onProgress?: (bytes: number, total: number) => void;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** Waits between attempts; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export interface TransferResult {
  bytes: number;
  sha512: string;
  /** Bytes already present in the partial file when the transfer (re)started, if it resumed. */
  resumedFrom: number;
  attempts: number;
}

/** The transport of one cache run (@hepix/transport: one redirect policy, proxies, TLS trust). */
export function createDownloadTransport(options: DownloadOptions, log?: TransportOptions['log']): Transport {
  return createTransport({
    idleTimeoutMs: options.timeoutMs ?? 60_000,
    userAgent: options.userAgent ?? 'hepix-vmtools/vmcatcher',
    ...(options.proxyFromEnv === false ? { env: {} } : {}),
    ...(log ? { log } : {}),
  });
}

/** How image servers are authenticated under these options. */
export function downloadTrust(options: DownloadOptions): TlsTrust {
  if (options.tls) return options.tls;
  if (options.rejectUnauthorized === false) return { mode: 'none' };
  if (options.ca !== undefined) {
    return { mode: 'browser', extraCa: Array.isArray(options.ca) ? options.ca : [options.ca] };
  }
  return { mode: 'browser' };
}

/** Transport failures that another attempt cannot change: the policy or the configuration refuses. */
const PERMANENT = new Set(['ERR_TRANSPORT_REDIRECT', 'ERR_TRANSPORT_URL', 'ERR_TRANSPORT_TRUST']);

class Retryable extends Error {}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

async function hashPrefix(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
}

/**
 * Streams `uri` into `path`, hashing every byte once as it arrives, resuming an existing partial file with
 * `Range` and retrying with exponential back-off. Resolves only when the file has exactly `size` bytes whose
 * sha512 is `sha512`; a mismatch deletes nothing but throws `ERR_CACHE_VERIFY` (the caller discards the file).
 */
export async function transfer(
  req: TransferRequest,
  options: DownloadOptions,
  transport: Transport,
): Promise<TransferResult> {
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const allowResume = options.resume ?? true;
  const sleep = req.sleep ?? defaultSleep;
  const log = req.log ?? (() => {});
  const expected = req.sha512.toLowerCase();
  const trust = downloadTrust(options);
  let url: URL;
  try {
    url = new URL(req.uri);
  } catch (cause) {
    throw new ImageCacheError('ERR_CACHE_DOWNLOAD', `invalid image URI ${JSON.stringify(req.uri)}`, {
      identifier: req.identifier,
      uri: req.uri,
      cause,
    });
  }
  if (!['http:', 'https:', 'file:'].includes(url.protocol)) {
    throw new ImageCacheError(
      'ERR_CACHE_DOWNLOAD',
      `unknown transport ${url.protocol} for ${req.identifier}`,
      {
        identifier: req.identifier,
        uri: req.uri,
      },
    );
  }

  let failures = 0;
  let attempts = 0;
  let rangeRefused = false;
  let firstOffset: number | undefined;
  for (;;) {
    attempts++;
    // Work out where to start: the partial file's bytes are re-hashed so the digest covers the whole image.
    const hash = createHash('sha512');
    let offset = (allowResume && !rangeRefused ? await fileSize(req.path) : undefined) ?? 0;
    if (offset > req.size) offset = 0;
    if (offset > 0) await hashPrefix(req.path, hash);
    else await (await open(req.path, 'w')).close();
    firstOffset ??= offset;
    if (offset > 0) log('info', `${req.identifier}: resuming at byte ${offset} of ${req.size}`);
    let bytes = offset;
    try {
      if (offset === req.size) {
        // Nothing left to fetch: the partial file is complete.
      } else {
        const { body, restart } = await open_(url, offset, transport, trust, req.identifier);
        if (restart) {
          await truncate(req.path, 0);
          hash.destroy?.();
          const fresh = createHash('sha512');
          bytes = 0;
          await stream(
            body,
            req,
            fresh,
            () => bytes,
            (n) => (bytes = n),
            0,
          );
          return finish(fresh, bytes);
        }
        await stream(
          body,
          req,
          hash,
          () => bytes,
          (n) => (bytes = n),
          offset,
        );
      }
      return finish(hash, bytes);
    } catch (err) {
      if (err instanceof ImageCacheError) throw err;
      if (err instanceof RangeRefused) {
        rangeRefused = true;
        continue;
      }
      failures++;
      const message = err instanceof Error ? err.message : String(err);
      const retryable =
        err instanceof Retryable ||
        !(
          (err instanceof HttpStatusError && !err.retryable) ||
          (err instanceof TransportError && PERMANENT.has(err.code))
        );
      if (!retryable || failures > retries) {
        throw new ImageCacheError('ERR_CACHE_DOWNLOAD', `download of ${req.identifier} failed: ${message}`, {
          identifier: req.identifier,
          uri: req.uri,
          ...(err instanceof HttpStatusError ? { status: err.status } : {}),
          cause: err,
        });
      }
      const delay =
        Math.min(maxBackoff, backoff * 2 ** Math.max(0, failures - 1)) * (0.75 + Math.random() * 0.5);
      log('warn', `${req.identifier}: ${message}; retrying in ${Math.round(delay)} ms`);
      await sleep(delay);
    }
  }

  function finish(hash: Hash, bytes: number): TransferResult {
    const digest = hash.digest('hex');
    if (bytes !== req.size) {
      throw new ImageCacheError(
        'ERR_CACHE_VERIFY',
        `${req.identifier}: got ${bytes} bytes, the list says ${req.size}`,
        { identifier: req.identifier, uri: req.uri, path: req.path },
      );
    }
    if (digest !== expected) {
      throw new ImageCacheError(
        'ERR_CACHE_VERIFY',
        `${req.identifier}: sha512 ${digest} does not match the list`,
        {
          identifier: req.identifier,
          uri: req.uri,
          path: req.path,
        },
      );
    }
    return { bytes, sha512: digest, resumedFrom: firstOffset ?? 0, attempts };
  }
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryable: boolean,
  ) {
    super(`HTTP status ${status}`);
  }
}
class RangeRefused extends Error {}

async function open_(
  url: URL,
  offset: number,
  transport: Transport,
  tls: TlsTrust,
  identifier: string,
): Promise<{ body: Readable; restart: boolean }> {
  if (url.protocol === 'file:') {
    return {
      body: createReadStream(fileURLToPath(url), { start: offset, highWaterMark: 1024 * 1024 }),
      restart: false,
    };
  }
  const res = await transport.request(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, tls });
  if (res.status === 206 && offset > 0) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (m && Number(m[1]) === offset) return { body: res.body, restart: false };
    res.body.destroy();
    throw new RangeRefused(`${identifier}: unexpected Content-Range`);
  }
  if (res.status === 200) return { body: res.body, restart: offset > 0 };
  res.body.destroy();
  if (res.status === 416 && offset > 0) throw new RangeRefused('range not satisfiable');
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  throw new HttpStatusError(res.status, retryable);
}

async function stream(
  body: Readable,
  req: TransferRequest,
  hash: Hash,
  get: () => number,
  set: (n: number) => void,
  offset: number,
): Promise<void> {
  let lastReport = 0;
  const out = createWriteStream(req.path, { flags: offset > 0 ? 'a' : 'w', highWaterMark: 1024 * 1024 });
  let failure: unknown;
  // Every byte received is written and flushed even when the connection breaks, so a resume loses nothing.
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      if (err !== undefined) failure = err;
      body.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      const n = get() + chunk.length;
      if (n > req.size) {
        body.destroy();
        finish(
          new ImageCacheError(
            'ERR_CACHE_VERIFY',
            `${req.identifier}: more bytes than the list's ${req.size}`,
            {
              identifier: req.identifier,
              uri: req.uri,
              path: req.path,
            },
          ),
        );
        return;
      }
      hash.update(chunk);
      set(n);
      if (!out.write(chunk)) body.pause();
      if (req.onProgress) {
        const now = Date.now();
        if (now - lastReport >= 200 || n === req.size) {
          lastReport = now;
          req.onProgress(n, req.size);
        }
      }
    };
    out.on('drain', () => body.resume());
    out.on('error', (err) => {
      body.destroy();
      finish(err);
    });
    body.on('data', onData);
    body.on('end', () => finish());
    body.on('error', (err) => finish(new Retryable(err.message)));
    body.on('close', () => finish(get() < req.size ? new Retryable('connection closed') : undefined));
  });
  await new Promise<void>((resolve, reject) => {
    if (out.destroyed) {
      resolve();
      return;
    }
    out.end((err?: Error | null) => (err ? reject(err) : resolve()));
  });
  if (failure !== undefined) throw failure;
  if (get() < req.size) {
    // The server sent a complete response that is shorter than the list says: not a transfer problem.
    throw new ImageCacheError(
      'ERR_CACHE_VERIFY',
      `${req.identifier}: got ${get()} bytes, the list says ${req.size}`,
      {
        identifier: req.identifier,
        uri: req.uri,
        path: req.path,
      },
    );
  }
  // Durable before it is renamed into the cache.
  const handle = await open(req.path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
