import { readFileSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import type {
  ClientCertificate,
  Credentials,
  TlsTrust,
  Transport,
  TransportError,
  TransportResponse,
} from '@hepix/transport';
import { UploadError } from '../errors.js';
import type { UploadLogger } from '../types.js';
import { abortedError, optBool, optNumber, optString, optStringMap } from '../util.js';

/** TLS and HTTP options shared by the http/webdav and egiappdb backends. */
export interface HttpClientOptions {
  protocol: string;
  /** CA file or directory (IGTF `<hash>.0` files, `*.pem`, `*.crt`); replaces the system roots. */
  ca?: string;
  /** Client certificate (PEM) and key, e.g. a grid user or host certificate. */
  cert?: string;
  key?: string;
  passphrase?: string;
  /** Disable certificate verification: never in production. */
  insecure?: boolean;
  /** Allow `http://` (plain) URLs, including redirects to them. */
  allowHttp?: boolean;
  /** Socket idle timeout in ms. */
  timeout?: number;
  maxRedirects?: number;
  headers?: Record<string, string>;
}

/** Reads the TLS/HTTP options from section options. */
export function httpClientOptions(
  protocol: string,
  o: Record<string, unknown> | undefined,
): HttpClientOptions {
  return {
    protocol,
    ca: optString(o, 'ca', protocol) ?? optString(o, 'caFile', protocol) ?? optString(o, 'caDir', protocol),
    cert: optString(o, 'cert', protocol),
    key: optString(o, 'key', protocol),
    passphrase: optString(o, 'passphrase', protocol),
    insecure: optBool(o, 'insecureSkipTlsVerify', protocol) ?? false,
    allowHttp: optBool(o, 'allowHttp', protocol) ?? false,
    timeout: optNumber(o, 'timeout', protocol) ?? 120_000,
    maxRedirects: optNumber(o, 'maxRedirects', protocol) ?? 5,
    headers: optStringMap(o, 'headers', protocol),
  };
}

/** A request body: `open` is called again when a redirect needs the body after it was sent. */
export interface RequestBody {
  open: () => Readable;
  /** Whether `open` may be called again now (a local file; a small stream kept for replay). */
  canRestart: () => boolean;
  length?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  url: URL;
}

/** Response text kept for error messages and JSON answers. */
const TEXT_LIMIT = 1 << 20;

function readPem(path: string, key: string, protocol: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UploadError('ERR_UPLOAD_AUTH', `${protocol}: cannot read ${key} file ${path}`, {
      key,
      protocol,
      cause: err,
    });
  }
}

/** `ca`: a directory is a CA directory (IGTF layout), a file a CA bundle; either replaces the system roots. */
function trustOf(opts: HttpClientOptions): TlsTrust {
  const { protocol, ca } = opts;
  if (opts.insecure) return { mode: 'none' };
  if (!ca) return { mode: 'browser' };
  try {
    if (statSync(ca).isDirectory()) return { mode: 'igtf', certDir: ca };
    return { mode: 'ca', ca: [readFileSync(ca, 'utf8')] };
  } catch (err) {
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      `${protocol}: cannot load CA certificates from ${ca}: ${(err as Error).message}`,
      { key: 'ca', protocol, cause: err },
    );
  }
}

/** A TransportError, told without loading @hepix/transport: its name and an ERR_TRANSPORT_ code. */
function isTransportError(err: unknown): err is TransportError {
  return (
    err instanceof Error &&
    err.name === 'TransportError' &&
    String((err as { code?: unknown }).code).startsWith('ERR_TRANSPORT_')
  );
}

/** Why a connection failed, in the words an operator needs. */
function describe(err: TransportError): string {
  const code = err.underlyingCode ?? '';
  if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code))
    return `the server closed the connection (${code})`;
  return err.message;
}

/**
 * The http/webdav and egiappdb backends' client over @hepix/transport (its redirect policy, proxies from
 * `HTTPS_PROXY`/`NO_PROXY`, TLS trust): certificate verification, client certificates, `Expect: 100-continue`
 * for bodies, redirects followed to https only.
 */
export class HttpClient {
  // @hepix/transport (and undici) is loaded at the first request: a local or sftp upload never pays its
  // 80 ms of module loading.
  private transport: Promise<Transport> | undefined;
  private readonly tls: TlsTrust;
  private readonly clientCertificate: ClientCertificate | undefined;

  constructor(
    readonly opts: HttpClientOptions,
    private readonly log?: UploadLogger,
  ) {
    const { protocol } = opts;
    if ((opts.cert && !opts.key) || (opts.key && !opts.cert))
      throw new UploadError('ERR_UPLOAD_CONFIG', `${protocol}: options "cert" and "key" go together`, {
        key: opts.cert ? 'key' : 'cert',
        protocol,
      });
    this.tls = trustOf(opts);
    if (opts.cert && opts.key) {
      this.clientCertificate = {
        cert: readPem(opts.cert, 'cert', protocol),
        key: readPem(opts.key, 'key', protocol),
        ...(opts.passphrase === undefined ? {} : { passphrase: opts.passphrase }),
      };
      // A certificate that cannot be used is a configuration error: said now, not at the first request.
      try {
        createSecureContext(this.clientCertificate);
      } catch (err) {
        throw new UploadError(
          'ERR_UPLOAD_AUTH',
          `${protocol}: cannot use the client certificate ${opts.cert} with its key: ${(err as Error).message}`,
          { key: 'key', protocol, cause: err },
        );
      }
    }
  }

