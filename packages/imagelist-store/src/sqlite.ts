// The SQLite dialect of the store: libsql (a better-sqlite3-compatible embedded SQLite) under kysely's
// SqliteDialect, loaded lazily so PostgreSQL-only sites need not install it. WAL, foreign keys and a busy
// timeout are switched on for every connection; transactions start with BEGIN IMMEDIATE so that two processes
// writing at once queue on the busy timeout instead of failing on a read-to-write lock upgrade.

import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely';
import { StoreError } from './errors.js';
import type { AnyKysely } from './schema.js';

export interface SqliteStoreDialectOptions {
  /** Absolute file path, or `:memory:`. */
  path: string;
  /** Busy timeout in milliseconds (default 30 000). */
  busyTimeoutMs?: number;
  /** Refuse to create a missing database file. */
  mustExist?: boolean;
  /** Shown in errors instead of the path. */
  url?: string;
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

// SQLite runs DDL inside transactions fine; declaring it lets the Migrator wrap each run in one IMMEDIATE
// transaction, which is what makes concurrent migrations from two processes safe.
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
  override async acquireMigrationLock(_db: AnyKysely): Promise<void> {}
  override async releaseMigrationLock(_db: AnyKysely): Promise<void> {}
}

class StoreSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

type LibsqlCtor = new (
  path: string,
  options?: { timeout?: number },
) => SqliteDatabase & {
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
};

async function loadLibsql(): Promise<LibsqlCtor> {
  try {
    const mod = (await import('libsql')) as unknown as { default?: LibsqlCtor };
    return (mod.default ?? mod) as LibsqlCtor;
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_OPEN',
      "SQLite support needs the optional peer dependency 'libsql' (npm install libsql)",
      {},
      { cause },
    );
  }
}

/** Opens the SQLite file (checking its directory first, for clear errors) and returns a kysely dialect. */
export async function createSqliteDialect(options: SqliteStoreDialectOptions): Promise<SqliteDialect> {
  const { path } = options;
  const shown = options.url ?? path;
  const timeout = options.busyTimeoutMs ?? 30_000;
  const memory = path === ':memory:';
  if (!memory) {
    const dir = dirname(path);
    if (!existsSync(dir)) {
      throw new StoreError('ERR_STORE_OPEN', `cannot open ${shown}: directory ${dir} does not exist`, {
        url: shown,
      });
    }
    if (!statSync(dir).isDirectory()) {
      throw new StoreError('ERR_STORE_OPEN', `cannot open ${shown}: ${dir} is not a directory`, {
        url: shown,
      });
    }
    if (options.mustExist && !existsSync(path)) {
      throw new StoreError('ERR_STORE_OPEN', `cannot open ${shown}: database file ${path} does not exist`, {
        url: shown,
      });
    }
  }
  const Database = await loadLibsql();
  let db: InstanceType<LibsqlCtor>;
  try {
    db = new Database(path, { timeout });
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_OPEN',
      `cannot open ${shown}: ${(cause as Error).message} (is the directory writable?)`,
      { url: shown },
      { cause },
    );
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(timeout))}`);
    db.exec('PRAGMA foreign_keys = ON');
    if (!memory) {
      const mode = db.pragma('journal_mode = WAL') as { journal_mode?: string }[];
      if (mode?.[0]?.journal_mode?.toLowerCase() !== 'wal') throw new Error('WAL journal mode refused');
    }
    // Fails early, with a clear message, when the file or directory is not writable.
    // A rolled-back write with a name of its own (several processes may open at once).
    const probe = `store_probe_${process.pid}_${randomBytes(4).toString('hex')}`;
    db.exec(`BEGIN IMMEDIATE; CREATE TABLE ${probe} (x INTEGER); ROLLBACK`);
  } catch (cause) {
    db.close();
    throw new StoreError(
      'ERR_STORE_OPEN',
      `cannot open ${shown} for writing: ${(cause as Error).message} (is the database or its directory read-only?)`,
      { url: shown },
      { cause },
    );
  }
  return new StoreSqliteDialect({ database: db });
}
