// What the store needs from a database engine, injected the way kysely injects its own dialects: the kysely
// `Dialect`, the locker, and the few pieces of SQL and DDL that differ between engines. The repositories and
// migrations only ever ask the dialect; they never test which engine they run on.
import type { ColumnDataType, ColumnDefinitionBuilder, Dialect, RawBuilder } from 'kysely';
import type { Locker, LockerOptions } from './lease.js';
import type { AnyKysely, AnyTransaction } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

/** Column types of arrays handed to set-based statements (PostgreSQL array casts). */
export type SqlValueType = 'int4' | 'int8' | 'text';

export interface BulkColumn {
  name: string;
  type: SqlValueType;
}

/** SQL fragments whose spelling differs between engines. */
export interface DialectSql {
  /** `(select …)` of the values, for `where col in (…)`: one parameter whatever the number of values. */
  valuesList<T extends string | number>(values: readonly T[], type: SqlValueType): RawBuilder<T>;
  /**
   * A `select` of `rows`, in order, with columns named `c0`, `c1`, …: one parameter per statement (a JSON
   * array on SQLite, typed arrays on PostgreSQL), for `insert … select` and `update … from`.
   */
  rowsSource(columns: readonly BulkColumn[], rows: readonly unknown[][]): RawBuilder<unknown>;
  /** The database's clock plus `offsetMs`, as UTC ISO-8601 text (`2026-01-02T03:04:05.678Z`), for leases. */
  isoNow(offsetMs?: number): RawBuilder<string>;
  /** Whether `select … for update` exists (PostgreSQL); SQLite serialises writers with BEGIN IMMEDIATE. */
  readonly forUpdate: boolean;
}

/** Column types and DDL capabilities for migrations. */
export interface DialectDdl {
  blob: ColumnDataType;
  bigint: ColumnDataType;
  /** Type of a generated integer primary key (`integer` with autoincrement, or `serial`). */
  idType: ColumnDataType;
  id(column: ColumnDefinitionBuilder): ColumnDefinitionBuilder;
  /**
   * True when a column may reference a table created later in the same migration (SQLite); otherwise the
   * foreign key is added by `alter table` once both tables exist.
   */
  inlineForwardReferences: boolean;
}

/** A table of the database as the engine lists it. */
export interface TableInfo {
  /** The name exactly as stored (case kept). */
  name: string;
  /** Column names as stored (case kept). */
  columns: string[];
}

/** `(table, column)` rows, in the database's order, as one TableInfo per table. */
export function tablesOf(rows: readonly { t: string; c: string }[]): TableInfo[] {
  const out = new Map<string, TableInfo>();
  for (const row of rows) {
    const t = out.get(row.t) ?? { name: row.t, columns: [] };
    t.columns.push(row.c);
    out.set(row.t, t);
  }
  return [...out.values()];
}

/** A database engine for {@link createStore}. `createSqliteDialect` and `createPostgresDialect` build one. */
export interface StoreDialect {
  readonly name: DialectName;
  /** The database, for messages: a URL or path with any password removed. */
  readonly url: string;
  /** Equal for two dialects on the same database (same SQLite file, same PostgreSQL host, port, database). */
  readonly identity: string;
  /** What `new Kysely({ dialect })` takes. */
  readonly kysely: Dialect;
  readonly sql: DialectSql;
  readonly ddl: DialectDdl;
  isUniqueViolation(err: unknown): boolean;
  isForeignKeyViolation(err: unknown): boolean;
  /** The tables of the store's schema (SQLite: the main database; PostgreSQL: the current schema). */
  listTables(db: AnyKysely | AnyTransaction): Promise<TableInfo[]>;
  /** The locker behind `store.withLock`. */
  createLocker(db: AnyKysely, options: LockerOptions): Locker;
  /**
   * Copies the database aside, byte for byte, before it is changed for the first time (the in-place migration of
   * an original vmcatcher/vmcaster database). Returns the copy's path; undefined when the engine has no file.
   */
  preserve?(suffix: string): Promise<string | undefined>;
  /** Runs once after the read-only checks of opening and before the first write (SQLite: WAL, writability). */
  prepare?(): Promise<void>;
  /** Wakes the listeners of `channel` in every process on the database (PostgreSQL NOTIFY); absent: no-op. */
  notify?(db: AnyKysely, channel: string, payload: string): Promise<void>;
  /** Listens on `channel` over a connection of its own (PostgreSQL LISTEN); absent: nothing ever arrives. */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
}
