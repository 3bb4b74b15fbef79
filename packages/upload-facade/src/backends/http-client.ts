import { readdirSync, readFileSync, statSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { UploadError } from '../errors.js';
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

/** A request body: `open` is called again when a redirect arrives before the body could be reused. */
export interface RequestBody {
  open: () => Readable;
  /** Whether `open` may be called again now (a local file; a small stream kept for replay). */
  canRestart: () => boolean;
  length?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  url: URL;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
]);

function isTlsError(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNRESET' || e?.code === 'EPIPE' || e?.message === 'socket hang up')
    return `the server closed the connection (${e.code ?? e.message})`;
  return e?.message ?? String(err);
}

function readCa(path: string, protocol: string): string[] {
  try {
    const st = statSync(path);
    const files = st.isDirectory()
      ? readdirSync(path)
          .filter((n) => /\.(\d+|pem|crt)$/.test(n))
          .sort()
          .map((n) => join(path, n))
      : [path];
    const certs: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g))
        certs.push(m[0]);
    }
    if (!certs.length) throw new Error('no PEM certificate found');
    return certs;
  } catch (err) {
    throw new UploadError(
      'ERR_UPLOAD_CONFIG',
      `${protocol}: cannot load CA certificates from ${path}: ${(err as Error).message}`,
      {
        key: 'ca',
        protocol,
        cause: err,
      },
    );
  }
}

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

/** A small HTTPS client: keep-alive agent, certificate verification, client certificates, https-only redirects. */
export class HttpClient {
  private readonly httpsAgent: HttpsAgent;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  constructor(readonly opts: HttpClientOptions) {
    const { protocol } = opts;
    if ((opts.cert && !opts.key) || (opts.key && !opts.cert))
      throw new UploadError('ERR_UPLOAD_CONFIG', `${protocol}: options "cert" and "key" go together`, {
        key: opts.cert ? 'key' : 'cert',
        protocol,
      });
    this.httpsAgent = new HttpsAgent({
      keepAlive: true,
      ca: opts.ca ? readCa(opts.ca, protocol) : undefined,
      cert: opts.cert ? readPem(opts.cert, 'cert', protocol) : undefined,
      key: opts.key ? readPem(opts.key, 'key', protocol) : undefined,
      passphrase: opts.passphrase,
      rejectUnauthorized: !opts.insecure,
    });
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

  /** Sends a request, following up to `maxRedirects` redirects to https URLs. */
  async request(
    method: string,
    url: URL,
    init: { headers?: Record<string, string>; body?: RequestBody; signal?: AbortSignal; target: string },
  ): Promise<HttpResponse> {
    const { protocol } = this.opts;
    let current = url;
    for (let hop = 0; ; hop++) {
      this.checkScheme(current, init.target);
      const { res, text, bodyStarted } = await this.once(method, current, init);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if ([301, 302, 307, 308].includes(status) && location) {
        if (hop >= (this.opts.maxRedirects ?? 5))
          throw new UploadError('ERR_UPLOAD_FAILED', `${protocol}: too many redirects for ${url.href}`, {
            target: init.target,
            protocol,
            status,
          });
        const next = new URL(location, current);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.opts.allowHttp))
          throw new UploadError(
            'ERR_UPLOAD_TLS',
            `${protocol}: refusing redirect from ${current.href} to non-https ${next.href}`,
            { target: init.target, protocol, status },
          );
        if (init.body && bodyStarted && !init.body.canRestart())
          throw new UploadError(
            'ERR_UPLOAD_FAILED',
            `${protocol}: ${current.href} redirected to ${next.href} after the body was sent; a stream cannot be resent (upload from a file instead)`,
            { target: init.target, protocol, status },
          );
        current = next;
        continue;
      }
      return { status, headers: res.headers, text, url: current };
    }
  }

  private once(
    method: string,
    url: URL,
    init: { headers?: Record<string, string>; body?: RequestBody; signal?: AbortSignal; target: string },
  ): Promise<{ res: IncomingMessage; text: string; bodyStarted: boolean }> {
    const { protocol } = this.opts;
    const { body, signal, target } = init;
    const headers: Record<string, string> = { ...(this.opts.headers ?? {}), ...(init.headers ?? {}) };
    if (body) {
      if (body.length !== undefined) headers['content-length'] = String(body.length);
      else headers['transfer-encoding'] = 'chunked';
      // lets a server redirect or refuse before the body is sent (dCache doors redirect PUTs to pools)
      headers.expect = '100-continue';
    }
    if (signal?.aborted) return Promise.reject(abortedError(target, protocol, signal.reason));
    return new Promise((resolve, reject) => {
      let settled = false;
      let bodyStarted = false;
      let source: Readable | undefined;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        source?.destroy();
        req.destroy();
        if (signal?.aborted) reject(abortedError(target, protocol, signal.reason));
        else if (err instanceof UploadError) reject(err);
        else if (isTlsError(err))
          reject(
            new UploadError(
              'ERR_UPLOAD_TLS',
              `${protocol}: TLS verification of ${url.host} failed: ${(err as Error).message}`,
              {
                target,
                protocol,
                host: url.hostname,
                cause: err,
              },
            ),
          );
        else
          reject(
            new UploadError(
              'ERR_UPLOAD_FAILED',
              `${protocol}: ${method} ${url.href} failed: ${describe(err)}`,
              {
                target,
                protocol,
                host: url.hostname,
                cause: err,
              },
            ),
          );
      };
      const onAbort = () => fail(abortedError(target, protocol, signal?.reason));
      const cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(continueTimer);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const opts = {
        method,
        headers,
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        timeout: this.opts.timeout,
      };
      const req = url.protocol === 'https:' ? httpsRequest(url, opts) : httpRequest(url, opts);
      let continueTimer: NodeJS.Timeout | undefined;
      const startBody = () => {
        if (bodyStarted || settled || !body) return;
        bodyStarted = true;
        clearTimeout(continueTimer);
        try {
          source = body.open();
        } catch (err) {
          fail(err);
          return;
        }
        source.on('error', (err) => fail(err));
        source.pipe(req);
      };
      req.on('timeout', () => req.destroy(new Error(`no activity for ${this.opts.timeout} ms`)));
      req.on('error', (err) => fail(err));
      req.on('continue', startBody);
      req.on('response', (res) => {
        // the server answered before taking the whole body: stop sending, and do not reuse the connection
        const incomplete = !!body && (!bodyStarted || (source !== undefined && !source.readableEnded));
        if (incomplete) {
          clearTimeout(continueTimer);
          source?.unpipe(req);
          source?.destroy();
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 1 << 20) chunks.push(c);
          size += c.length;
        });
        res.on('error', (err) => fail(err));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          cleanup();
          if (incomplete) req.destroy();
          resolve({ res, text: Buffer.concat(chunks).toString('utf8'), bodyStarted });
        });
      });
      if (body) {
        req.flushHeaders();
        // servers that ignore Expect get the body after a short wait, as curl does
        continueTimer = setTimeout(startBody, 1000);
      } else req.end();
    });
  }

  dispose(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
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
