// Retrieval of signed image lists over https, http and file URLs through @hepix/transport (its redirect
// policy, proxies and TLS trust). A list is small (kilobytes to a few megabytes), so it is read into memory
// under a hard size limit, counted while it arrives; images are never fetched here.
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { messageOf } from '@hepix/common';
import {
  redactUrl,
  type TlsTrust,
  type Transport,
  TransportError,
  type TransportErrorCode,
} from '@hepix/transport';
import { type ListClientErrorCode, ListClientError } from './errors.js';

/** Default largest list: 64 MiB (real VO-wide AppDB lists are a few MiB). */
export const DEFAULT_MAX_LIST_BYTES = 64 * 1024 * 1024;

export interface FetchListOptions {
  /** How the https server is authenticated (default: the system roots). */
  tls?: TlsTrust;
  /** Basic-auth credentials; sent only to the first origin. Override any `user:pass@` in the URL. */
  credentials?: { username?: string; password?: string };
  /** Largest list accepted, in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Absolute time (epoch ms) after which the whole fetch fails with `ERR_LIST_DEADLINE`. */
  deadline?: number;
  signal?: AbortSignal;
  /** Extra request headers (e.g. `user-agent`). */
  headers?: Record<string, string>;
}

export interface FetchedList {
  data: Uint8Array;
  /** The URL finally read (after redirects), without user info. */
  url: string;
  /** The redirect targets followed, in order. */
  redirects: string[];
}

export interface ParsedListUrl {
  /** The URL without user info and fragment; query string and port kept. */
  url: string;
  username?: string;
  password?: string;
}

/**
 * Splits `https://user:pass@host:port/path?q` into the URL without user info and the decoded credentials.
 * AppDB private lists use `https://TOKEN:x-oauth-basic@host/...` (the token is the user name).
 * `ERR_LIST_FETCH` for what is not an http, https or file URL.
 */
export function parseListUrl(input: string): ParsedListUrl {
  let u: URL;
  try {
    u = new URL(input);
  } catch (cause) {
    throw new ListClientError('ERR_LIST_FETCH', `Invalid URL '${redactUrl(input)}'`, { cause });
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) {
    throw new ListClientError('ERR_LIST_FETCH', `No retriever for the protocol '${u.protocol}'`, {
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

const CODE: Record<TransportErrorCode, ListClientErrorCode> = {
  ERR_TRANSPORT_URL: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_PROTOCOL: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_REDIRECT: 'ERR_LIST_REDIRECT',
  ERR_TRANSPORT_TLS: 'ERR_LIST_TLS',
  ERR_TRANSPORT_CONNECT: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_PROXY: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_TIMEOUT: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_DEADLINE: 'ERR_LIST_DEADLINE',
  ERR_TRANSPORT_ABORTED: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_TRUST: 'ERR_LIST_TRUST',
  ERR_TRANSPORT_BODY: 'ERR_LIST_FETCH',
  ERR_TRANSPORT_INTERNAL: 'ERR_LIST_INTERNAL',
};

function fromTransport(err: unknown, url: string, tls: TlsTrust): ListClientError {
  if (err instanceof ListClientError) return err;
  if (!(err instanceof TransportError)) {
    return new ListClientError('ERR_LIST_INTERNAL', `Download of '${url}' failed: ${messageOf(err)}`, {
      url,
      cause: err,
    });
  }
  const code = CODE[err.code];
  const at = err.url ?? url;
  const message =
    code === 'ERR_LIST_TLS'
      ? `https server '${new URL(at).host}' not authenticated (${err.underlyingCode ?? err.code}, trust anchor ${tls.mode})`
      : code === 'ERR_LIST_REDIRECT' || code === 'ERR_LIST_TRUST'
        ? err.message
        : `Download of '${at}' failed: ${err.message}`;
  return new ListClientError(code, message, {
    url: at,
    ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }),
    cause: err,
  });
}

async function readLocal(url: string, maxBytes: number): Promise<FetchedList> {
  const path = fileURLToPath(url);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const st = await handle.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > maxBytes) {
      throw new ListClientError('ERR_LIST_TOO_LARGE', `'${path}' is larger than ${maxBytes} bytes`, { url });
    }
    return { data: new Uint8Array(await handle.readFile()), url, redirects: [] };
  } catch (cause) {
    if (cause instanceof ListClientError) throw cause;
    throw new ListClientError('ERR_LIST_FETCH', `Cannot read '${path}': ${messageOf(cause)}`, { url, cause });
  } finally {
    await handle?.close();
  }
}

/**
 * Fetches one signed list. `file:` URLs are read from disk; http and https go through `transport`.
 * Throws ListClientError: ERR_LIST_FETCH (with `httpStatus` for an HTTP error), ERR_LIST_REDIRECT,
 * ERR_LIST_TLS, ERR_LIST_TRUST, ERR_LIST_TOO_LARGE, ERR_LIST_DEADLINE.
 */
export async function fetchList(
  transport: Transport,
  input: string,
  options: FetchListOptions = {},
): Promise<FetchedList> {
  const parsed = parseListUrl(input);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_LIST_BYTES;
  if (parsed.url.startsWith('file:')) return readLocal(parsed.url, maxBytes);
  const credentials = {
    username: options.credentials?.username ?? parsed.username,
    password: options.credentials?.password ?? parsed.password,
  };
  const tls = options.tls ?? { mode: 'browser' };
  let url = parsed.url;
  try {
    const res = await transport.request(parsed.url, {
      tls,
      headers: { accept: '*/*', ...options.headers },
      ...(credentials.username || credentials.password ? { credentials } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
    });
    url = res.url;
    if (res.status !== 200) {
      res.body.destroy();
      throw new ListClientError('ERR_LIST_FETCH', `Download of '${res.url}' failed: HTTP ${res.status}`, {
        url: res.url,
        httpStatus: res.status,
      });
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.body.destroy();
      throw new ListClientError('ERR_LIST_TOO_LARGE', `'${res.url}' is larger than ${maxBytes} bytes`, {
        url: res.url,
      });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new ListClientError('ERR_LIST_TOO_LARGE', `'${res.url}' is larger than ${maxBytes} bytes`, {
          url: res.url,
        });
      }
      chunks.push(chunk as Buffer);
    }
    return { data: new Uint8Array(Buffer.concat(chunks, size)), url: res.url, redirects: res.redirects };
  } catch (err) {
    throw fromTransport(err, url, tls);
  }
}
