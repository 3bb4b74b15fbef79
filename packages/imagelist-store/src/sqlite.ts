// The SQLite dialect of the store: libsql (a better-sqlite3-compatible embedded SQLite) under kysely's
// SqliteDialect, loaded lazily so PostgreSQL-only sites never load its native binary. Foreign keys and a busy timeout are
// switched on for every connection; transactions start with BEGIN IMMEDIATE so that two processes writing at
// once queue on the busy timeout instead of failing on a read-to-write lock upgrade. The WAL journal is switched
// on only in `prepare()`, after opening has had its read-only look at the file: switching it rewrites the
// file header, and an original vmcatcher database must first be copied aside byte for byte.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fchmodSync, openSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type RawBuilder,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from 'kysely';
import {
  type BulkColumn,
  type DialectDdl,
  type DialectSql,
  type StoreDialect,
  type TableInfo,
  tablesOf,
} from './dialect.js';
import { StoreError } from './errors.js';
import { createLeaseLocker } from './lease.js';
import type { AnyKysely } from './schema.js';
import { databaseIdentity } from './url.js';

export interface SqliteStoreDialectOptions {
  /** Absolute file path, or `:memory:`. */
  path: string;
  /** Busy timeout in milliseconds (default 30 000). */
  busyTimeoutMs?: number;
  /** Refuse to create a missing database file. */
  mustExist?: boolean;
  /** Shown in errors instead of the path. */
  url?: string;
  /** Only read (a legacy source): the connection refuses writes and `prepare()` changes nothing. */
  readOnly?: boolean;
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

type LibsqlDatabase = SqliteDatabase & {
  readonly inTransaction: boolean;
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
};
type LibsqlCtor = new (path: string, options?: { timeout?: number }) => LibsqlDatabase;

async function loadLibsql(): Promise<LibsqlCtor> {
  try {
    const mod = (await import('libsql')) as unknown as { default?: LibsqlCtor };
    return (mod.default ?? mod) as LibsqlCtor;
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_OPEN',
      `the SQLite driver 'libsql' cannot be loaded (an incomplete installation of @hepix/imagelist-store, or no prebuilt binary for ${process.platform}-${process.arch}): ${(cause as Error).message}`,
      {},
      { cause },
    );
  }
}

/** SQLite's spelling of the dialect-specific SQL. */
export const sqliteSql: DialectSql = {
  valuesList<T extends string | number>(values: readonly T[]): RawBuilder<T> {
    return sql<T>`(select value from json_each(${JSON.stringify(values)}))`;
  },
  rowsSource(columns: readonly BulkColumn[], rows: readonly unknown[][]): RawBuilder<unknown> {
    const picks = columns.map((_, i) => sql.raw(`value->>${i} as c${i}`));
    // `where true` keeps `insert … select … on conflict` unambiguous for SQLite's parser.
    return sql`select ${sql.join(picks)} from json_each(${JSON.stringify(rows)}) where true order by key`;
  },
  isoNow(offsetMs = 0): RawBuilder<string> {
    const modifier = `${offsetMs < 0 ? '-' : '+'}${(Math.abs(offsetMs) / 1000).toFixed(3)} seconds`;
    return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${modifier})`;
  },
  forUpdate: false,
};

const sqliteDdl: DialectDdl = {
  blob: 'blob',
  bigint: 'integer',
  idType: 'integer',
  id: (c) => c.primaryKey().autoIncrement(),
  inlineForwardReferences: true,
};

function sqliteCode(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/**
 * A database this dialect creates holds Basic-auth passwords: it is created empty with mode 0600 (SQLite gives
 * its -wal and -shm files the database's mode), whatever the umask. An existing file is left as it is; its
 * directory is never changed.
 */
function createPrivate(path: string, shown: string): void {
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new StoreError(
      'ERR_STORE_OPEN',
      `cannot create ${shown}: ${(cause as Error).message} (is the directory writable?)`,
      { url: shown },
      { cause },
    );
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens the SQLite file (checking its directory first, for clear errors) and returns the store dialect. Nothing
 * is written before `prepare()` but a new, empty, private file (see createPrivate).
 */
export async function createSqliteDialect(options: SqliteStoreDialectOptions): Promise<StoreDialect> {
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
    if ((options.mustExist || options.readOnly) && !existsSync(path)) {
      throw new StoreError('ERR_STORE_OPEN', `cannot open ${shown}: database file ${path} does not exist`, {
        url: shown,
      });
    }
  }
  const Database = await loadLibsql();
  if (!memory && !options.readOnly) createPrivate(path, shown);
  let db: LibsqlDatabase;
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
    if (options.readOnly) db.exec('PRAGMA query_only = ON');
  } catch (cause) {
    db.close();
    throw new StoreError(
      'ERR_STORE_OPEN',
      `cannot open ${shown}: ${(cause as Error).message}`,
      { url: shown },
      { cause },
    );
  }
  let prepared = false;
  const dialect: StoreDialect = {
    name: 'sqlite',
    url: shown,
    identity: memory
      ? `sqlite-memory:${randomBytes(8).toString('hex')}`
      : databaseIdentity({ dialect: 'sqlite', path, url: shown }),
    kysely: new StoreSqliteDialect({ database: db }),
    sql: sqliteSql,
    ddl: sqliteDdl,
    isUniqueViolation: (err) => {
      const code = sqliteCode(err);
      return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
    },
    isForeignKeyViolation: (err) => sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY',
    async listTables(q): Promise<TableInfo[]> {
      const r = await sql<{
        t: string;
        c: string;
      }>`select m.name as t, p.name as c from sqlite_master m, pragma_table_info(m.name) p where m.type = 'table' order by m.name, p.cid`.execute(
        q,
      );
      return tablesOf(r.rows);
    },
    createLocker: (k, lockerOptions) => createLeaseLocker(k, dialect, lockerOptions),
    async preserve(suffix) {
      if (memory) return undefined;
      const target = `${path}${suffix}`;
      try {
        // A database left in WAL mode holds part of its content beside the file: fold it in first.
        if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0)
          db.pragma('wal_checkpoint(TRUNCATE)');
        await copyFile(path, target, constants.COPYFILE_EXCL);
      } catch (cause) {
        // Another process opening the same database in the same second made the same copy.
        if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return target;
        throw new StoreError(
          'ERR_STORE_LEGACY',
          `cannot copy ${path} aside to ${target} before migrating it: ${(cause as Error).message}; nothing was changed`,
          { url: shown },
          { cause },
        );
      }
      return target;
    },
    async prepare() {
      if (prepared || options.readOnly) return;
      prepared = true;
      try {
        if (!memory) {
          const mode = db.pragma('journal_mode = WAL') as { journal_mode?: string }[];
          if (mode?.[0]?.journal_mode?.toLowerCase() !== 'wal') throw new Error('WAL journal mode refused');
        }
        // Fails early, with a clear message, when the file or directory is not writable.
        // A rolled-back write with a name of its own (several processes may open at once).
        const probe = `store_probe_${process.pid}_${randomBytes(4).toString('hex')}`;
        db.exec(`BEGIN IMMEDIATE; CREATE TABLE ${probe} (x INTEGER); ROLLBACK`);
      } catch (cause) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw new StoreError(
          'ERR_STORE_OPEN',
          `cannot open ${shown} for writing: ${(cause as Error).message} (is the database or its directory read-only?)`,
          { url: shown },
          { cause },
        );
      }
    },
  };
  return dialect;
}
