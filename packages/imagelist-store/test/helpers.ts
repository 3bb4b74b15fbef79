// The dialect matrix: every store test runs on SQLite (a temp file) and on the real PostgreSQL server from
// scripts/start-postgres.sh (a fresh database per store). HEPIX_STORE_DIALECTS=sqlite narrows it locally;
// under CI=true it is ignored, so a missing PostgreSQL fails the run instead of skipping.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase as createPostgresDatabase } from '@hepix/test-support';
import { Kysely } from 'kysely';
import { expect, inject } from 'vitest';
import { type OpenStoreOptions, openStore, type Store, StoreError } from '../src/index.js';
import { createPostgresDialect } from '../src/postgres.js';
import { createSqliteDialect } from '../src/sqlite.js';
import { parseStoreUrl } from '../src/url.js';

export type DialectName = 'sqlite' | 'postgres';

export interface TestDatabase {
  url: string;
  dispose(): Promise<void>;
}

export function postgresUrl(): string {
  const url = process.env.TEST_POSTGRES_URL || inject('TEST_POSTGRES_URL');
  if (!url) throw new Error('TEST_POSTGRES_URL is not set and PostgreSQL could not be started');
  return url;
}

export function dialects(): DialectName[] {
  if (process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true') return ['sqlite'];
  return ['sqlite', 'postgres'];
}

export function tempDir(prefix = 'hepix-store-'): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function createTestDatabase(dialect: DialectName): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const t = tempDir();
    return { url: `sqlite:///${join(t.dir, 'store.db')}`, dispose: async () => t.dispose() };
  }
  process.env.TEST_POSTGRES_URL ||= postgresUrl();
  const db = await createPostgresDatabase('hepix_store');
  return { url: db.url, dispose: db.drop };
}

/**
 * A kysely instance of its own on the database of `url`, for what tests look at or break behind the store's back
 * (raw rows, injected triggers): the store has no such escape hatch.
 */
async function rawDb(url: string): Promise<Kysely<Record<string, Record<string, unknown>>>> {
  const parsed = parseStoreUrl(url);
  const dialect =
    parsed.dialect === 'sqlite'
      ? await createSqliteDialect({ path: parsed.path })
      : await createPostgresDialect({ connectionString: parsed.connectionString, poolSize: 2 });
  return new Kysely({ dialect: dialect.kysely });
}

/** Runs `fn` on a raw kysely instance of the database of `url` and closes it. */
export async function withRawDb<T>(
  url: string,
  fn: (db: Kysely<Record<string, Record<string, unknown>>>) => Promise<T>,
): Promise<T> {
  const db = await rawDb(url);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/** A fresh store of the given dialect; `dispose` closes it and removes its database. */
export async function freshStore(
  dialect: DialectName,
  options?: OpenStoreOptions,
): Promise<{ store: Store; url: string; dispose(): Promise<void> }> {
  const db = await createTestDatabase(dialect);
  const store = await openStore(db.url, options);
  return {
    store,
    url: db.url,
    dispose: async () => {
      await store.close();
      await db.dispose();
    },
  };
}

/** Asserts that `p` rejects with a StoreError of this code and returns it. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<StoreError> {
  const err = await p.then(
    () => {
      throw new Error(`expected ${code}, but it resolved`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  return err as StoreError;
}

/** A hex sha512-looking string derived from a seed. */
export function fakeSha(seed: string): string {
  return Buffer.from(seed.padEnd(64, '.')).toString('hex').slice(0, 128).padEnd(128, '0');
}
