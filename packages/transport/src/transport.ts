// The one HTTP(S) client: a redirect policy, proxies from the environment, TLS trust per request, client
// certificates, idle timeouts and absolute deadlines. Connections are pooled per (trust, proxy) in undici
// dispatchers; requests that expect `100 Continue` go through node:http on a connection of their own.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { type Logger, noopLogger } from '@hepix/common';
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import { BodySource, type RequestBody } from './body.js';
import { bulkGet } from './engine-bulk.js';
import { sendWithContinue } from './engine-continue.js';
import { dispatchHop, type EngineResponse, type Hop } from './engine-undici.js';
import { inspectError, TransportError, type TransportErrorCode } from './errors.js';
import { proxyFor } from './proxy.js';
import {
  type ClientCertificate,
  loadCaDirectory,
  type ResolvedTls,
  resolveTls,
  secureContext,
  type TlsTrust,
  trustKey,
} from './trust.js';
import { type Credentials, hostOf, parseHttpUrl, redactUrl } from './url.js';

export interface TransportOptions {
  /** Where `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or lower case) are read, per request; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** `User-Agent` of every request unless the request sets one (default `hepix-vmtools`). */
  userAgent?: string;
  /** Time allowed to connect, TLS handshake included (default 30 000 ms). */
  connectTimeoutMs?: number;
  /** Time allowed for the response headers and between two body chunks (default 60 000 ms). */
  idleTimeoutMs?: number;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
  /** Connections per origin (default: no limit; callers bound their concurrency). */
  connections?: number;
  /** Presented to every server that asks for a client certificate. */
  clientCertificate?: ClientCertificate;
  log?: Logger;
}

export interface RequestOptions {
  /** Default `GET`. */
  method?: string;
  /** Request headers (names are case-insensitive). `Host`, `Expect` and `Proxy-Authorization` are the transport's. */
  headers?: Record<string, string>;
  body?: RequestBody;
  /** How an https server is authenticated (default `{ mode: 'browser' }`). */
  tls?: TlsTrust;
  /** Basic-auth credentials, sent to the origin of the first URL only; default: the URL's user info. */
  credentials?: Credentials;
  /** Follow redirects under the redirect policy (default true for GET and HEAD, false otherwise). */
  followRedirects?: boolean;
  signal?: AbortSignal;
  /** Absolute time (epoch ms) after which the whole request, body included, fails with ERR_TRANSPORT_DEADLINE. */
  deadline?: number;
  /** Send `Expect: 100-continue` and the body only once the server asks for it (or after 1 s without answer). */
  expectContinue?: boolean;
  /**
   * The request may be sent twice, whatever its method (e.g. a POST that creates a short-lived token): a pooled
   * connection the server closed meanwhile is retried once, as for GET, PUT and DELETE (default: by method).
   */
  idempotent?: boolean;
  /**
   * A large download (an image): a plain-http GET without body and without proxy is read on a connection of its own
   * with large socket reads into a reused buffer (less CPU and memory per byte than the pooled connections);
   * otherwise ignored. Redirects, deadlines, trust and errors are the same.
   */
  bulk?: boolean;
  /**
   * With `bulk`: called before each socket read for memory to read into (an image cache's slot), so that the
   * bytes land where they are used without a copy; the body's chunks are then views of that memory. The caller
   * must not lend memory that holds a chunk it has not consumed yet. When it returns `undefined` (nothing free
   * just now), the transport makes one small read (16 KiB) into a fresh buffer (a chunk the caller may keep)
   * and reads on only when the body is consumed again: it buffers nothing ahead of the consumer. Without
   * `readInto`, reads go into the transport's own buffer (chunks are copies). Ignored without `bulk` or where
   * `bulk` does not apply.
   */
  readInto?: () => Uint8Array | undefined;
}

export interface TransportResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The URL finally answered (after redirects), without user info. */
  url: string;
  /** The redirect targets followed, in order. */
  redirects: string[];
  /** The response body: the caller consumes or destroys it. Its errors are TransportErrors. */
  body: Readable;
}

