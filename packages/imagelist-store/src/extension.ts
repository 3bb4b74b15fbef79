// Extensions: another package (the marketplace, …) keeps tables of its own in the same database, created by
// its own migrations and reached only through the repository it defines. The store runs the extension's
// migrations after its own, with a migration table per extension, so the two histories never mix.
import { type Kysely, type Migration, Migrator, type Transaction } from 'kysely';
import type { OpenStoreOptions } from './api.js';
import type { DialectName } from './dialect.js';
import { StoreError } from './errors.js';
import type { AnyKysely } from './schema.js';

/** What an extension's repository is built from. */
export interface StoreExtensionContext {
  /** The store's kysely instance, typed by the extension for its own tables. */
  // biome-ignore lint/suspicious/noExplicitAny: each extension declares its own table types
  db: Kysely<any>;
  dialect: DialectName;
  /** The store's clock. */
  now: () => Date;
  /** Runs `fn` in one transaction (BEGIN IMMEDIATE on SQLite). */
  // biome-ignore lint/suspicious/noExplicitAny: see above
  transaction<T>(fn: (trx: Transaction<any>) => Promise<T>): Promise<T>;
}

/** A package's tables in the store. Pass it to `openStore(url, { extensions })`, then `store.extension(it)`. */
export interface StoreExtension<R> {
  /** Lower-case name; its migrations are recorded in `store_migration_<name>`. Prefix its tables with it. */
  readonly name: string;
  /** The extension's migrations by name (applied in name order, never destructive). */
  migrations(dialect: DialectName): Record<string, Migration>;
  /** Its repository: the only way its tables are read and written. */
  repository(context: StoreExtensionContext): R;
}

const NAME = /^[a-z][a-z0-9_]{0,40}$/;

/** Applies the extension's pending migrations (safe when several processes open the store at once). */
export async function migrateExtension(
  db: AnyKysely,
  dialect: DialectName,
  extension: StoreExtension<unknown>,
  options: { log?: OpenStoreOptions['log']; url?: string } = {},
): Promise<void> {
  if (!NAME.test(extension.name)) {
    throw new StoreError('ERR_STORE_INVALID', `invalid store extension name '${extension.name}'`, {
      key: extension.name,
    });
  }
  const migrations = extension.migrations(dialect);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: `store_migration_${extension.name}`,
    migrationLockTableName: `store_migration_lock_${extension.name}`,
  });
  const outcome = await migrator.migrateToLatest().catch((cause: unknown) => ({
    error: cause,
    results: [],
  }));
  for (const r of outcome.results ?? []) {
    options.log?.(
      r.status === 'Success' ? 'info' : 'warn',
      `migration ${extension.name}/${r.migrationName}: ${r.status}`,
      { name: 'db' },
    );
  }
  if (outcome.error) {
    const cause = outcome.error as Error;
    throw new StoreError(
      'ERR_STORE_MIGRATION',
      `migrating the ${extension.name} tables of ${options.url ?? 'the store'} failed: ${cause.message}`,
      { url: options.url, key: extension.name },
      { cause },
    );
  }
}
