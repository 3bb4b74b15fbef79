// The PostgreSQL dialect of the store: node-postgres under kysely's PostgresDialect, loaded lazily so that
// SQLite-only sites need not install `pg`.
import { PostgresDialect } from 'kysely';
import { StoreError } from './errors.js';
import { redactUrl } from './url.js';

export interface PostgresStoreDialectOptions {
  /** `postgresql://user:password@host:port/database` */
  connectionString: string;
  /** Pool size (default 4; `withLock` holds one connection while its callback runs). */
  poolSize?: number;
  /** Connection timeout in milliseconds (default 10 000). */
  connectTimeoutMs?: number;
}

type PgModule = typeof import('pg');

async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as PgModule & { default?: PgModule };
    return mod.default ?? mod;
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_OPEN',
      "PostgreSQL support needs the optional peer dependency 'pg' (npm install pg)",
      {},
      { cause },
    );
  }
}

/** Connects once (for a clear error now rather than on first query) and returns a kysely dialect. */
export async function createPostgresDialect(options: PostgresStoreDialectOptions): Promise<PostgresDialect> {
  const pg = await loadPg();
  const shown = redactUrl(options.connectionString);
  // int8 (counts, image sizes) as numbers; this pool only, no global parser change.
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, (format ?? 'text') as 'text'),
  };
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: Math.max(2, options.poolSize ?? 4),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types: types as never,
  });
  pool.on('error', () => {
    // An idle client lost its server; the pool replaces it. Without a listener this would crash the process.
  });
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end().catch(() => {});
    throw new StoreError(
      'ERR_STORE_OPEN',
      `cannot connect to ${shown}: ${(cause as Error).message}`,
      { url: shown },
      { cause },
    );
  }
  return new PostgresDialect({ pool });
}