export interface Transport {
  /**
   * Sends one request and resolves with the response once its headers arrived. HTTP statuses are not errors
   * (the caller decides); failures are TransportErrors, in the body stream too.
   */
  request(url: string | URL, options?: RequestOptions): Promise<TransportResponse>;
  /** Closes every pooled connection; responses still being read fail with ERR_TRANSPORT_ABORTED. */
  close(): Promise<void>;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);
/** What a pooled keep-alive connection that the server closed meanwhile fails with. */
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);
/** Bytes of a redirect's body read (so the connection can be reused) before it is cut off instead. */
const REDIRECT_BODY_LIMIT = 64 * 1024;
const MAX_TIMER = 2 ** 31 - 1;

/** Creates a transport; no connection is opened before the first request. */
export function createTransport(options: TransportOptions = {}): Transport {
  return new HttpTransport(options);
}

/** The abort signal of one request: the caller's signal and the deadline, with TransportErrors as reasons. */
class Lifetime {
  readonly #controller = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #where: () => string;
  #timer: NodeJS.Timeout | undefined;
  readonly #onAbort = () => {
    const url = redactUrl(this.#where());
    this.#controller.abort(
      new TransportError('ERR_TRANSPORT_ABORTED', `Request to '${url}' aborted`, {
        url,
        cause: this.#signal?.reason,
      }),
    );
  };

  constructor(signal: AbortSignal | undefined, deadline: number | undefined, where: () => string) {
    this.#signal = signal;
    this.#where = where;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (deadline !== undefined) this.#arm(deadline);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #arm(deadline: number): void {
    const left = deadline - Date.now();
    if (left <= 0) {
      const url = redactUrl(this.#where());
      this.#controller.abort(
        new TransportError(
          'ERR_TRANSPORT_DEADLINE',
          `Deadline ${new Date(deadline).toISOString()} passed for '${url}'`,
          { url },
        ),
      );
      return;
    }
    // Timers overflow beyond 2^31-1 ms: re-arm until the deadline is near.
    this.#timer = setTimeout(() => this.#arm(deadline), Math.min(left, MAX_TIMER));
    this.#timer.unref();
  }

  /** Keeps the deadline and the caller's signal on the response body until it is done. */
  attach(body: Readable): void {
    if (body.destroyed || body.readableEnded) this.end();
    else body.once('close', () => this.end());
  }

  end(): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }
}

/** Reads a redirect's (small) body so its connection can be reused; cuts a large one off. */
function discard(body: Readable): Promise<void> {
  return new Promise<void>((resolve) => {
    let seen = 0;
    body.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > REDIRECT_BODY_LIMIT) body.destroy();
    });
    body.once('close', () => resolve());
    body.on('error', () => {});
    body.resume();
  });
}

function basic(credentials: Credentials): string {
  const token = Buffer.from(`${credentials.username ?? ''}:${credentials.password ?? ''}`).toString('base64');
  return `Basic ${token}`;
}

