// Reading an original database: the same database as the store (inside the store's migration transaction), or
// another one opened read-only through the store's own dialects.
import { Kysely, sql } from 'kysely';
import type { Db } from '../context.js';
import type { StoreDialect, TableInfo } from '../dialect.js';
import { StoreError } from '../errors.js';
import type { AnyKysely, AnyTransaction } from '../schema.js';
import { type ParsedStoreUrl, parseStoreUrl } from '../url.js';
import { tableIndex } from './schema.js';

export type Row = Record<string, unknown>;

export interface LegacySource {
  /** Shown in messages (password removed). */
  readonly url: string;
  readonly tables: readonly TableInfo[];
  /** Rows (column names in lower case) of a table by its name in any case; undefined when it is missing. */
  read(table: string): Promise<Row[] | undefined>;
  /** Some columns of every row (lower-case names), in id order: the light part of a table of big rows. */
  readColumns(table: string, columns: readonly string[]): Promise<Row[]>;
  /** Whole rows in id order, `size` at a time, so that tables of big rows (stored lists) never sit in memory at once. */
  readBatches(table: string, size: number): AsyncIterable<Row[]>;
  /** Number of rows of a table (0 when missing). */
  count(table: string): Promise<number>;
}

function lowerKeys(r: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) out[k.toLowerCase()] = v;
  return out;
}

/** A column's name as stored (case kept): SQLAlchemy quoted mixed-case names such as `"fkIdentifier"`. */
function columnName(t: TableInfo, name: string): string {
  return t.columns.find((c) => c.toLowerCase() === name.toLowerCase()) ?? name;
}

/** A source over a kysely instance or transaction on the database that holds the original tables. */
export async function sourceOver(
  q: Db | AnyKysely | AnyTransaction,
  dialect: StoreDialect,
  url: string,
): Promise<LegacySource> {
  const tables = await dialect.listTables(q as AnyKysely);
  const index = tableIndex(tables);
  return {
    url,
    tables,
    async read(table) {
      const t = index.get(table.toLowerCase());
      if (!t) return undefined;
      const r = await sql<Row>`select * from ${sql.table(t.name)} order by 1`.execute(q);
      return r.rows.map(lowerKeys);
    },
    async readColumns(table, columns) {
      const t = index.get(table.toLowerCase());
      if (!t) return [];
      const have = new Set(t.columns.map((c) => c.toLowerCase()));
      const picked = columns.filter((c) => have.has(c.toLowerCase()));
      const r =
        await sql<Row>`select ${sql.join(picked.map((c) => sql.ref(columnName(t, c))))} from ${sql.table(t.name)} order by ${sql.ref(columnName(t, 'id'))}`.execute(
          q,
        );
      return r.rows.map(lowerKeys);
    },
    async *readBatches(table, size) {
      const t = index.get(table.toLowerCase());
      if (!t) return;
      const id = sql.ref(columnName(t, 'id'));
      let after: unknown;
      for (;;) {
        const where = after === undefined ? sql`` : sql`where ${id} > ${after}`;
        const r =
          await sql<Row>`select * from ${sql.table(t.name)} ${where} order by ${id} limit ${size}`.execute(q);
        if (!r.rows.length) return;
        const rows = r.rows.map(lowerKeys);
        after = rows[rows.length - 1].id;
        yield rows;
        if (rows.length < size) return;
      }
    },
    async count(table) {
      const t = index.get(table.toLowerCase());
      if (!t) return 0;
      const r = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(t.name)}`.execute(q);
      return Number(r.rows[0]?.n ?? 0);
    },
  };
}

/** Opens another database read-only as a legacy source; `ERR_STORE_LEGACY` when it cannot be read. */
export async function openLegacySource(
  fromUrl: string,
): Promise<{ source: LegacySource; parsed: ParsedStoreUrl; identity: string; close(): Promise<void> }> {
  let parsed: ParsedStoreUrl;
  try {
    parsed = parseStoreUrl(fromUrl);
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_LEGACY',
      (cause as Error).message,
      { url: (cause as StoreError).url },
      { cause },
    );
  }
  const shown = parsed.url;
  const fail = (message: string, cause?: unknown) =>
    new StoreError(
      'ERR_STORE_LEGACY',
      `cannot read legacy database ${shown}: ${message}`,
      { url: shown },
      { cause },
    );
  let dialect: StoreDialect;
  try {
    if (parsed.dialect === 'sqlite') {
      if (parsed.path === ':memory:') throw fail('an in-memory database holds nothing to import');
      const { createSqliteDialect } = await import('../sqlite.js');
      dialect = await createSqliteDialect({ path: parsed.path, readOnly: true, url: shown });
    } else {
      const { createPostgresDialect } = await import('../postgres.js');
      dialect = await createPostgresDialect({
        connectionString: parsed.connectionString,
        url: shown,
        poolSize: 2,
      });
    }
  } catch (cause) {
    if (cause instanceof StoreError && cause.code === 'ERR_STORE_LEGACY') throw cause;
    const message = (cause as Error).message;
    throw fail(/does not exist/.test(message) ? 'the file does not exist' : message, cause);
  }
  const db = new Kysely<unknown>({ dialect: dialect.kysely });
  let source: LegacySource;
  try {
    source = await sourceOver(db as AnyKysely, dialect, shown);
  } catch (cause) {
    await db.destroy().catch(() => {});
    throw fail(`not a database this version can read (${(cause as Error).message})`, cause);
  }
  return { source, parsed, identity: dialect.identity, close: () => db.destroy() };
}
