// The PostgreSQL dialect of the store: node-postgres under kysely's PostgresDialect, loaded lazily so that
// SQLite-only sites never load `pg`.
import { PostgresDialect, type RawBuilder, sql } from 'kysely';
import {
  type BulkColumn,
  type DialectDdl,
  type DialectSql,
  type SqlValueType,
  type StoreDialect,
  type TableInfo,
  tablesOf,
} from './dialect.js';
import { StoreError } from './errors.js';
import { createLeaseLocker } from './lease.js';
import { databaseIdentity, redactUrl } from './url.js';

export interface PostgresStoreDialectOptions {
  /** `postgresql://user:password@host:port/database` */
  connectionString: string;
  /** Pool size (default 4). */
  poolSize?: number;
  /** Connection timeout in milliseconds (default 10 000). */
  connectTimeoutMs?: number;
  /** Shown in errors instead of the connection string (whose password is removed anyway). */
  url?: string;
}

type PgModule = typeof import('pg');

async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as PgModule & { default?: PgModule };
    return mod.default ?? mod;
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_OPEN',
      `the PostgreSQL driver 'pg' cannot be loaded (an incomplete installation of @hepix/imagelist-store): ${(cause as Error).message}`,
      {},
      { cause },
    );
  }
}

/** PostgreSQL's spelling of the dialect-specific SQL. */
export const postgresSql: DialectSql = {
  valuesList<T extends string | number>(values: readonly T[], type: SqlValueType): RawBuilder<T> {
    return sql<T>`(select unnest(${sql.val(values)}::${sql.raw(type)}[]))`;
  },
  rowsSource(columns: readonly BulkColumn[], rows: readonly unknown[][]): RawBuilder<unknown> {
    const arrays = columns.map(
      (c, i) => sql`${sql.val(rows.map((r) => r[i] ?? null))}::${sql.raw(c.type)}[]`,
    );
    const names = columns.map((_, i) => sql.raw(`c${i}`));
    return sql`select ${sql.join(names)} from unnest(${sql.join(arrays)}) with ordinality as u(${sql.join(names)}, ord) order by ord`;
  },
  isoNow(offsetMs = 0): RawBuilder<string> {
    return sql<string>`to_char((clock_timestamp() + ${offsetMs}::float8 * interval '1 millisecond') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  },
  forUpdate: true,
};

const postgresDdl: DialectDdl = {
  blob: 'bytea',
  bigint: 'bigint',
  idType: 'serial',
  id: (c) => c.primaryKey(),
  inlineForwardReferences: false,
};

function pgCode(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/** Connects once (for a clear error now rather than on first query) and returns the store dialect. */
export async function createPostgresDialect(options: PostgresStoreDialectOptions): Promise<StoreDialect> {
  const pg = await loadPg();
  const shown = options.url ?? redactUrl(options.connectionString);
  // int8 (counts, image sizes) as numbers; timestamps as their text (the originals' SQLAlchemy columns hold naive
  // UTC, which pg would read as local time). This pool only, no global parser change.
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === 20
        ? (v: string) => Number(v)
        : oid === 1114 || oid === 1184
          ? (v: string) => v
          : pg.types.getTypeParser(oid, (format ?? 'text') as 'text'),
  };
  // What every connection of this store uses: the pool's, and the listener's of `listen`.
  const connection = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
  };
  const pool = new pg.Pool({ ...connection, max: Math.max(2, options.poolSize ?? 4), types: types as never });
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
  const dialect: StoreDialect = {
    name: 'postgres',
    url: shown,
    identity: databaseIdentity({
      dialect: 'postgres',
      connectionString: options.connectionString,
      url: shown,
    }),
    kysely: new PostgresDialect({ pool }),
    sql: postgresSql,
    ddl: postgresDdl,
    isUniqueViolation: (err) => pgCode(err) === '23505',
    isForeignKeyViolation: (err) => pgCode(err) === '23503',
    async listTables(q): Promise<TableInfo[]> {
      const r = await sql<{
        t: string;
        c: string;
      }>`select table_name as t, column_name as c from information_schema.columns where table_schema = current_schema() order by table_name, ordinal_position`.execute(
        q,
      );
      return tablesOf(r.rows);
    },
    createLocker: (k, lockerOptions) => createLeaseLocker(k, dialect, lockerOptions),
    async notify(q, channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(q);
    },
    async listen(channel, onNotify) {
      // Not a pooled client: LISTEN belongs to one session, which must stay open while it listens.
      const client = new pg.Client(connection);
      client.on('error', () => {
        // A listener that lost its server hears nothing more; its user polls anyway (see Store.listen).
      });
      client.on('notification', (n) => {
        if (n.channel === channel) onNotify(n.payload ?? '');
      });
      try {
        await client.connect();
        await client.query(`LISTEN "${channel}"`);
      } catch (cause) {
        await client.end().catch(() => {});
        throw new StoreError(
          'ERR_STORE_OPEN',
          `cannot listen on ${shown}: ${(cause as Error).message}`,
          { url: shown },
          { cause },
        );
      }
      return () => client.end().catch(() => {});
    },
  };
  return dialect;
}
