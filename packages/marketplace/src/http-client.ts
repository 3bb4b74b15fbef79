// The one HTTP client module of the marketplace (vmmarketplace upload, the replica's pulls), on undici. The
// shared @hepix/transport replaces it with one import when it lands.
import { request } from 'undici';
import { MarketplaceError } from './errors.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Largest answer read (default 65 MiB); a longer one is ERR_MARKET_HTTP. */
  maxBytes?: number;
  /** Connect, headers and between-chunks timeout (default 60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export async function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const shown = redact(url);
  const maxBytes = options.maxBytes ?? 65 * 1024 * 1024;
  const timeout = options.timeoutMs ?? 60_000;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new MarketplaceError('ERR_MARKET_USAGE', `'${shown}' is not a URL`, { url: shown, cause });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MarketplaceError('ERR_MARKET_USAGE', `'${shown}' is not an http or https URL`, { url: shown });
  }
  try {
    const r = await request(parsed, {
      method: (options.method ?? 'GET') as 'GET',
      headers: options.headers,
      body: options.body,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal: options.signal,
    });
    const parts: Buffer[] = [];
    let total = 0;
    for await (const chunk of r.body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        r.body.destroy();
        throw new MarketplaceError(
          'ERR_MARKET_HTTP',
          `the answer of ${shown} is larger than ${maxBytes} bytes`,
          {
            url: shown,
            httpStatus: r.statusCode,
          },
        );
      }
      parts.push(chunk as Buffer);
    }
    return { status: r.statusCode, headers: r.headers, body: new Uint8Array(Buffer.concat(parts, total)) };
  } catch (cause) {
    if (cause instanceof MarketplaceError) throw cause;
    throw new MarketplaceError('ERR_MARKET_HTTP', `request to ${shown} failed: ${(cause as Error).message}`, {
      url: shown,
      cause,
    });
  }
}
