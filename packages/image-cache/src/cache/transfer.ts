// One image transfer: the source (http/https through @hepix/transport, or a local `file:` copy where the site
// allows it) streamed once into a partial file while its sha512 is computed and its bytes are counted; resumed
// with HTTP Range, retried with back-off, bounded by an overall deadline per attempt. It resolves only when the
// file holds exactly `size` bytes whose sha512 is `sha512`.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { delay, type Logger, messageOf, noopLogger } from '@hepix/common';
import type { TrustAnchorMode } from '@hepix/imagelist-store';
import {
  createTransport,
  redactUrl,
  type TlsTrust,
  type Transport,
  TransportError,
  type TransportOptions,
} from '@hepix/transport';
import { type DeadlineOptions, transferAllowanceMs } from '../deadlines.js';
import { ImageCacheError, type ImageCacheErrorCode, type VerifyReason } from './errors.js';
import { type HashSession, type HashSlot, HashWorkerError, openHashSession } from './hash-workers.js';
import type { PartialFile } from './storage.js';

/** How images are fetched. */
export interface DownloadOptions extends DeadlineOptions {
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
  /** Extra CA certificates (PEM) for https image servers of `browser` subscriptions, beside the system roots. */
  ca?: string | string[];
  /**
   * `false` authenticates no image server (the originals' `wget --no-check-certificate`; the sha512 check still
   * protects the image, so this only exposes which images are fetched). Default true.
   */
  rejectUnauthorized?: boolean;
  /**
   * One trust for every image server, instead of each subscription's trust anchor (`ca` and
   * `rejectUnauthorized` are then ignored).
   */
  tls?: TlsTrust;
  /** Use `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` from the environment (default true). */
  proxyFromEnv?: boolean;
  /** Sent as `User-Agent` (default `hepix-vmtools/vmcatcher`). */
  userAgent?: string;
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

/**
 * How the image servers of a subscription are authenticated: its own trust anchor (`igtf`: the grid CA
 * directory, `browser`: the system roots and `ca`, `none`: not at all), unless the options name one trust for
 * every server.
 */
export function imageTrust(
  options: DownloadOptions,
  anchor: TrustAnchorMode,
  certDir: string | undefined,
  about: { image: string; subscription: string },
): TlsTrust {
  if (options.tls) return options.tls;
  if (options.rejectUnauthorized === false) return { mode: 'none' };
  if (anchor === 'none') return { mode: 'none' };
  if (anchor === 'igtf') {
    if (!certDir) {
      throw new ImageCacheError(
        'ERR_CACHE_TRUST',
        `subscription ${about.subscription} authenticates its servers with the grid CA directory (igtf), and no CA directory was given`,
        about,
      );
    }
    return { mode: 'igtf', certDir };
  }
  if (options.ca !== undefined)
    return { mode: 'browser', extraCa: Array.isArray(options.ca) ? options.ca : [options.ca] };
  return { mode: 'browser' };
}

/**
 * The image URI as a URL, if the cache may fetch it: http and https always, `file:` only when the site allows
 * it (a list must not make the cache copy local files into a world-readable directory). `ERR_CACHE_URI_REFUSED`.
 */
export function imageSource(
  uri: string,
  allowFile: boolean,
  about: { image: string; subscription: string },
): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (cause) {
    throw new ImageCacheError(
      'ERR_CACHE_URI_REFUSED',
      `image URI ${JSON.stringify(redactUrl(uri))} is not a URL`,
      {
        ...about,
        cause,
      },
    );
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  if (url.protocol === 'file:' && allowFile) {
    if (url.host !== '' && url.host !== 'localhost') {
      throw new ImageCacheError('ERR_CACHE_URI_REFUSED', `file: image URI names a host: ${redactUrl(uri)}`, {
        ...about,
        uri: redactUrl(uri),
      });
    }
    return url;
  }
  throw new ImageCacheError(
    'ERR_CACHE_URI_REFUSED',
    url.protocol === 'file:'
      ? 'image URI is a local file (file:), refused: images come from the network unless the site allows file: URIs'
      : `image URI scheme ${url.protocol} refused: only http and https`,
    { ...about, uri: redactUrl(uri) },
  );
}

export interface TransferRequest {
  image: string;
  subscription: string;
  url: URL;
  file: PartialFile;
  size: number;
  sha512: string;
  tls: TlsTrust;
  /** Every chunk written (for the free-space ledger). */
  onBytes?: (bytes: number) => void;
  /** Progress, at most every 200 ms and at the end. */
  onProgress?: (bytes: number, total: number) => void;
  log?: Logger;
  /** Waits between attempts; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
  /** Stops the transfer (the run's lease was lost). */
  signal?: AbortSignal;
}

export interface TransferResult {
  bytes: number;
  sha512: string;
  /** Bytes already present in the partial file when the transfer (re)started, if it resumed. */
  resumedFrom: number;
  attempts: number;
}

/** Transport failures that another attempt cannot change: the policy or the configuration refuses. */
const PERMANENT = new Set([
  'ERR_TRANSPORT_REDIRECT',
  'ERR_TRANSPORT_URL',
  'ERR_TRANSPORT_TRUST',
  'ERR_TRANSPORT_TLS',
  'ERR_TRANSPORT_INTERNAL',
]);

const TRANSPORT_CODES: Partial<Record<string, ImageCacheErrorCode>> = {
  ERR_TRANSPORT_DEADLINE: 'ERR_CACHE_DEADLINE',
  ERR_TRANSPORT_TLS: 'ERR_CACHE_TLS',
  ERR_TRANSPORT_TRUST: 'ERR_CACHE_TRUST',
  ERR_TRANSPORT_REDIRECT: 'ERR_CACHE_REDIRECT',
  ERR_TRANSPORT_URL: 'ERR_CACHE_URI_REFUSED',
  ERR_TRANSPORT_INTERNAL: 'ERR_CACHE_INTERNAL',
};

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryable: boolean,
  ) {
    super(`HTTP status ${status}`);
  }
}
class RangeRefused extends Error {}
/** A failure reading the source (a `file:` image): retried like a network failure. */
class SourceError extends Error {}
/** A failure writing the partial file: never retried. */
class LocalError extends Error {}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

