import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Dialect, Kysely, Migrator, sql } from 'kysely';
import type { OpenStoreOptions, Store } from './api.js';
import { StoreError } from './errors.js';
import { migrateExtension, type StoreExtension } from './extension.js';
import { type DialectName, MIGRATION_LOCK_TABLE, MIGRATION_TABLE, storeMigrations } from './migrations.js';
import { createPublisherRepository } from './publisher.js';
import type { AnyKysely, Database } from './schema.js';
import { createSubscriberRepository } from './subscriber.js';
import { parseStoreUrl } from './url.js';
import { delay } from './util.js';

/** Internal options, for tests: stop migrations at a given name (a store "made by an older version"). */
export interface InternalOpenOptions extends OpenStoreOptions {
  /** @internal */
  migrateUpTo?: string;
  /** @internal */
  cwd?: string;
}

export interface StoreContext {
  dialect: DialectName;
  now: () => Date;
}

/** A namespace for the store's PostgreSQL advisory locks ('HEPX'), so they do not collide with other tools. */
const PG_LOCK_NAMESPACE = 0x48455058 & 0x7fffffff;

async function createDialect(
  url: string,
  options: InternalOpenOptions,
): Promise<{ name: DialectName; dialect: Dialect; shown: string }> {
  const parsed = parseStoreUrl(url, options.cwd);
  if (parsed.dialect === 'sqlite') {
    const { createSqliteDialect } = await import('./sqlite.js');
    const dialect = await createSqliteDialect({
      path: parsed.path,
      busyTimeoutMs: options.busyTimeoutMs,
      mustExist: options.mustExist,
      url: parsed.url,
    });
    return { name: 'sqlite', dialect, shown: parsed.url };
  }
  const { createPostgresDialect } = await import('./postgres.js');
  const dialect = await createPostgresDialect({ connectionString: parsed.connectionString });
  return { name: 'postgres', dialect, shown: parsed.url };
}

