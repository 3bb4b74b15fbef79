// store.transaction(fn): repositories bound to one transaction, committed together or not at all; and the one
// error model: what a repository did not expect is ERR_STORE_INTERNAL with its cause.
import type { Kysely, Migration } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store, StoreError, type StoreExtension } from '../src/index.js';
import { createTestDatabase, dialects, expectCode, freshStore } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const SIGNER = { subject: '/CN=Owen', issuer: '/CN=CA' };

interface NotesDb {
  notes_entry: { id: string; text: string };
}
const notes: StoreExtension<{ add(id: string, text: string): Promise<void>; all(): Promise<string[]> }> = {
  name: 'notes',
  migrations: (): Record<string, Migration> => ({
    '0001': {
      up: (db) =>
        db.schema
          .createTable('notes_entry')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('text', 'text', (c) => c.notNull())
          .execute(),
    },
  }),
  repository: ({ db }) => {
    const k = db as Kysely<NotesDb>;
    return {
      add: async (id, text) => void (await k.insertInto('notes_entry').values({ id, text }).execute()),
      all: async () =>
        (await k.selectFrom('notes_entry').select('id').orderBy('id').execute()).map((r) => r.id),
    };
  },
};

async function state(store: Store) {
  return {
    endorsers: (await store.subscriber.listEndorsers()).map((e) => e.identifier),
    subscriptions: (await store.subscriber.listSubscriptions()).map((s) => s.identifier),
    lists: await store.publisher.listImageLists(),
    notes: await store.extension(notes).all(),
  };
}

describe.each(dialects())('store.transaction on %s', (dialect) => {
  async function open() {
    const db = await createTestDatabase(dialect);
    cleanups.push(() => db.dispose());
    const store = await openStore(db.url, { extensions: [notes] });
    cleanups.push(() => store.close());
    return store;
  }

  it('commits what every repository did, together', async () => {
    const store = await open();
    const out = await store.transaction(async (r) => {
      await r.subscriber.createEndorser('owen', [SIGNER]);
      await r.subscriber.createSubscription({
        identifier: 's',
        description: '',
        uri: 'file:///l',
        endorser: 'owen',
      });
      await r.publisher.addImageList('list');
      await r.extension(notes).add('n1', 'hello');
      // Reads inside see the transaction's own writes.
      return r.subscriber.isAuthorised('s', SIGNER);
    });
    expect(out).toBe(true);
    expect(await state(store)).toEqual({
      endorsers: ['owen'],
      subscriptions: ['s'],
      lists: ['list'],
      notes: ['n1'],
    });
  });

  it('leaves nothing when the callback throws, and passes its error through unchanged', async () => {
    const store = await open();
    await store.publisher.addImageList('before');
    const before = await state(store);
    const boom = new Error('boom');
    const err = await store
      .transaction(async (r) => {
        await r.subscriber.createEndorser('owen', [SIGNER]);
        await r.publisher.addImageList('list');
        await r.extension(notes).add('n1', 'hello');
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(await state(store)).toEqual(before);
  });

  it('a repository error inside ends the transaction with its code, and nothing is kept', async () => {
    const store = await open();
    await store.subscriber.createEndorser('owen', [SIGNER]);
    const before = await state(store);
    await expectCode(
      store.transaction(async (r) => {
        await r.publisher.addImageList('list');
        await r.subscriber.createEndorser('owen', [SIGNER]);
      }),
      'ERR_STORE_CONFLICT',
    );
    expect(await state(store)).toEqual(before);
  });

  it('an extension the store was not opened with is refused inside too', async () => {
    const store = await open();
    const other = { ...notes, name: 'other' };
    await expectCode(
      store.transaction(async (r) => r.extension(other)),
      'ERR_STORE_INVALID',
    );
  });
});

describe.each(dialects())('unexpected failures on %s', (dialect) => {
  it('are ERR_STORE_INTERNAL with the original error as cause', async () => {
    const t = await freshStore(dialect);
    cleanups.push(() => t.dispose());
    await t.store.close();
    const err = await expectCode(t.store.subscriber.listEndorsers(), 'ERR_STORE_INTERNAL');
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toMatch(/^subscriber\.listEndorsers failed: /);
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.cause).not.toBeInstanceOf(StoreError);
    await expectCode(t.store.publisher.addImage('x'), 'ERR_STORE_INTERNAL');
  });
});
