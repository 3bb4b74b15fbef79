// Extensions: another package's tables in the same store, migrated on open, reached through its repository.
import type { Kysely, Migration } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type StoreExtension } from '../src/index.js';
import { createTestDatabase, dialects, expectCode } from './helpers.js';

interface NotesDb {
  notes_entry: { id: string; text: string; created: string };
}

function notesExtension(migrations: Record<string, Migration>): StoreExtension<{
  add(id: string, text: string): Promise<void>;
  all(): Promise<{ id: string; text: string; created: string }[]>;
}> {
  return {
    name: 'notes',
    migrations: () => migrations,
    repository: ({ db, now, transaction }) => {
      const k = db as Kysely<NotesDb>;
      return {
        add: (id, text) =>
          transaction(async (trx) => {
            await (trx as unknown as Kysely<NotesDb>)
              .insertInto('notes_entry')
              .values({ id, text, created: now().toISOString() })
              .execute();
          }),
        all: () => k.selectFrom('notes_entry').selectAll().orderBy('id').execute(),
      };
    },
  };
}

const v1: Record<string, Migration> = {
  '0001_notes': {
    async up(db) {
      await db.schema
        .createTable('notes_entry')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe.each(dialects())('store extensions on %s', (dialect) => {
  it('migrates the extension after the store and serves its repository', async () => {
    const t = await createTestDatabase(dialect);
    cleanups.push(() => t.dispose());
    const ext = notesExtension(v1);
    const now = () => new Date('2030-01-02T03:04:05.000Z');
    const store = await openStore(t.url, { extensions: [ext], now });
    await store.extension(ext).add('b', 'second');
    await store.extension(ext).add('a', 'first');
    expect(await store.extension(ext).all()).toEqual([
      { id: 'a', text: 'first', created: '2030-01-02T03:04:05.000Z' },
      { id: 'b', text: 'second', created: '2030-01-02T03:04:05.000Z' },
    ]);
    // The store's own tables are unaffected and usable.
    await store.subscriber.createEndorser('e', [{ subject: '/CN=a', issuer: '/CN=ca' }]);
    await store.close();

    // A newer version of the extension adds a column; reopening applies only that migration, data kept.
    const logs: string[] = [];
    const v2 = notesExtension({
      ...v1,
      '0002_notes_tag': {
        async up(db) {
          await db.schema.alterTable('notes_entry').addColumn('tag', 'text').execute();
        },
      },
    });
    const again = await openStore(t.url, { extensions: [v2], log: (_l, m) => logs.push(m) });
    expect(logs).toEqual(['migration notes/0002_notes_tag: Success']);
    expect((await again.extension(v2).all()).map((n) => n.id)).toEqual(['a', 'b']);
    await again.close();
  });

  it('refuses an extension the store was not opened with, and a bad name', async () => {
    const t = await createTestDatabase(dialect);
    cleanups.push(() => t.dispose());
    const store = await openStore(t.url);
    cleanups.push(() => store.close());
    const ext = notesExtension(v1);
    expect(() => store.extension(ext)).toThrowError(/not opened with the 'notes' extension/);
    await expectCode(openStore(t.url, { extensions: [{ ...ext, name: 'Bad-Name' }] }), 'ERR_STORE_INVALID');
  });

  it('a failing extension migration is ERR_STORE_MIGRATION and leaves no table behind', async () => {
    const t = await createTestDatabase(dialect);
    cleanups.push(() => t.dispose());
    const broken = notesExtension({
      '0001_notes': {
        async up(db) {
          await v1['0001_notes'].up(db);
          throw new Error('boom');
        },
      },
    });
    const err = await expectCode(openStore(t.url, { extensions: [broken] }), 'ERR_STORE_MIGRATION');
    expect(err.message).toMatch(/notes tables .* boom/);
    const good = notesExtension(v1);
    const store = await openStore(t.url, { extensions: [good] });
    cleanups.push(() => store.close());
    expect(await store.extension(good).all()).toEqual([]);
  });
});
