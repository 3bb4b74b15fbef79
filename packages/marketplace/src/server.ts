// `vmmarketplace serve` as a library call: open the store with the marketplace tables, load the trust
// directory, validate every option before listening, serve, and on a replica pull the primary periodically.
import type { AddressInfo } from 'node:net';
import { type Logger, noopLogger } from '@hepix/common';
import { openStore, type Store } from '@hepix/imagelist-store';
import { createTransport } from '@hepix/transport';
import { serve } from '@hono/node-server';
import { MarketplaceError, toMarketplaceError } from './errors.js';
import { compileEndorserPatterns, createIngester, DEFAULT_MAX_LIST_BYTES } from './ingest.js';
import { httpsTrust } from './remote.js';
import { type ReplicaSyncResult, syncFromPrimary } from './replica.js';
import { createMarketplaceApp, MARKETPLACE_VERSION } from './server/app.js';
import { type MarketplaceRepository, marketplaceExtension } from './store.js';
import { type CrlPolicy, loadTrustDirectory } from './verify.js';

export const DEFAULT_DB_URL = 'sqlite:///marketplace.db';
export const DEFAULT_CERT_DIR = '/etc/grid-security/certificates/';
export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const DEFAULT_REPLICA_INTERVAL_SECONDS = 300;

export interface MarketplaceServerOptions {
  /** Store URL (default `sqlite:///marketplace.db`). */
  db?: string;
  /** `HOST:PORT` (default 127.0.0.1:8080; port 0 picks a free one). */
  listen?: string;
  /** Trust directory (default /etc/grid-security/certificates/); with the system roots, it also authenticates an https primary. */
  certDir?: string;
  /** Regular expressions; when any is given, the signer's whole DN must match one. */
  allowEndorsers?: readonly string[];
  maxListBytes?: number;
  /** Base URL of the primary: this server becomes a read-only replica of it. */
  replicaOf?: string;
  replicaIntervalSeconds?: number;
  /** Default `require`. */
  crl?: CrlPolicy;
  /** The trust directory is read again when older than this (default 60 s), so new CRLs are used. */
  trustReloadSeconds?: number;
  /** Shown in the page header. */
  name?: string;
  now?: () => Date;
  log?: Logger;
}

export interface MarketplaceServer {
  /** `http://HOST:PORT` actually listened on. */
  url: string;
  repository: MarketplaceRepository;
  /** A replica's pass over the primary (also run at start and every interval). */
  sync(): Promise<ReplicaSyncResult>;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new MarketplaceError('ERR_MARKET_CONFIG', `--listen '${listen}' is not HOST:PORT`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function checkPositive(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new MarketplaceError('ERR_MARKET_CONFIG', `${name} must be a positive integer`);
  }
}

export async function startMarketplace(options: MarketplaceServerOptions = {}): Promise<MarketplaceServer> {
  const log = options.log ?? noopLogger;
  const now = options.now ?? (() => new Date());
  const { host, port } = parseListen(options.listen ?? DEFAULT_LISTEN);
  const allow = compileEndorserPatterns(options.allowEndorsers ?? []);
  checkPositive('--max-list-bytes', options.maxListBytes);
  checkPositive('--replica-interval', options.replicaIntervalSeconds);
  if (options.replicaOf !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(options.replicaOf);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new MarketplaceError(
        'ERR_MARKET_CONFIG',
        `--replica-of '${options.replicaOf}' is not an http(s) URL`,
      );
    }
  }
  const certDir = options.certDir ?? DEFAULT_CERT_DIR;
  const loadTrust = () => loadTrustDirectory(certDir);
  let trust = await loadTrust();
  for (const w of trust.warnings) log('warn', `trust directory: ${w}`);
  let trustLoaded = Date.now();
  const reloadMs = (options.trustReloadSeconds ?? 60) * 1000;
  const currentTrust = async () => {
    if (Date.now() - trustLoaded >= reloadMs) {
      trust = await loadTrust();
      trustLoaded = Date.now();
    }
    return trust;
  };

  const store: Store = await openStore(options.db ?? DEFAULT_DB_URL, {
    extensions: [marketplaceExtension],
    now,
    log: (level, message) => log(level, message, { name: 'db' }),
  });
  const repository = store.extension(marketplaceExtension);
  const maxListBytes = options.maxListBytes ?? DEFAULT_MAX_LIST_BYTES;
  const ingester = createIngester({
    repository,
    trust: currentTrust,
    allowEndorsers: allow,
    maxListBytes,
    crl: options.crl,
    now,
    log,
  });
  const app = createMarketplaceApp({
    repository,
    ingester,
    maxListBytes,
    replicaOf: options.replicaOf,
    name: options.name,
    now,
    log,
  });

  let server: ReturnType<typeof serve>;
  try {
    server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
      s.once('error', reject);
    });
  } catch (cause) {
    await store.close();
    throw new MarketplaceError(
      'ERR_MARKET_CONFIG',
      `cannot listen on ${host}:${port}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  log(
    'info',
    `marketplace listening on ${url}${options.replicaOf ? ` (replica of ${options.replicaOf})` : ''}`,
  );

  const abort = new AbortController();
  const transport = createTransport({ userAgent: `vmmarketplace/${MARKETPLACE_VERSION}`, log });
  let running: Promise<ReplicaSyncResult> | undefined;
  const sync = async (): Promise<ReplicaSyncResult> => {
    if (!options.replicaOf) return { stored: [], unchanged: [], failed: [] };
    const primary = options.replicaOf;
    // One pass at a time: a slow primary never stacks passes. The CA directory is read at each pass, as the
    // trust store is, so a CA added by the site's updates counts.
    running ??= httpsTrust(certDir)
      .then((tls) =>
        syncFromPrimary({
          primary,
          repository,
          ingester,
          transport,
          tls,
          maxListBytes,
          log,
          signal: abort.signal,
        }),
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  let timer: NodeJS.Timeout | undefined;
  if (options.replicaOf) {
    const pass = () =>
      sync().then(
        (r) =>
          log(
            'info',
            `replica: ${r.stored.length} stored, ${r.unchanged.length} unchanged, ${r.failed.length} failed`,
          ),
        (err) =>
          log('warn', `replica: pass failed: ${toMarketplaceError(err).message}`, {
            code: toMarketplaceError(err).code,
          }),
      );
    void pass();
    timer = setInterval(pass, (options.replicaIntervalSeconds ?? DEFAULT_REPLICA_INTERVAL_SECONDS) * 1000);
    timer.unref();
  }

  let closed = false;
  return {
    url,
    repository,
    sync,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      abort.abort();
      await running?.catch(() => {});
      await transport.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await store.close();
    },
  };
}