function verifyError(req: TransferRequest, reason: VerifyReason, message: string): ImageCacheError {
  return new ImageCacheError('ERR_CACHE_VERIFY', message, {
    image: req.image,
    subscription: req.subscription,
    uri: redactUrl(req.url.href),
    reason,
  });
}

export async function transfer(
  req: TransferRequest,
  options: DownloadOptions,
  transport: Transport,
): Promise<TransferResult> {
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const allowResume = options.resume ?? true;
  const sleep = req.sleep ?? ((ms: number) => delay(ms, req.signal));
  const log = req.log ?? noopLogger;
  const expected = req.sha512.toLowerCase();
  const shown = redactUrl(req.url.href);
  const about = { image: req.image, subscription: req.subscription, uri: shown };

  let failures = 0;
  let attempts = 0;
  let rangeRefused = false;
  let firstOffset: number | undefined;
  for (;;) {
    attempts++;
    req.signal?.throwIfAborted();
    let hash = openHashSession();
    let offset = 0;
    try {
      offset = allowResume && !rangeRefused ? await req.file.size() : 0;
      if (offset > req.size) offset = 0;
      if (offset === 0 && (await req.file.size()) > 0) await req.file.truncate();
      // The partial file's bytes are hashed again so that the digest covers the whole image.
      if (offset > 0) await req.file.hashInto(hash);
    } catch (err) {
      hash.close();
      throw local(err);
    }
    firstOffset ??= offset;
    if (offset > 0) log('info', `resuming at byte ${offset} of ${req.size}`, about);
    let bytes = offset;
    const allowance = transferAllowanceMs(req.size - offset, options);
    try {
      if (offset < req.size) {
        const lender: Lender = {};
        const source = await openSource(req, offset, transport, Date.now() + allowance, lender);
        if (source.restart) {
          try {
            await req.file.truncate();
          } catch (err) {
            throw new LocalError(messageOf(err), { cause: err });
          }
          hash.close();
          hash = openHashSession();
          bytes = 0;
        }
        bytes = await stream(source.body, req, hash, bytes, lender);
      }
      const digest = await hash.digest();
      if (bytes !== req.size) throw verifyError(req, 'size', `got ${bytes} bytes, the list says ${req.size}`);
      if (digest !== expected) throw verifyError(req, 'sha512', 'the sha512 does not match the list');
      return { bytes, sha512: digest, resumedFrom: firstOffset ?? 0, attempts };
    } catch (err) {
      hash.close();
      if (err instanceof ImageCacheError) throw err;
      if (err instanceof HashWorkerError) throw local(err);
      if (err instanceof RangeRefused) {
        rangeRefused = true;
        continue;
      }
      if (err instanceof LocalError) throw local(err.cause);
      failures++;
      const message = messageOf(err);
      const permanent =
        (err instanceof HttpStatusError && !err.retryable) ||
        (err instanceof TransportError && PERMANENT.has(err.code)) ||
        req.signal?.aborted === true;
      if (permanent || failures > retries) throw finalError(err, req, shown, allowance, options);
      const wait =
        Math.min(maxBackoff, backoff * 2 ** Math.max(0, failures - 1)) * (0.75 + Math.random() * 0.5);
      log('warn', `${message}; retrying in ${Math.round(wait)} ms`, about);
      await sleep(wait);
    }
  }

  function local(err: unknown): ImageCacheError {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (err instanceof ImageCacheError) return err;
    if (err instanceof HashWorkerError)
      return new ImageCacheError('ERR_CACHE_INTERNAL', err.message, { ...about, cause: err });
    if (DISK_FULL.has(code ?? '')) {
      return new ImageCacheError('ERR_CACHE_NO_SPACE', `the disk filled up while writing ${req.file.name}`, {
        ...about,
        cause: err,
      });
    }
    return new ImageCacheError(
      'ERR_CACHE_INTERNAL',
      `cannot write the partial file ${req.file.name}: ${messageOf(err)}`,
      {
        ...about,
        cause: err,
      },
    );
  }
}