class HttpTransport implements Transport {
  readonly #options: TransportOptions;
  readonly #log: Logger;
  readonly #dispatchers = new Map<string, Dispatcher>();
  readonly #tls = new Map<string, Promise<ResolvedTls>>();
  readonly #caDirectories = new Map<string, Promise<string[]>>();
  readonly #warned = new Set<string>();
  readonly #bulkSockets = new Set<Socket>();
  #closed = false;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#log = options.log ?? noopLogger;
    // A client certificate that cannot be used is a configuration error: say so now, not at the first request.
    if (options.clientCertificate) secureContext(undefined, options.clientCertificate);
  }

  get #env(): NodeJS.ProcessEnv {
    return this.#options.env ?? process.env;
  }

  async request(input: string | URL, options: RequestOptions = {}): Promise<TransportResponse> {
    if (this.#closed) throw new TransportError('ERR_TRANSPORT_INTERNAL', 'The transport is closed');
    const method = (options.method ?? 'GET').toUpperCase();
    const parsed = parseHttpUrl(input);
    const credentials = options.credentials ?? parsed.credentials;
    const trust: TlsTrust = options.tls ?? { mode: 'browser' };
    trustKey(trust); // an unknown mode fails before anything is sent
    const follow = options.followRedirects ?? (method === 'GET' || method === 'HEAD');
    const maxRedirects = this.#options.maxRedirects ?? 5;
    const firstOrigin = parsed.url.origin;
    let current = parsed.url;
    let hopMethod = method;
    let body = options.body === undefined ? undefined : new BodySource(options.body);
    let onFirstOrigin = true;
    let dropContentHeaders = false;
    const redirects: string[] = [];
    const life = new Lifetime(options.signal, options.deadline, () => current.href);
    try {
      for (;;) {
        const proxy = proxyFor(current, this.#env);
        const hop: Hop = {
          url: current,
          method: hopMethod,
          headers: this.#headers(
            options.headers,
            onFirstOrigin ? credentials : undefined,
            onFirstOrigin,
            dropContentHeaders,
          ),
          ...(body ? { body } : {}),
          ...(proxy ? { proxy } : {}),
        };
        const res = await this.#send(
          hop,
          trust,
          options.expectContinue === true && body !== undefined,
          life.signal,
          options.idempotent ?? IDEMPOTENT_METHODS.has(hopMethod),
          options.bulk === true,
          options.readInto,
        );
        if (!follow || !REDIRECT_STATUSES.has(res.status)) {
          life.attach(res.body);
          return { status: res.status, headers: res.headers, url: current.href, redirects, body: res.body };
        }
        await discard(res.body);
        const next = this.#redirectTarget(current, res, redirects.length, maxRedirects);
        if (
          (res.status === 303 && hopMethod !== 'HEAD') ||
          ((res.status === 301 || res.status === 302) && hopMethod === 'POST')
        ) {
          // As browsers do: the redirected request is a GET without the body.
          hopMethod = 'GET';
          body = undefined;
          dropContentHeaders = true;
        } else if (body && !body.available) {
          throw new TransportError(
            'ERR_TRANSPORT_BODY',
            `'${redactUrl(current.href)}' redirected (${res.status}) to '${redactUrl(next.href)}' after the request body stream was sent; a stream cannot be resent (pass a function that opens the body)`,
            { url: current.href, httpStatus: res.status, location: redactUrl(next.href) },
          );
        }
        if (next.origin !== firstOrigin) onFirstOrigin = false;
        redirects.push(next.href);
        this.#log('debug', `Redirected (${res.status}) from '${current.href}' to '${next.href}'`, {
          uri: next.href,
        });
        current = next;
      }
    } catch (err) {
      life.end();
      if (err instanceof TransportError) throw err;
      throw this.#wrap(err, { url: current, method: hopMethod, headers: {} }, trust, 'request', life.signal);
    }
  }

  /** The next URL of a redirect, or ERR_TRANSPORT_REDIRECT / ERR_TRANSPORT_PROTOCOL under the one policy. */
  #redirectTarget(current: URL, res: EngineResponse, followed: number, maxRedirects: number): URL {
    const where = { url: current.href, httpStatus: res.status };
    const raw = res.headers.location;
    const location = Array.isArray(raw) ? raw[0] : raw;
    if (!location) {
      throw new TransportError(
        'ERR_TRANSPORT_PROTOCOL',
        `Redirect ${res.status} without Location from '${current.href}'`,
        where,
      );
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch (cause) {
      throw new TransportError(
        'ERR_TRANSPORT_REDIRECT',
        `Redirect ${res.status} from '${current.href}' to an invalid URL`,
        { ...where, location: redactUrl(location), cause },
      );
    }
    const shown = redactUrl(next.href);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new TransportError(
        'ERR_TRANSPORT_REDIRECT',
        `Refusing redirect from '${current.href}' to '${next.protocol}' ('${shown}')`,
        { ...where, location: shown },
      );
    }
    if (current.protocol === 'https:' && next.protocol === 'http:') {
      throw new TransportError(
        'ERR_TRANSPORT_REDIRECT',
        `Refusing redirect from https to http ('${current.href}' to '${shown}')`,
        { ...where, location: shown },
      );
    }
    if (followed >= maxRedirects) {
      throw new TransportError(
        'ERR_TRANSPORT_REDIRECT',
        `More than ${maxRedirects} redirects ('${current.href}' to '${shown}')`,
        {
          ...where,
          location: shown,
        },
      );
    }
    next.username = '';
    next.password = '';
    next.hash = '';
    return next;
  }

  #headers(
    given: Record<string, string> | undefined,
    credentials: Credentials | undefined,
    onFirstOrigin: boolean,
    dropContent: boolean,
  ): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': this.#options.userAgent ?? 'hepix-vmtools' };
    for (const [name, value] of Object.entries(given ?? {})) headers[name.toLowerCase()] = value;
    delete headers.host;
    delete headers.expect;
    delete headers['proxy-authorization'];
    if (!onFirstOrigin) {
      // Credentials of any kind stay with the origin they were given for.
      delete headers.authorization;
      delete headers.cookie;
    }
    if (credentials && (credentials.username || credentials.password))
      headers.authorization = basic(credentials);
    if (dropContent)
      for (const name of Object.keys(headers)) if (name.startsWith('content-')) delete headers[name];
    return headers;
  }

  async #send(
    hop: Hop,
    trust: TlsTrust,
    expectContinue: boolean,
    signal: AbortSignal,
    idempotent: boolean,
    bulk = false,
    readInto?: () => Uint8Array | undefined,
  ): Promise<EngineResponse> {
    const https = hop.url.protocol === 'https:';
    const tls = https ? await this.#resolve(trust) : undefined;
    if (https && trust.mode === 'none' && !this.#warned.has(hop.url.origin)) {
      this.#warned.add(hop.url.origin);
      this.#log('warn', `TLS server authentication disabled for '${hop.url.origin}' (trust none)`, {
        uri: hop.url.origin,
      });
    }
    const wrap = (err: unknown, phase: 'request' | 'body') => this.#wrap(err, hop, trust, phase, signal);
    if (expectContinue) {
      return sendWithContinue(
        hop,
        {
          tls,
          connectTimeoutMs: this.#options.connectTimeoutMs ?? 30_000,
          idleTimeoutMs: this.#options.idleTimeoutMs ?? 60_000,
          continueTimeoutMs: 1000,
        },
        signal,
        wrap,
      );
    }
    if (bulk && !https && hop.method === 'GET' && !hop.body && !hop.proxy) {
      return bulkGet(
        hop,
        {
          connectTimeoutMs: this.#options.connectTimeoutMs ?? 30_000,
          idleTimeoutMs: this.#options.idleTimeoutMs ?? 60_000,
          live: this.#bulkSockets,
          readInto,
        },
        signal,
        wrap,
      );
    }
    const dispatcher = this.#dispatcher(tls, hop.proxy);
    try {
      return await dispatchHop(dispatcher, hop, signal, wrap);
    } catch (err) {
      const stale =
        err instanceof TransportError &&
        err.code === 'ERR_TRANSPORT_CONNECT' &&
        STALE_CONNECTION.has(err.underlyingCode ?? '') &&
        idempotent &&
        (hop.body?.replayable ?? true) &&
        !signal.aborted;
      if (!stale) throw err;
      // A pooled keep-alive connection the server closed meanwhile: one fresh attempt.
      this.#log('debug', `Connection to '${hop.url.origin}' closed before the response; retrying once`, {
        uri: hop.url.href,
        code: (err as TransportError).underlyingCode,
      });
      return await dispatchHop(dispatcher, hop, signal, wrap);
    }
  }

  #resolve(trust: TlsTrust): Promise<ResolvedTls> {
    const key = trustKey(trust);
    let tls = this.#tls.get(key);
    if (!tls) {
      tls = resolveTls(trust, this.#options.clientCertificate, (dir) => this.#caDirectory(dir));
      this.#tls.set(key, tls);
      // A failure is not cached: the directory may be repaired while a long run goes on.
      tls.catch(() => this.#tls.delete(key));
    }
    return tls;
  }

  #caDirectory(dir: string): Promise<string[]> {
    let pems = this.#caDirectories.get(dir);
    if (!pems) {
      pems = loadCaDirectory(dir).then((d) => {
        if (d.skipped.length)
          this.#log('warn', `CA directory '${dir}': no certificate in ${d.skipped.join(', ')}`, {
            path: dir,
          });
        return d.pems;
      });
      this.#caDirectories.set(dir, pems);
      pems.catch(() => this.#caDirectories.delete(dir));
    }
    return pems;
  }

  #dispatcher(tls: ResolvedTls | undefined, proxy: string | undefined): Dispatcher {
    const key = `${tls?.key ?? 'plain'}|${proxy ?? ''}`;
    let d = this.#dispatchers.get(key);
    if (d) return d;
    const o = this.#options;
    const idle = o.idleTimeoutMs ?? 60_000;
    const connect = {
      timeout: o.connectTimeoutMs ?? 30_000,
      ...(tls ? { secureContext: tls.secureContext, rejectUnauthorized: tls.rejectUnauthorized } : {}),
    };
    const common = {
      headersTimeout: idle,
      bodyTimeout: idle,
      ...(o.connections === undefined ? {} : { connections: o.connections }),
    };
    d = proxy
      ? new ProxyAgent({
          uri: proxy,
          ...common,
          // TLS to the origin runs inside the CONNECT tunnel with the same verification as a direct connection.
          requestTls: connect,
          proxyTls: { timeout: connect.timeout },
          // Plain http goes to the proxy in absolute form, as forward proxies expect (many allow CONNECT to 443 only).
          proxyTunnel: false,
        })
      : new Agent({ ...common, connect });
    this.#dispatchers.set(key, d);
    return d;
  }

  #wrap(
    err: unknown,
    hop: Hop,
    trust: TlsTrust,
    phase: 'request' | 'body',
    signal: AbortSignal,
  ): TransportError {
    if (err instanceof TransportError) return err;
    const url = redactUrl(hop.url.href);
    const { code, underlyingCode } = inspectError(err);
    let kind: TransportErrorCode = phase === 'body' ? 'ERR_TRANSPORT_BODY' : code;
    // undici reports a refused tunnel as an abort and a proxy's 407 as an invalid argument (the message is
    // all there is to tell): with a proxy in the way and no abort of ours, they are the proxy's answer.
    if (
      hop.proxy &&
      phase === 'request' &&
      !signal.aborted &&
      (code === 'ERR_TRANSPORT_ABORTED' ||
        (underlyingCode === 'UND_ERR_INVALID_ARG' && /\b407\b/.test((err as Error).message)))
    ) {
      kind = 'ERR_TRANSPORT_PROXY';
    }
    const via = hop.proxy ? ` via the proxy '${redactUrl(hop.proxy)}'` : '';
    const detail = underlyingCode ?? (err instanceof Error ? err.message : String(err));
    const messages: Record<TransportErrorCode, string> = {
      ERR_TRANSPORT_URL: `Invalid URL '${url}': ${detail}`,
      ERR_TRANSPORT_PROTOCOL: `The server of '${url}' sent an invalid response (${detail})`,
      ERR_TRANSPORT_REDIRECT: `Redirect refused for '${url}' (${detail})`,
      ERR_TRANSPORT_TLS: `TLS with '${hostOf(hop.url)}' failed${via} (${detail}, trust ${trust.mode}): ${err instanceof Error ? err.message : String(err)}`,
      ERR_TRANSPORT_CONNECT: `Connection for '${url}'${via} failed (${detail})`,
      ERR_TRANSPORT_PROXY: `The proxy '${redactUrl(hop.proxy ?? '')}' refused '${url}': ${err instanceof Error ? err.message : String(err)}`,
      ERR_TRANSPORT_TIMEOUT: `Timed out on '${url}'${via} (${detail})`,
      ERR_TRANSPORT_DEADLINE: `Deadline passed for '${url}'`,
      ERR_TRANSPORT_ABORTED: `Request to '${url}' aborted`,
      ERR_TRANSPORT_TRUST: `Trust material for '${url}' cannot be used (${detail})`,
      ERR_TRANSPORT_BODY: `The request body for '${url}' failed: ${err instanceof Error ? err.message : String(err)}`,
      ERR_TRANSPORT_INTERNAL: `Request to '${url}' failed: ${err instanceof Error ? err.message : String(err)}`,
    };
    return new TransportError(kind, messages[kind], {
      url,
      ...(underlyingCode === undefined ? {} : { underlyingCode }),
      cause: err,
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    for (const s of this.#bulkSockets)
      s.destroy(new TransportError('ERR_TRANSPORT_ABORTED', 'The transport was closed'));
    this.#bulkSockets.clear();
    await Promise.all(all.map((d) => d.destroy()));
  }
}
