// A replica pulls the primary's lists and verifies every one itself (the primary is not trusted more than
// any upload): it lists the primary's lists page by page and fetches the signed bytes of each that changed.
import { type Logger, noopLogger } from '@hepix/common';
import type { TlsTrust, Transport } from '@hepix/transport';
import { MarketplaceError, toMarketplaceError } from './errors.js';
import type { Ingester } from './ingest.js';
import { getDocument } from './remote.js';
import type { ListSummary, MarketplaceRepository } from './store.js';

export interface ReplicaSyncResult {
  /** Lists stored (new or newer). */
  stored: string[];
  /** Lists already at the primary's version. */
  unchanged: string[];
  /** Lists refused or not fetched, with the code. */
  failed: { identifier: string; code: string; message: string }[];
}

export interface ReplicaOptions {
  primary: string;
  repository: MarketplaceRepository;
  ingester: Ingester;
  /** The HTTP client (closed by the caller). */
  transport: Transport;
  /** How an https primary is authenticated (default: the system roots; see `httpsTrust`). */
  tls?: TlsTrust;
  /** Largest signed list fetched (default 64 MiB). */
  maxListBytes?: number;
  /** Pages of 500 lists read at most (default 200, i.e. 100 000 lists). */
  maxPages?: number;
  log?: Logger;
  signal?: AbortSignal;
}

const PAGE = 500;

function base(url: string): string {
  return url.replace(/\/+$/, '');
}

async function getJson(options: ReplicaOptions, url: string): Promise<unknown> {
  const data = await getDocument(options.transport, url, {
    headers: { accept: 'application/json' },
    maxBytes: 16 * 1024 * 1024,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (cause) {
    throw new MarketplaceError('ERR_MARKET_HTTP', `${url} did not answer JSON`, { url, cause });
  }
}

/** One synchronisation pass. */
export async function syncFromPrimary(options: ReplicaOptions): Promise<ReplicaSyncResult> {
  const log = options.log ?? noopLogger;
  const root = base(options.primary);
  const result: ReplicaSyncResult = { stored: [], unchanged: [], failed: [] };
  const remote: Pick<ListSummary, 'identifier' | 'version'>[] = [];
  const maxPages = options.maxPages ?? 200;
  for (let page = 0; page < maxPages; page++) {
    const body = (await getJson(options, `${root}/api/lists?limit=${PAGE}&offset=${page * PAGE}`)) as {
      total?: unknown;
      items?: unknown;
    };
    const items = Array.isArray(body.items) ? body.items : [];
    for (const i of items as Record<string, unknown>[]) {
      if (typeof i?.identifier === 'string' && typeof i.version === 'string')
        remote.push({ identifier: i.identifier, version: i.version });
    }
    if (items.length < PAGE || remote.length >= Number(body.total)) break;
  }
  for (const r of remote) {
    const local = await options.repository.storedListFacts(r.identifier);
    if (local && local.version === r.version) {
      result.unchanged.push(r.identifier);
      continue;
    }
    try {
      const url = `${root}/lists/${encodeURIComponent(r.identifier)}.smime`;
      const data = await getDocument(options.transport, url, {
        ...(options.maxListBytes ? { maxBytes: options.maxListBytes } : {}),
        ...(options.tls ? { tls: options.tls } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await options.ingester.ingest(data, { source: 'replica' });
      result.stored.push(r.identifier);
    } catch (err) {
      const e = toMarketplaceError(err);
      if (e.code === 'ERR_MARKET_NOT_NEWER') {
        result.unchanged.push(r.identifier);
        continue;
      }
      log('warn', `replica: list ${r.identifier} not taken from the primary: ${e.message}`, {
        subscription: r.identifier,
        code: e.code,
      });
      result.failed.push({ identifier: r.identifier, code: e.code, message: e.message });
    }
  }
  return result;
}