  private connect(): Promise<Transport> {
    this.transport ??= import('@hepix/transport').then(({ createTransport }) =>
      createTransport({
        idleTimeoutMs: this.opts.timeout ?? 120_000,
        maxRedirects: this.opts.maxRedirects ?? 5,
        ...(this.clientCertificate ? { clientCertificate: this.clientCertificate } : {}),
        ...(this.log ? { log: this.log } : {}),
      }),
    );
    return this.transport;
  }

  checkScheme(url: URL, target: string): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.opts.allowHttp) return;
    throw new UploadError(
      url.protocol === 'http:' ? 'ERR_UPLOAD_TLS' : 'ERR_UPLOAD_TARGET',
      `${this.opts.protocol}: refusing ${url.protocol}// URL ${url.href} (https only; "allowHttp": true permits plain http)`,
      { target, protocol: this.opts.protocol },
    );
  }

  /**
   * Sends a request, following up to `maxRedirects` redirects (never from https to http). A body is sent
   * with `Expect: 100-continue`, so a server can redirect or refuse before it is sent.
   */
  async request(
    method: string,
    url: URL,
    init: {
      headers?: Record<string, string>;
      body?: RequestBody;
      credentials?: Credentials;
      signal?: AbortSignal;
      target: string;
    },
  ): Promise<HttpResponse> {
    const { protocol } = this.opts;
    const { body, signal, target } = init;
    this.checkScheme(url, target);
    const headers: Record<string, string> = { ...(this.opts.headers ?? {}), ...(init.headers ?? {}) };
    let opened = false;
    const open = () => {
      if (opened && !body!.canRestart())
        throw new UploadError(
          'ERR_UPLOAD_FAILED',
          `${protocol}: ${url.href} redirected after the body was sent; a stream cannot be resent (upload from a file instead)`,
          { target, protocol },
        );
      opened = true;
      return body!.open();
    };
    if (body?.length !== undefined) headers['content-length'] = String(body.length);
    let res: TransportResponse;
    try {
      res = await (await this.connect()).request(url, {
        method,
        headers,
        tls: this.tls,
        followRedirects: true,
        ...(init.credentials ? { credentials: init.credentials } : {}),
        ...(signal ? { signal } : {}),
        ...(body ? { body: open, expectContinue: true } : {}),
      });
    } catch (err) {
      throw this.failure(err, method, url, target, signal);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        if (size < TEXT_LIMIT) chunks.push(c);
        size += c.length;
      }
    } catch (err) {
      throw this.failure(err, method, new URL(res.url), target, signal);
    }
    return {
      status: res.status,
      headers: res.headers,
      text: Buffer.concat(chunks).toString('utf8'),
      url: new URL(res.url),
    };
  }

  private failure(err: unknown, method: string, url: URL, target: string, signal?: AbortSignal): UploadError {
    const { protocol } = this.opts;
    if (signal?.aborted) return abortedError(target, protocol, signal.reason);
    if (err instanceof UploadError) return err;
    if (!isTransportError(err))
      return new UploadError(
        'ERR_UPLOAD_FAILED',
        `${protocol}: ${method} ${url.href} failed: ${(err as Error).message}`,
        {
          target,
          protocol,
          host: url.hostname,
          cause: err,
        },
      );
    if (err.cause instanceof UploadError) return err.cause;
    const context = { target, protocol, host: url.hostname, cause: err };
    switch (err.code) {
      case 'ERR_TRANSPORT_TLS':
        return new UploadError(
          'ERR_UPLOAD_TLS',
          `${protocol}: TLS verification of ${url.host} failed: ${err.message}`,
          context,
        );
      case 'ERR_TRANSPORT_REDIRECT':
        return new UploadError(
          err.location?.startsWith('http:') ? 'ERR_UPLOAD_TLS' : 'ERR_UPLOAD_FAILED',
          `${protocol}: refusing redirect from ${err.url ?? url.href} to ${err.location ?? '?'}: ${err.message}`,
          { ...context, ...(err.httpStatus === undefined ? {} : { status: err.httpStatus }) },
        );
      case 'ERR_TRANSPORT_TRUST':
        return new UploadError(
          'ERR_UPLOAD_CONFIG',
          `${protocol}: cannot load CA certificates from ${this.opts.ca}: ${err.message}`,
          { ...context, key: 'ca' },
        );
      case 'ERR_TRANSPORT_ABORTED':
        return abortedError(target, protocol, err);
      default:
        return new UploadError(
          'ERR_UPLOAD_FAILED',
          `${protocol}: ${method} ${url.href} failed: ${describe(err)}`,
          context,
        );
    }
  }

  async dispose(): Promise<void> {
    await (await this.transport)?.close();
  }
}

/** Maps a non-success HTTP status to an UploadError. */
export function statusError(protocol: string, what: string, res: HttpResponse, target: string): UploadError {
  const detail = res.text
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
  const msg = `${protocol}: ${what} ${res.url.href} returned HTTP ${res.status}${detail ? `: ${detail}` : ''}`;
  const auth =
    res.status === 401 || res.status === 403 || (res.status === 400 && /SSL certificate/i.test(res.text));
  return new UploadError(auth ? 'ERR_UPLOAD_AUTH' : 'ERR_UPLOAD_FAILED', msg, {
    target,
    protocol,
    status: res.status,
    host: res.url.hostname,
  });
}
