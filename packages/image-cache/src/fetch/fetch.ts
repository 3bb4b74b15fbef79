// Retrieval of signed image lists over https, http and file URLs. The list is small (kilobytes to a few
// megabytes), so it is read into memory, with a hard size limit; images are the cache module's business.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { SubscriptionError } from '../subscriptions/errors.js';

/** How the https server of a list is authenticated: not at all, by the system roots, or by the grid CAs. */
export type TlsTrustMode = 'none' | 'browser' | 'igtf';

export type FetchLogger = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

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

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(input: string): string {
  try {
    const u = new URL(input);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return input.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
  }
}

const TLS_ERROR =
  /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME_MISMATCH/;

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET' && !code.startsWith('UND_ERR_CONNECT'))
      return code;
    e = (e as { cause?: unknown }).cause;
  }
  return typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
}

const STALE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

function isStaleConnection(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && STALE.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

async function readCaDirectory(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const pems: string[] = [];
  for (const name of names.sort()) {
    if (!/\.(\d+|pem)$/.test(name)) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    const text = await readFile(path, 'utf8');
    if (text.includes('-----BEGIN CERTIFICATE-----')) pems.push(text);
  }
  return pems;
}

/**
 * Fetches image lists, reusing connections (one dispatcher per trust mode). Proxies come from the
 * environment through undici's EnvHttpProxyAgent; TLS to the list server goes through the tunnel with the
 * same verification as a direct connection.
 */
export class ListFetcher {
  readonly #options: ListFetcherOptions;
  readonly #dispatchers = new Map<TlsTrustMode, Promise<Dispatcher>>();
  readonly #log: FetchLogger;

  constructor(options: ListFetcherOptions = {}) {
    this.#options = options;
    this.#log = options.log ?? (() => {});
  }

  async #dispatcher(mode: TlsTrustMode): Promise<Dispatcher> {
    let d = this.#dispatchers.get(mode);
    if (!d) {
      d = this.#makeDispatcher(mode);
      this.#dispatchers.set(mode, d);
      d.catch(() => this.#dispatchers.delete(mode));
    }
    return d;
  }

  async #makeDispatcher(mode: TlsTrustMode): Promise<Dispatcher> {
    const o = this.#options;
    const timeout = o.timeoutMs ?? 60_000;
    let tls: { ca?: string[]; rejectUnauthorized: boolean };
    if (mode === 'none') {
      tls = { rejectUnauthorized: false };
    } else if (mode === 'igtf') {
      if (!o.certDir) {
        throw new SubscriptionError(
          'ERR_SUB_NO_TRUST_ANCHOR',
          'Trust anchor igtf needs a certificate directory',
        );
      }
      let ca: string[];
      try {
        ca = await readCaDirectory(o.certDir);
      } catch (cause) {
        throw new SubscriptionError(
          'ERR_SUB_NO_TRUST_ANCHOR',
          `Cannot read the CA directory '${o.certDir}'`,
          {
            cause,
          },
        );
      }
      if (ca.length === 0) {
        throw new SubscriptionError('ERR_SUB_NO_TRUST_ANCHOR', `No CA certificates in '${o.certDir}'`);
      }
      tls = { ca, rejectUnauthorized: true };
    } else {
      tls = { rejectUnauthorized: true };
      if (o.extraCa?.length) {
        const { rootCertificates } = await import('node:tls');
        tls.ca = [...rootCertificates, ...o.extraCa];
      }
    }
    const env = o.env ?? process.env;
    const agentOptions = {
      connect: { ...tls, timeout },
      requestTls: { ...tls, timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connections: o.connections ?? 16,
    };
    const httpProxy = env.http_proxy ?? env.HTTP_PROXY ?? '';
    const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY ?? '';
    if (!httpProxy && !httpsProxy) return new Agent(agentOptions);
    return new EnvHttpProxyAgent({
      ...agentOptions,
      httpProxy,
      httpsProxy,
      noProxy: env.no_proxy ?? env.NO_PROXY ?? '',
    });
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
    if (mode === 'none' && start.protocol === 'https:') {
      this.#log('warn', `TLS server authentication disabled for '${parsed.url}' (trust anchor none)`);
    }

    const dispatcher = await this.#dispatcher(mode);
    const redirects: string[] = [];
    let current = start;
    const maxRedirects = this.#options.maxRedirects ?? 5;
    for (;;) {
      const headers: Record<string, string> = {
        'user-agent': this.#options.userAgent ?? 'vmcatcher',
        accept: '*/*',
      };
      if ((credentials.username || credentials.password) && current.origin === start.origin) {
        const token = Buffer.from(`${credentials.username ?? ''}:${credentials.password ?? ''}`).toString(
          'base64',
        );
        headers.authorization = `Basic ${token}`;
      }
      let res: Dispatcher.ResponseData;
      try {
        try {
          res = await request(current, { method: 'GET', headers, dispatcher, signal: options.signal });
        } catch (first) {
          // A pooled keep-alive connection the server closed meanwhile: one fresh attempt (GET is idempotent).
          if (!isStaleConnection(first)) throw first;
          res = await request(current, { method: 'GET', headers, dispatcher, signal: options.signal });
        }
      } catch (cause) {
        const code = errorCode(cause);
        if (code && TLS_ERROR.test(code)) {
          throw new SubscriptionError(
            'ERR_SUB_TLS',
            `https server '${current.host}' not authenticated (${code}, trust anchor ${mode})`,
            { url: current.href, cause },
          );
        }
        throw new SubscriptionError(
          'ERR_SUB_DOWNLOAD',
          `Download of '${current.href}' failed: ${code ?? (cause as Error).message}`,
          { url: current.href, cause },
        );
      }
      const status = res.statusCode;
      if (status >= 300 && status < 400 && status !== 304) {
        await res.body.dump();
        const location = res.headers.location;
        const loc = Array.isArray(location) ? location[0] : location;
        if (!loc) {
          throw new SubscriptionError(
            'ERR_SUB_DOWNLOAD',
            `Redirect ${status} without Location from '${current.href}'`,
            {
              url: current.href,
              httpStatus: status,
            },
          );
        }
        const next = new URL(loc, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new SubscriptionError(
            'ERR_SUB_REDIRECT',
            `Refusing redirect from '${current.href}' to '${next.protocol}'`,
            {
              url: current.href,
              httpStatus: status,
            },
          );
        }
        if (current.protocol === 'https:' && next.protocol === 'http:') {
          throw new SubscriptionError(
            'ERR_SUB_REDIRECT',
            `Refusing redirect from https to http ('${redactUrl(next.href)}')`,
            {
              url: current.href,
              httpStatus: status,
            },
          );
        }
        if (redirects.length >= maxRedirects) {
          throw new SubscriptionError(
            'ERR_SUB_REDIRECT',
            `More than ${maxRedirects} redirects from '${start.href}'`,
            {
              url: current.href,
              httpStatus: status,
            },
          );
        }
        next.username = '';
        next.password = '';
        next.hash = '';
        redirects.push(next.href);
        this.#log('debug', `Redirected ${status} to '${next.href}'`);
        current = next;
        continue;
      }
      if (status !== 200) {
        await res.body.dump();
        throw new SubscriptionError(
          'ERR_SUB_DOWNLOAD',
          `Download of '${current.href}' failed: HTTP ${status}`,
          {
            url: current.href,
            httpStatus: status,
          },
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size > maxBytes) {
            res.body.destroy();
            throw new Error(`list larger than ${maxBytes} bytes`);
          }
          chunks.push(chunk as Buffer);
        }
      } catch (cause) {
        throw new SubscriptionError(
          'ERR_SUB_DOWNLOAD',
          `Download of '${current.href}' failed: ${(cause as Error).message}`,
          {
            url: current.href,
            cause,
          },
        );
      }
      const data = new Uint8Array(Buffer.concat(chunks, size));
      return { data, url: current.href, redirects };
    }
  }

  async close(): Promise<void> {
    const all = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    await Promise.all(all.map(async (d) => (await d.catch(() => undefined))?.close()));
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
