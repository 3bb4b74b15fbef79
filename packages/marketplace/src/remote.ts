// The marketplace as a client (vmmarketplace upload, a replica's pulls): every request goes through
// @hepix/transport, and lists are read with @hepix/imagelist-client's fetchList (size cap while streaming).
// https servers are authenticated by the system roots and the grid CA directory, so a marketplace behind a
// grid host certificate and one behind a public certificate both work.
import { type FetchListOptions, fetchList, ListClientError } from '@hepix/imagelist-client';
import { readCaDirectory, redactUrl, type TlsTrust, type Transport, TransportError } from '@hepix/transport';
import { MarketplaceError } from './errors.js';

/** The system roots plus every CA certificate of `certDir` (when given). ERR_MARKET_CONFIG when unreadable. */
export async function httpsTrust(certDir: string | undefined): Promise<TlsTrust> {
  if (certDir === undefined) return { mode: 'browser' };
  try {
    return { mode: 'browser', extraCa: await readCaDirectory(certDir) };
  } catch (cause) {
    throw new MarketplaceError(
      'ERR_MARKET_CONFIG',
      `cannot read the CA directory ${certDir}: ${(cause as Error).message}`,
      { path: certDir, cause },
    );
  }
}

function httpError(err: unknown, url: string): MarketplaceError {
  if (err instanceof MarketplaceError) return err;
  const shown = redactUrl(url);
  if (err instanceof ListClientError || err instanceof TransportError) {
    const message =
      err instanceof TransportError ? `request to ${shown} failed: ${err.message}` : err.message;
    return new MarketplaceError('ERR_MARKET_HTTP', message, {
      url: err.url ?? shown,
      ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }),
      reason: err.code,
      cause: err,
    });
  }
  return new MarketplaceError(
    'ERR_MARKET_INTERNAL',
    `request to ${shown} failed: ${(err as Error).message}`,
    {
      url: shown,
      cause: err,
    },
  );
}

/** GET of a small document (a signed list, a page of the API): 200 only, at most `maxBytes`. */
export async function getDocument(
  transport: Transport,
  url: string,
  options: FetchListOptions,
): Promise<Uint8Array> {
  try {
    return (await fetchList(transport, url, options)).data;
  } catch (err) {
    throw httpError(err, url);
  }
}

/** POST of `body`; the answer (any status) read up to `maxBytes`. */
export async function postBytes(
  transport: Transport,
  url: string,
  body: Uint8Array,
  options: { tls: TlsTrust; headers: Record<string, string>; maxBytes: number },
): Promise<{ status: number; body: Buffer }> {
  try {
    const res = await transport.request(url, {
      method: 'POST',
      body,
      headers: options.headers,
      tls: options.tls,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > options.maxBytes) {
        res.body.destroy();
        throw new MarketplaceError(
          'ERR_MARKET_HTTP',
          `the answer of ${redactUrl(url)} is larger than ${options.maxBytes} bytes`,
          {
            url: redactUrl(url),
            httpStatus: res.status,
          },
        );
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.status, body: Buffer.concat(chunks, size) };
  } catch (err) {
    throw httpError(err, url);
  }
}