/** Applies every pending migration; safe when several processes open the same store at once. */
export async function migrateStore(
  db: AnyKysely,
  dialect: DialectName,
  options: { upTo?: string; log?: OpenStoreOptions['log']; url?: string } = {},
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: storeMigrations(dialect, options.upTo),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>;
  try {
    outcome = await migrator.migrateToLatest();
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_MIGRATION',
      `migrating ${options.url ?? 'the store'} failed: ${(cause as Error).message}`,
      { url: options.url },
      { cause },
    );
  }
  for (const r of outcome.results ?? []) {
    options.log?.(r.status === 'Success' ? 'info' : 'warn', `migration ${r.migrationName}: ${r.status}`);
  }
  if (outcome.error) {
    const cause = outcome.error as Error;
    const newer = /missing/i.test(cause.message ?? '')
      ? ' (the database was created by a newer version of this software)'
      : '';
    throw new StoreError(
      'ERR_STORE_MIGRATION',
      `migrating ${options.url ?? 'the store'} failed: ${cause.message}${newer}`,
      { url: options.url },
      { cause },
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Opens (creating when allowed) and migrates the store named by `url`: `sqlite:///relative.db`,
 * `sqlite:////absolute.db`, `sqlite://` (memory), `postgresql://…` or `postgres://…`.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const opts = options as InternalOpenOptions;
  const now = opts.now ?? (() => new Date());
  const busyTimeoutMs = opts.busyTimeoutMs ?? 30_000;
  const { name, dialect, shown } = await createDialect(url, opts);
  const db = new Kysely<Database>({ dialect });
  try {
    await migrateStore(db, name, { upTo: opts.migrateUpTo, log: opts.log, url: shown });
    for (const ext of opts.extensions ?? [])
      await migrateExtension(db, name, ext, { log: opts.log, url: shown });
  } catch (err) {
    await db.destroy().catch(() => {});
    throw err;
  }
  const ctx: StoreContext = { dialect: name, now };
  const heldSqliteLocks = new Map<string, string>();
  let closed = false;

  async function withSqliteLock<T>(lock: string, fn: () => Promise<T>, waitMs: number): Promise<T> {
    const owner = randomUUID();
    const host = hostname();
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      const got = await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('store_lock')
          .selectAll()
          .where('name', '=', lock)
          .executeTakeFirst();
        if (row) {
          // A holder on this host whose process is gone crashed while holding the lock: take it over.
          const stale = row.host === host && row.pid !== process.pid && !pidAlive(Number(row.pid));
          if (!stale) return false;
          opts.log?.('warn', `lock '${lock}' was held by dead process ${row.pid}; taking it over`);
          await trx
            .deleteFrom('store_lock')
            .where('name', '=', lock)
            .where('owner', '=', row.owner)
            .execute();
        }
        await trx
          .insertInto('store_lock')
          .values({ name: lock, owner, host, pid: process.pid, acquired: now().toISOString() })
          .execute();
        return true;
      });
      if (got) break;
      if (Date.now() >= deadline) {
        throw new StoreError(
          'ERR_STORE_LOCKED',
          `lock '${lock}' is held by another process; gave up after ${waitMs} ms`,
          {
            lock,
            url: shown,
          },
        );
      }
      await delay(Math.min(25 * 2 ** Math.min(attempt, 3), Math.max(1, deadline - Date.now())));
    }
    heldSqliteLocks.set(owner, lock);
    try {
      return await fn();
    } finally {
      heldSqliteLocks.delete(owner);
      if (!closed)
        await db.deleteFrom('store_lock').where('name', '=', lock).where('owner', '=', owner).execute();
    }
  }

  async function withPostgresLock<T>(lock: string, fn: () => Promise<T>, waitMs: number): Promise<T> {
    const deadline = Date.now() + waitMs;
    // A session advisory lock lives on one connection: hold that connection for the whole callback. The
    // server drops the lock by itself if this process dies.
    return db.connection().execute(async (conn) => {
      for (let attempt = 0; ; attempt++) {
        const r = await sql<{
          ok: boolean;
        }>`select pg_try_advisory_lock(${PG_LOCK_NAMESPACE}::int4, hashtext(${lock})) as ok`.execute(conn);
        if (r.rows[0]?.ok) break;
        if (Date.now() >= deadline) {
          throw new StoreError(
            'ERR_STORE_LOCKED',
            `lock '${lock}' is held by another process; gave up after ${waitMs} ms`,
            {
              lock,
              url: shown,
            },
          );
        }
        await delay(Math.min(25 * 2 ** Math.min(attempt, 3), Math.max(1, deadline - Date.now())));
      }
      try {
        return await fn();
      } finally {
        await sql`select pg_advisory_unlock(${PG_LOCK_NAMESPACE}::int4, hashtext(${lock}))`.execute(conn);
      }
    });
  }

  const extensions = new Map<StoreExtension<unknown>, unknown>();
  for (const ext of opts.extensions ?? []) {
    extensions.set(
      ext,
      ext.repository({
        db,
        dialect: name,
        now,
        transaction: (fn) => db.transaction().execute(fn),
      }),
    );
  }

  const store: Store = {
    dialect: name,
    url: shown,
    publisher: createPublisherRepository(db, ctx),
    subscriber: createSubscriberRepository(db, ctx),
    db: db as unknown as Kysely<unknown>,
    extension<R>(ext: StoreExtension<R>): R {
      if (!extensions.has(ext as StoreExtension<unknown>)) {
        throw new StoreError(
          'ERR_STORE_INVALID',
          `the store was not opened with the '${ext.name}' extension`,
          { key: ext.name },
        );
      }
      return extensions.get(ext as StoreExtension<unknown>) as R;
    },
    withLock<T>(lock: string, fn: () => Promise<T>, lockOptions?: { waitMs?: number }): Promise<T> {
      if (typeof lock !== 'string' || lock === '') {
        return Promise.reject(new StoreError('ERR_STORE_INVALID', 'a lock needs a non-empty name', { lock }));
      }
      const waitMs = lockOptions?.waitMs ?? busyTimeoutMs;
      return name === 'sqlite' ? withSqliteLock(lock, fn, waitMs) : withPostgresLock(lock, fn, waitMs);
    },
    async close() {
      if (closed) return;
      if (heldSqliteLocks.size) {
        await db
          .deleteFrom('store_lock')
          .where('owner', 'in', [...heldSqliteLocks.keys()])
          .execute()
          .catch(() => {});
      }
      closed = true;
      await db.destroy();
    },
  };
  return store;
}

/** Opens the store, runs `fn`, and always closes the store, whether `fn` succeeds or throws. */
export async function usingStore<T>(
  url: string,
  fn: (store: Store) => Promise<T>,
  options?: OpenStoreOptions,
): Promise<T> {
  const store = await openStore(url, options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
