// Retrieval of signed image lists over https, http and file URLs. The list is small (kilobytes to a few
// megabytes), so it is read into memory, with a hard size limit; images are the cache module's business.
// HTTP goes through @hepix/transport (its redirect policy, proxies and TLS trust); its error codes are mapped
// to the subscription codes and statuses of the original vmcatcher here.
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@hepix/common';
import {
  createTransport,
  redactUrl,
  type TlsTrust,
  type Transport,
  TransportError,
  type TransportErrorCode,
} from '@hepix/transport';
import { SubscriptionError, type SubscriptionErrorCode } from '../subscriptions/errors.js';

export { redactUrl };

/** How the https server of a list is authenticated: not at all, by the system roots, or by the grid CAs. */
export type TlsTrustMode = 'none' | 'browser' | 'igtf';

export type FetchLogger = Logger;

export interface ListFetcherOptions {
  /** Grid CA directory (`<hash>.0` certificates), the trust roots for `igtf` mode. */
  certDir?: string;
  /** Extra PEM CA certificates trusted in `browser` mode in addition to the system roots (e.g. a site CA). */
  extraCa?: string[];
  /** Connect, header and body timeout in milliseconds (default 60 000, as the original). */
  timeoutMs?: number;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
  /** Largest list accepted, in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Environment read for HTTPS_PROXY/HTTP_PROXY/NO_PROXY (and lower-case forms); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Concurrent connections per origin (default 16). */
  connections?: number;
  userAgent?: string;
  log?: FetchLogger;
}

export interface FetchListOptions {
  /** Default `browser`. `none` disables server authentication and logs a warning. */
  trustAnchor?: TlsTrustMode;
  /** Basic-auth credentials; they are sent only to the origin of the URL (never after a cross-origin redirect). */
  credentials?: { username?: string; password?: string };
  signal?: AbortSignal;
}

export interface FetchedList {
  data: Uint8Array;
  /** The URL finally read (after redirects), without user info. */
  url: string;
  /** The redirect targets followed, in order. */
  redirects: string[];
}

export interface ParsedListUrl {
  /** The URL without user info; query string, fragment-less path and port kept. */
  url: string;
  username?: string;
  password?: string;
}

/**
 * Splits `https://user:pass@host:port/path?q` into the URL without user info and the decoded credentials.
 * AppDB private lists use `https://TOKEN:x-oauth-basic@host/...` (the token is the user name).
 */
export function parseListUrl(input: string): ParsedListUrl {
  let u: URL;
  try {
    u = new URL(input);
  } catch (cause) {
    throw new SubscriptionError('ERR_SUB_INVALID_ARGUMENT', `Invalid URL '${redactUrl(input)}'`, { cause });
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) {
    throw new SubscriptionError('ERR_SUB_DOWNLOAD', `No retriever for the protocol '${u.protocol}'`, {
      url: redactUrl(input),
    });
  }
  const out: ParsedListUrl = { url: '' };
  if (u.username) out.username = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  u.hash = '';
  out.url = u.href;
  return out;
}

const SUBSCRIPTION_CODE: Record<TransportErrorCode, SubscriptionErrorCode> = {
  ERR_TRANSPORT_URL: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_PROTOCOL: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_REDIRECT: 'ERR_SUB_REDIRECT',
  ERR_TRANSPORT_TLS: 'ERR_SUB_TLS',
  ERR_TRANSPORT_CONNECT: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_PROXY: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_TIMEOUT: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_DEADLINE: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_ABORTED: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_TRUST: 'ERR_SUB_NO_TRUST_ANCHOR',
  ERR_TRANSPORT_BODY: 'ERR_SUB_DOWNLOAD',
  ERR_TRANSPORT_INTERNAL: 'ERR_SUB_DOWNLOAD',
};

function subscriptionError(err: unknown, url: string, mode: TlsTrustMode): SubscriptionError {
  if (err instanceof SubscriptionError) return err;
  if (!(err instanceof TransportError)) {
    return new SubscriptionError(
      'ERR_SUB_DOWNLOAD',
      `Download of '${url}' failed: ${(err as Error).message}`,
      {
        url,
        cause: err,
      },
    );
  }
  const code = SUBSCRIPTION_CODE[err.code];
  const at = err.url ?? url;
  const message =
    code === 'ERR_SUB_TLS'
      ? `https server '${new URL(at).host}' not authenticated (${err.underlyingCode ?? err.code}, trust anchor ${mode})`
      : code === 'ERR_SUB_DOWNLOAD'
        ? `Download of '${at}' failed: ${err.message}`
        : err.message;
  return new SubscriptionError(code, message, {
    url: at,
    ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }),
    cause: err,
  });
}

