import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface TransportOptions {
  ca?: string | string[];
  rejectUnauthorized?: boolean;
  proxyFromEnv?: boolean;
  userAgent?: string;
  /** Time allowed for the response headers and between two body chunks. */
  timeoutMs: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

function proxyFor(url: URL): string | undefined {
  const env = process.env;
  const proxy =
    url.protocol === 'https:' ? (env.HTTPS_PROXY ?? env.https_proxy) : (env.HTTP_PROXY ?? env.http_proxy);
  if (!proxy) return undefined;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
  const host = url.hostname.toLowerCase();
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase().replace(/:\d+$/, '');
    if (!entry) continue;
    if (entry === '*') return undefined;
    const bare = entry.replace(/^\*?\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return undefined;
  }
  return proxy;
}

/**
 * GET with Node's own http/https (the lightest client: a large image costs no more memory than its socket
 * buffers), following up to five redirects. When `HTTP_PROXY`/`HTTPS_PROXY` apply, undici's proxy agent is
 * loaded and used instead, as wget honoured those variables for the originals.
 */
export class Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;
  private proxyAgent: Promise<unknown> | undefined;

  constructor(private readonly options: TransportOptions) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  }

  async get(url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const res =
        (this.options.proxyFromEnv ?? true) && proxyFor(current)
          ? await this.viaProxy(current, headers)
          : await this.direct(current, headers);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.status) || typeof location !== 'string') return res;
      res.body.resume();
      res.body.destroy();
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      current = new URL(location, current);
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        throw new Error(`redirect to unsupported scheme ${current.protocol}`);
      }
    }
  }

  private direct(url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.get(
        url,
        {
          agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
          headers: { 'user-agent': this.options.userAgent ?? 'hepix-vmtools/vmcatcher', ...headers },
        },
        (res) => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
        },
      );
      // An idle socket (no headers, or no body bytes for this long) is an error, so the transfer is retried.
      req.setTimeout(this.options.timeoutMs, () =>
        req.destroy(new Error(`no data for ${this.options.timeoutMs} ms`)),
      );
      req.on('error', reject);
    });
  }

  private async viaProxy(url: URL, headers: Record<string, string>): Promise<HttpResponse> {
    const undici = await import('undici');
    this.proxyAgent ??= Promise.resolve(
      new undici.EnvHttpProxyAgent({
        connect: {
          rejectUnauthorized: this.options.rejectUnauthorized ?? true,
          ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
        },
        requestTls: {
          rejectUnauthorized: this.options.rejectUnauthorized ?? true,
          ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
        },
      }),
    );
    const dispatcher = (await this.proxyAgent) as InstanceType<typeof undici.EnvHttpProxyAgent>;
    const res = await undici.request(url, {
      method: 'GET',
      headers: { 'user-agent': this.options.userAgent ?? 'hepix-vmtools/vmcatcher', ...headers },
      dispatcher,
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
    });
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    void this.proxyAgent?.then((a) => (a as { close(): Promise<void> }).close());
  }
}