function finalError(
  err: unknown,
  req: TransferRequest,
  shown: string,
  allowance: number,
  options: DownloadOptions,
): ImageCacheError {
  const about = { image: req.image, subscription: req.subscription, uri: shown, cause: err };
  if (err instanceof TransportError) {
    const code = TRANSPORT_CODES[err.code] ?? 'ERR_CACHE_DOWNLOAD';
    const message =
      code === 'ERR_CACHE_DEADLINE'
        ? `download did not finish within ${Math.round(allowance / 1000)} s (${req.size} bytes at a minimum of ${
            options.minRate ?? 'the default'
          } bytes/s plus the fetch timeout)`
        : `download failed: ${err.message}`;
    return new ImageCacheError(code, message, about);
  }
  if (err instanceof HttpStatusError)
    return new ImageCacheError('ERR_CACHE_DOWNLOAD', `download failed: HTTP status ${err.status}`, {
      ...about,
      httpStatus: err.status,
    });
  if (err instanceof SourceError)
    return new ImageCacheError('ERR_CACHE_DOWNLOAD', `download failed: ${err.message}`, about);
  if ((err as { name?: string } | null)?.name === 'AbortError')
    return new ImageCacheError('ERR_CACHE_DOWNLOAD', 'download stopped: the run lost its lock', about);
  return new ImageCacheError('ERR_CACHE_INTERNAL', `download failed: ${messageOf(err)}`, about);
}

/** Where the transport reads the body into while the transfer streams it: the free part of the slot being filled. */
interface Lender {
  provide?: (() => Uint8Array | undefined) | undefined;
}

