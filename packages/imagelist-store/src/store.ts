// Opening a store: the dialect (injected, or built from a URL), the read-only look for original vmcatcher and
// vmcaster tables, migrations, the locker, the repositories.
import type { Logger } from '@hepix/common';
import { Kysely, Migrator, type Transaction } from 'kysely';
import type { CreateStoreOptions, OpenStoreOptions, Store, StoreRepositories } from './api.js';
import { createWorkClaims } from './claims.js';
import { type RepoContext, rootContext, transactionContext } from './context.js';
import type { DialectName, StoreDialect } from './dialect.js';
import { StoreError } from './errors.js';
import { migrateExtension, type StoreExtension, type StoreExtensionContext } from './extension.js';
import { type Locker, resolveLeaseTimings } from './lease.js';
import { inspectLegacy, migrateLegacyInPlace } from './legacy/in-place.js';
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE, storeMigrations } from './migrations.js';
import { createPublisherInternals, createPublisherRepository, type PublisherInternals } from './publisher.js';
import type { AnyKysely, Database } from './schema.js';
import {
  createSubscriberInternals,
  createSubscriberRepository,
  type SubscriberInternals,
} from './subscriber/index.js';
import { parseStoreUrl } from './url.js';

/** Internal options, for tests: stop migrations at a given name (a store "made by an older version"). */
export interface InternalOpenOptions extends OpenStoreOptions {
  /** @internal */
  migrateUpTo?: string;
  /** @internal */
  cwd?: string;
}

/** What the legacy importers use of a store: its internals, one transaction at a time. */
export interface StoreInternals {
  readonly dialect: StoreDialect;
  readonly log?: Logger;
  readonly now: () => Date;
  /** One transaction with the internal repositories and its context (the importers read the same database). */
  run<T>(
    fn: (t: {
      ctx: RepoContext;
      subscriber: SubscriberInternals;
      publisher: PublisherInternals;
    }) => Promise<T>,
  ): Promise<T>;
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

const INTERNALS = new WeakMap<Store, StoreInternals>();

export function storeInternals(store: Store): StoreInternals {
  const i = INTERNALS.get(store);
  if (!i) throw new StoreError('ERR_STORE_INVALID', 'not a store made by openStore or createStore');
  return i;
}

async function dialectFor(url: string, options: InternalOpenOptions): Promise<StoreDialect> {
  const parsed = parseStoreUrl(url, options.cwd);
  if (parsed.dialect === 'sqlite') {
    const { createSqliteDialect } = await import('./sqlite.js');
    return createSqliteDialect({
      path: parsed.path,
      busyTimeoutMs: options.busyTimeoutMs,
      mustExist: options.mustExist,
      url: parsed.url,
    });
  }
  const { createPostgresDialect } = await import('./postgres.js');
  return createPostgresDialect({ connectionString: parsed.connectionString, url: parsed.url });
}

/** Channel names are SQL identifiers, quoted as they are: a narrow set keeps them safe and portable. */
function checkChannel(channel: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel))
    throw new StoreError('ERR_STORE_INVALID', `not a channel name: ${JSON.stringify(channel)}`, {
      key: 'channel',
    });
}

