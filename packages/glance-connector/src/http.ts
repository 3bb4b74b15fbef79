// The connector's requests to Keystone and Glance, through @hepix/transport (its proxies, redirect policy and
// TLS): this module only binds the cloud's TLS settings to every request, gives uploads a transport that waits
// long enough for Glance to store the bytes, and turns transport failures into ERR_GLANCE_CONNECT.
import type { Readable } from 'node:stream';
import type { Logger } from '@hepix/common';
import { createTransport, redactUrl, type TlsTrust, type Transport, TransportError } from '@hepix/transport';
import { GlanceConnectorError } from './errors.js';

export interface HttpClientOptions {
  /** Extra CA certificates (PEM) for https endpoints; the system roots stay trusted. */
  ca?: string[];
  /** Do not authenticate https servers (clouds.yaml `verify: false`); logged as a warning once per origin. */
  insecure?: boolean;
  /** Connect timeout, and the longest wait for headers or the next body bytes (default 60 000 ms). */
  timeoutMs?: number;
  /** How long Glance may take to answer an upload, i.e. to store every byte (default 1 hour). */
  uploadTimeoutMs?: number;
  /** Environment for HTTPS_PROXY / HTTP_PROXY / NO_PROXY (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Readable | Uint8Array | string;
  /** An image upload: waits up to `uploadTimeoutMs` for the answer. */
  upload?: boolean;
  /** May be sent twice (a token request): retried once on a connection the server closed meanwhile. */
  idempotent?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** The URL answered (after redirects), without credentials. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Read it (`readText`, `readJson`) or `discard` it. */
  body: Readable;
}

export interface HttpClient {
  request(url: string, options?: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

function connectError(err: unknown, method: string, url: string): GlanceConnectorError {
  if (err instanceof GlanceConnectorError) return err;
  const shown = redactUrl(url);
  const why = err instanceof TransportError ? `${err.message} (${err.code})` : (err as Error).message;
  return new GlanceConnectorError('ERR_GLANCE_CONNECT', `${method} ${shown}: ${why}`, {
    url: shown,
    cause: err,
  });
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const tls: TlsTrust = options.insecure
    ? { mode: 'none' }
    : options.ca?.length
      ? { mode: 'browser', extraCa: options.ca }
      : { mode: 'browser' };
  const common = {
    userAgent: 'vmcatcher-glance',
    connectTimeoutMs: timeoutMs,
    ...(options.env ? { env: options.env } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  const transport = createTransport({ ...common, idleTimeoutMs: timeoutMs });
  let uploads: Transport | undefined;
  return {
    async request(url, req = {}) {
      const method = req.method ?? 'GET';
      if (req.upload && !uploads)
        uploads = createTransport({ ...common, idleTimeoutMs: options.uploadTimeoutMs ?? 3_600_000 });
      const via = req.upload && uploads ? uploads : transport;
      try {
        const r = await via.request(url, {
          method,
          tls,
          ...(req.headers ? { headers: req.headers } : {}),
          ...(req.body === undefined ? {} : { body: req.body }),
          ...(req.signal ? { signal: req.signal } : {}),
          ...(req.idempotent ? { idempotent: true } : {}),
        });
        r.body.on('error', () => {}); // read errors reach the reader (readText/readJson) as rejections
        return { status: r.status, url: r.url, headers: r.headers, body: r.body };
      } catch (err) {
        throw connectError(err, method, url);
      }
    },
    async close() {
      await Promise.all([transport.close(), uploads?.close()]);
    },
  };
}

/** The answer's text, at most `maxBytes` (default 64 MiB: a page of Glance images). */
export async function readText(res: HttpResponse, maxBytes = 64 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new GlanceConnectorError('ERR_GLANCE_HTTP', `an answer larger than ${maxBytes} bytes`, {
          httpStatus: res.status,
        });
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw err instanceof GlanceConnectorError ? err : connectError(err, 'reading the answer of', res.url);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The answer as JSON; ERR_GLANCE_HTTP when it is not. */
export async function readJson<T>(res: HttpResponse): Promise<T> {
  const text = await readText(res);
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new GlanceConnectorError('ERR_GLANCE_HTTP', `an answer that is not JSON: ${text.slice(0, 200)}`, {
      httpStatus: res.status,
      cause,
    });
  }
}

/** Drops an answer whose body does not matter (frees the connection). */
export function discard(res: HttpResponse | undefined): void {
  res?.body.resume();
}