async function openSource(
  req: TransferRequest,
  offset: number,
  transport: Transport,
  deadline: number,
  lender: Lender,
): Promise<{ body: Readable; restart: boolean }> {
  if (req.url.protocol === 'file:') {
    const body = createReadStream(fileURLToPath(req.url), { start: offset, highWaterMark: 1 << 20 });
    // Fails at once for a missing or unreadable file, before anything is written.
    await new Promise<void>((resolve, reject) => {
      body.once('open', () => resolve());
      body.once('error', (err) =>
        reject(new SourceError(`cannot read ${req.url.pathname}: ${messageOf(err)}`)),
      );
    });
    return { body, restart: false };
  }
  const res = await transport.request(req.url, {
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    tls: req.tls,
    deadline,
    // Large socket reads into one reused buffer (plain http): a third less CPU per byte than the pooled path.
    bulk: true,
    readInto: () => lender.provide?.(),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (res.status === 206 && offset > 0) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (m && Number(m[1]) === offset) return { body: res.body, restart: false };
    res.body.destroy();
    throw new RangeRefused('unexpected Content-Range');
  }
  if (res.status === 200) return { body: res.body, restart: offset > 0 };
  res.body.destroy();
  if (res.status === 416 && offset > 0) throw new RangeRefused('range not satisfiable');
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  throw new HttpStatusError(res.status, retryable);
}

/** Bytes written between two background fsyncs: the final one then waits for little, not a whole image. */
const SYNC_EVERY_BYTES = 64 << 20;

/**
 * Streams `body` to the end of the partial file through the hash session's slots; returns the byte count.
 * Every byte received is kept. Per slot, the append and the worker's hash update run at the same time.
 */
async function stream(
  body: Readable,
  req: TransferRequest,
  hash: HashSession,
  start: number,
  lender: Lender,
): Promise<number> {
  let bytes = start;
  let lastReport = 0;
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
  };
  // Appends stay in order; after a failed one, nothing more is written.
  let appended: Promise<void> = Promise.resolve();
  let writeFailed = false;
  const pending = new Set<Promise<void>>();
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  const flush = (slot: HashSlot, length: number) => {
    const view = slot.bytes.subarray(0, length);
    const write = appended.then(async () => {
      if (writeFailed) return;
      try {
        await req.file.append(view);
      } catch (err) {
        writeFailed = true;
        fail(new LocalError(messageOf(err), { cause: err }));
        return;
      }
      unsynced += length;
      if (unsynced >= SYNC_EVERY_BYTES && !syncing) {
        unsynced = 0;
        syncing = req.file
          .sync()
          .catch((err: unknown) => fail(new LocalError(messageOf(err), { cause: err })))
          .finally(() => {
            syncing = undefined;
          });
      }
    });
    appended = write;
    const done = Promise.all([write, hash.hash(slot, length).catch(fail)]).then(() => {
      hash.release(slot);
      pending.delete(done);
    });
    pending.add(done);
  };

  let slot: HashSlot | undefined;
  let fill = 0;
  // Copies `chunk` from `offset` into slots while there are free ones; returns where it stopped.
  const place = (chunk: Buffer, offset: number): number => {
    while (offset < chunk.length) {
      slot ??= hash.trySlot();
      if (!slot) return offset;
      const copied = chunk.copy(slot.bytes, fill, offset);
      fill += copied;
      offset += copied;
      if (fill === slot.bytes.length) {
        flush(slot, fill);
        slot = undefined;
        fill = 0;
      }
    }
    return offset;
  };
  let done = false;
  let waiting = false;
  // The transport reads the next bytes straight into the free part of the current slot (no copy), when
  // nothing received is still waiting in the stream (it would be placed there first) and that part was not
  // lent already (the bytes read into it then are not body bytes: headers, chunk sizes).
  let lentSlot: HashSlot | undefined;
  let lentAt = -1;
  lender.provide = () => {
    if (done || waiting || body.readableLength > 0) return undefined;
    slot ??= hash.trySlot();
    if (!slot || (lentSlot === slot && lentAt === fill)) return undefined;
    lentSlot = slot;
    lentAt = fill;
    return slot.bytes.subarray(fill);
  };
  // 'data' events, not async iteration: read() of a stream with several chunks buffered concatenates them
  // (a copy of every byte); with 'data' each chunk of the transport is copied only into its slot.
  await new Promise<void>((resolve) => {
    let ended = false;
    const finish = (err?: unknown) => {
      if (err !== undefined) fail(err);
      if (done || (waiting && err === undefined)) return;
      done = true;
      body.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      const n = bytes + chunk.length;
      if (n > req.size) {
        body.destroy();
        finish(verifyError(req, 'size', `more bytes than the list's ${req.size}`));
        return;
      }
      bytes = n;
      req.onBytes?.(chunk.length);
      if (req.onProgress) {
        const now = Date.now();
        if (now - lastReport >= 200 || n === req.size) {
          lastReport = now;
          req.onProgress(n, req.size);
        }
      }
      if (slot && chunk.buffer === slot.bytes.buffer && chunk.byteOffset === slot.bytes.byteOffset + fill) {
        // Read into the slot where it belongs.
        fill += chunk.length;
        if (fill === slot.bytes.length) {
          flush(slot, fill);
          slot = undefined;
          fill = 0;
        }
        return;
      }
      const stopped = place(chunk, 0);
      if (stopped === chunk.length) return;
      // Every slot is being written or hashed: the connection waits (backpressure) until one is free.
      body.pause();
      waiting = true;
      void (async () => {
        for (let offset = stopped; offset < chunk.length; ) {
          const free = await hash.slot();
          if (done) {
            // The transfer failed meanwhile: what is left of the chunk is not kept.
            hash.release(free);
            return;
          }
          slot = free;
          offset = place(chunk, offset);
        }
        waiting = false;
        if (ended) finish();
        else if (!done) body.resume();
      })();
    };
    body.on('data', onData);
    body.on('end', () => {
      ended = true;
      finish();
    });
    body.on('error', (err) => finish(req.url.protocol === 'file:' ? new SourceError(messageOf(err)) : err));
    body.on('close', () => {
      if (ended) return;
      if (bytes < req.size)
        finish(new TransportError('ERR_TRANSPORT_CONNECT', 'connection closed before the end'));
      else {
        ended = true;
        finish();
      }
    });
  });
  lender.provide = undefined;
  // Everything received is flushed, even after a broken connection, so a resume loses nothing.
  if (slot) {
    if (fill > 0) flush(slot, fill);
    else hash.release(slot);
  }
  while (pending.size > 0) await Promise.all(pending);
  await syncing;
  if (failure !== undefined) throw failure;
  if (bytes < req.size) {
    // The server sent a complete response that is shorter than the list says: not a transfer problem.
    throw verifyError(req, 'size', `got ${bytes} bytes, the list says ${req.size}`);
  }
  try {
    // Durable before it is moved into the cache.
    await req.file.sync();
  } catch (err) {
    throw new LocalError(messageOf(err), { cause: err });
  }
  return bytes;
}