/** Applies every pending migration; safe when several processes open the same store at once. */
async function migrateStore(
  db: AnyKysely,
  dialect: StoreDialect,
  options: { upTo?: string; log?: Logger; url?: string } = {},
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: storeMigrations(dialect, { upTo: options.upTo, log: options.log }),
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
    options.log?.(r.status === 'Success' ? 'info' : 'warn', `migration ${r.migrationName}: ${r.status}`, {
      name: 'db',
    });
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

/**
 * A store on an injected dialect (`createSqliteDialect`, `createPostgresDialect`, or one of your own). Migrates
 * the schema, and an original vmcatcher/vmcaster database found in the same place (see `legacyMigration`).
 */
export async function createStore(options: CreateStoreOptions): Promise<Store> {
  const opts = options as CreateStoreOptions & Pick<InternalOpenOptions, 'migrateUpTo'>;
  const { dialect, log } = opts;
  resolveLeaseTimings(opts.lease);
  const now = opts.now ?? (() => new Date());
  const base = { dialect, now, log };
  const shown = dialect.url;
  const db = new Kysely<Database>({ dialect: dialect.kysely });
  let locker: Locker | undefined;
  try {
    // Read-only first: an original database must be copied aside before anything writes to it.
    const legacy = opts.legacyMigration === 'off' ? undefined : await inspectLegacy(db, dialect, now);
    if (legacy?.plan.action === 'refuse') {
      throw new StoreError('ERR_STORE_LEGACY', legacy.plan.message, { url: shown });
    }
    if (legacy?.plan.action === 'none' && legacy.plan.note) log?.('warn', legacy.plan.note, { name: 'db' });
    const backup = legacy?.plan.action === 'migrate' ? await dialect.preserve?.(legacy.suffix) : undefined;
    await dialect.prepare?.();
    await migrateStore(db, dialect, { upTo: opts.migrateUpTo, log, url: shown });
    for (const ext of opts.extensions ?? [])
      await migrateExtension(db, dialect.name, ext, { log, url: shown });
    locker = dialect.createLocker(db, {
      ...opts.lease,
      waitMs: opts.busyTimeoutMs ?? 30_000,
      log,
      url: shown,
    });
    const store = buildStore(db, base, locker, opts.extensions ?? []);
    if (legacy?.plan.action === 'migrate') {
      const done = await migrateLegacyInPlace(storeInternals(store), legacy.plan.tools, backup);
      if (done) Object.defineProperty(store, 'legacyMigration', { value: done, enumerable: true });
    }
    return store;
  } catch (err) {
    await locker?.close().catch(() => {});
    await db.destroy().catch(() => {});
    throw err;
  }
}

function extensionContext(
  q: Kysely<Database> | Transaction<Database>,
  name: DialectName,
  now: () => Date,
): StoreExtensionContext {
  return {
    db: q as AnyKysely,
    dialect: name,
    now,
    transaction: (fn) =>
      q.isTransaction
        ? fn(q as Transaction<Database> as never)
        : (q as Kysely<Database>).transaction().execute(fn),
  };
}

function buildStore(
  db: Kysely<Database>,
  base: { dialect: StoreDialect; now: () => Date; log?: Logger },
  locker: Locker,
  exts: readonly StoreExtension<unknown>[],
): Store {
  const { dialect } = base;
  const root = rootContext(db, base);
  const extensions = new Map<StoreExtension<unknown>, unknown>();
  for (const ext of exts) extensions.set(ext, ext.repository(extensionContext(db, dialect.name, base.now)));
  let closed = false;

  const requireExtension = (ext: StoreExtension<unknown>) => {
    if (!extensions.has(ext)) {
      throw new StoreError('ERR_STORE_INVALID', `the store was not opened with the '${ext.name}' extension`, {
        key: ext.name,
      });
    }
  };

  const listeners = new Set<() => Promise<void>>();
  const withLock = async <T>(
    name: string,
    fn: (signal: AbortSignal) => Promise<T>,
    options?: { waitMs?: number },
  ): Promise<T> => {
    const lease = await locker.acquire(name, options);
    try {
      return await fn(lease.signal);
    } finally {
      await lease.release();
    }
  };

  const store: Store = {
    dialect: dialect.name,
    url: dialect.url,
    publisher: createPublisherRepository(root),
    subscriber: createSubscriberRepository(root),
    transaction<T>(fn: (repositories: StoreRepositories) => Promise<T>): Promise<T> {
      return db.transaction().execute((trx) => {
        const ctx = transactionContext(trx, base);
        const bound = new Map<StoreExtension<unknown>, unknown>();
        return fn({
          publisher: createPublisherRepository(ctx),
          subscriber: createSubscriberRepository(ctx),
          extension<R>(ext: StoreExtension<R>): R {
            requireExtension(ext as StoreExtension<unknown>);
            if (!bound.has(ext as StoreExtension<unknown>))
              bound.set(
                ext as StoreExtension<unknown>,
                ext.repository(extensionContext(trx, dialect.name, base.now)),
              );
            return bound.get(ext as StoreExtension<unknown>) as R;
          },
        });
      });
    },
    withLock,
    lockHolder: (name) => locker.holder(name),
    claims: createWorkClaims(db as AnyKysely, dialect),
    async notify(channel, payload = '') {
      checkChannel(channel);
      await dialect.notify?.(db as AnyKysely, channel, payload);
    },
    async listen(channel, onNotify) {
      checkChannel(channel);
      const stop = (await dialect.listen?.(channel, onNotify)) ?? (async () => {});
      listeners.add(stop);
      return async () => {
        listeners.delete(stop);
        await stop();
      };
    },
    extension<R>(ext: StoreExtension<R>): R {
      requireExtension(ext as StoreExtension<unknown>);
      return extensions.get(ext as StoreExtension<unknown>) as R;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...listeners].map((stop) => stop()));
      await locker.close();
      await db.destroy();
    },
  };
  INTERNALS.set(store, {
    dialect,
    log: base.log,
    now: base.now,
    run: (fn) =>
      db.transaction().execute((trx) => {
        const ctx = transactionContext(trx, base);
        return fn({
          ctx,
          subscriber: createSubscriberInternals(ctx),
          publisher: createPublisherInternals(ctx),
        });
      }),
    // A migration of a large original database may take a while: wait for it rather than fail.
    withLock: (name, fn) => withLock(name, () => fn(), { waitMs: 600_000 }),
  });
  return store;
}

/**
 * Opens (creating when allowed) and migrates the store named by `url`: `sqlite:///relative.db`,
 * `sqlite:////absolute.db`, `sqlite://` (memory), `postgresql://…` or `postgres://…`.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  // Bad options fail before anything is opened or created.
  resolveLeaseTimings(options.lease);
  const dialect = await dialectFor(url, options as InternalOpenOptions);
  return createStore({ ...options, dialect });
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