/**
 * Fetches image lists over one @hepix/transport (connections reused per trust mode). Proxies come from the
 * environment; TLS to the list server goes through the CONNECT tunnel with the same verification.
 */
export class ListFetcher {
  readonly #options: ListFetcherOptions;
  readonly #transport: Transport;

  constructor(options: ListFetcherOptions = {}) {
    this.#options = options;
    const timeout = options.timeoutMs ?? 60_000;
    this.#transport = createTransport({
      userAgent: options.userAgent ?? 'vmcatcher',
      connectTimeoutMs: timeout,
      idleTimeoutMs: timeout,
      maxRedirects: options.maxRedirects ?? 5,
      connections: options.connections ?? 16,
      ...(options.env ? { env: options.env } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  }

  #trust(mode: TlsTrustMode): TlsTrust {
    if (mode === 'none') return { mode: 'none' };
    if (mode === 'igtf') {
      if (!this.#options.certDir) {
        throw new SubscriptionError(
          'ERR_SUB_NO_TRUST_ANCHOR',
          'Trust anchor igtf needs a certificate directory',
        );
      }
      return { mode: 'igtf', certDir: this.#options.certDir };
    }
    return this.#options.extraCa?.length
      ? { mode: 'browser', extraCa: this.#options.extraCa }
      : { mode: 'browser' };
  }

  /** Fetches one list. Throws SubscriptionError: ERR_SUB_DOWNLOAD (10), ERR_SUB_REDIRECT (10), ERR_SUB_TLS (50). */
  async fetch(input: string, options: FetchListOptions = {}): Promise<FetchedList> {
    const parsed = parseListUrl(input);
    const credentials = {
      username: options.credentials?.username ?? parsed.username,
      password: options.credentials?.password ?? parsed.password,
    };
    const mode = options.trustAnchor ?? 'browser';
    const maxBytes = this.#options.maxBytes ?? 64 * 1024 * 1024;
    const start = new URL(parsed.url);

    if (start.protocol === 'file:') {
      const path = fileURLToPath(start);
      try {
        const st = await stat(path);
        if (st.size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
        return { data: new Uint8Array(await readFile(path)), url: parsed.url, redirects: [] };
      } catch (cause) {
        throw new SubscriptionError(
          'ERR_SUB_DOWNLOAD',
          `Cannot read '${path}': ${(cause as Error).message}`,
          {
            url: parsed.url,
            cause,
          },
        );
      }
    }

    const tls = this.#trust(mode);
    let url = parsed.url;
    try {
      const res = await this.#transport.request(start, {
        tls,
        headers: { accept: '*/*' },
        ...(credentials.username || credentials.password ? { credentials } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      url = res.url;
      if (res.status !== 200) {
        res.body.destroy();
        throw new SubscriptionError(
          'ERR_SUB_DOWNLOAD',
          `Download of '${res.url}' failed: HTTP ${res.status}`,
          {
            url: res.url,
            httpStatus: res.status,
          },
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new SubscriptionError(
            'ERR_SUB_DOWNLOAD',
            `Download of '${res.url}' failed: list larger than ${maxBytes} bytes`,
            { url: res.url },
          );
        }
        chunks.push(chunk as Buffer);
      }
      return { data: new Uint8Array(Buffer.concat(chunks, size)), url: res.url, redirects: res.redirects };
    } catch (err) {
      throw subscriptionError(err, url, mode);
    }
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }
}

/** One-shot convenience: fetch a list with a throwaway ListFetcher. */
export async function fetchImageList(
  url: string,
  options: FetchListOptions & ListFetcherOptions = {},
): Promise<FetchedList> {
  const fetcher = new ListFetcher(options);
  try {
    return await fetcher.fetch(url, options);
  } finally {
    await fetcher.close();
  }
}
