// The connector's one HTTP module: every Keystone and Glance request goes through `HttpClient`, so TLS trust,
// proxies and timeouts are decided in one place (and the switch to @hepix/transport is this file alone).
import type { Readable } from 'node:stream';
import type { Logger } from '@hepix/common';
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { GlanceConnectorError } from './errors.js';

export interface HttpClientOptions {
  /** Extra CA certificates (PEM) for https endpoints; the system roots stay trusted. */
  ca?: string[];
  /** Do not authenticate https servers (clouds.yaml `verify: false`); logged as a warning. */
  insecure?: boolean;
  /** Connect and header timeout of ordinary requests (default 60 000 ms). */
  timeoutMs?: number;
  /** Environment for HTTPS_PROXY / HTTP_PROXY / NO_PROXY (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Readable | Uint8Array | string;
  /** Time allowed for the answer's headers; an upload waits for Glance to store every byte (default timeoutMs). */
  headersTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The caller reads or dumps it. */
  body: Readable & { text(): Promise<string>; json(): Promise<unknown>; dump(): Promise<void> };
}

export interface HttpClient {
  request(url: string, options?: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

function hasProxy(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const env = options.env ?? process.env;
  if (options.insecure)
    options.log?.('warn', 'TLS server authentication is disabled for OpenStack endpoints');
  const connect = {
    ...(options.ca?.length ? { ca: options.ca } : {}),
    rejectUnauthorized: !options.insecure,
    timeout: timeoutMs,
  };
  const dispatcher: Dispatcher = hasProxy(env)
    ? new EnvHttpProxyAgent({
        httpProxy: env.HTTP_PROXY ?? env.http_proxy,
        httpsProxy: env.HTTPS_PROXY ?? env.https_proxy,
        noProxy: env.NO_PROXY ?? env.no_proxy,
        connect,
        headersTimeout: timeoutMs,
      })
    : new Agent({ connect, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });

  return {
    async request(url, req = {}) {
      try {
        const r = await request(url, {
          method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers: req.headers,
          body: req.body,
          dispatcher,
          headersTimeout: req.headersTimeoutMs ?? timeoutMs,
          bodyTimeout: timeoutMs,
          ...(req.signal ? { signal: req.signal } : {}),
        });
        return { status: r.statusCode, headers: r.headers, body: r.body as HttpResponse['body'] };
      } catch (cause) {
        throw new GlanceConnectorError(
          'ERR_GLANCE_CONNECT',
          `${req.method ?? 'GET'} ${redact(url)}: ${(cause as Error).message}`,
          { url: redact(url), cause },
        );
      }
    },
    close: () => dispatcher.close(),
  };
}

/** The URL without user info. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}
