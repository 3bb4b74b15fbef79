// The outbox: events written into the store in the same transaction as the state change they report, and
// published later, in order, by drainOutbox. A StoreExtension of @hepix/imagelist-store (table eventbus_outbox),
// so `store.transaction(({ subscriber, extension }) => …)` writes both or neither.
import { randomUUID } from 'node:crypto';
import type { DialectName, StoreExtension, StoreExtensionContext } from '@hepix/imagelist-store';
import { type Generated, type Kysely, type Migration, type Selectable, sql } from 'kysely';
import { EventBusError } from './errors.js';
import { type BusEvent, encodeEvent } from './publisher.js';

interface OutboxTable {
  seq: Generated<number | string>;
  id: string;
  type: string;
  payload: string;
  created: string;
  published: string | null;
}
interface OutboxDb {
  eventbus_outbox: OutboxTable;
}

/** An event as the outbox keeps it. */
export interface OutboxEvent extends BusEvent {
  seq: number;
  created: string;
  /** When the broker confirmed it (ISO 8601), or null while pending. */
  published: string | null;
}

export interface EnqueueInput {
  /** Default: a new UUID. */
  id?: string;
  type: string;
  payload: unknown;
}

export interface Outbox {
  /** Records an event (on the store, or on the transaction the repository was taken from). */
  enqueue(event: EnqueueInput): Promise<OutboxEvent>;
  /** The oldest `limit` (default 100) events not yet published, in seq order. */
  pending(limit?: number): Promise<OutboxEvent[]>;
  /** Marks events published; returns how many were pending. */
  markPublished(ids: readonly string[]): Promise<number>;
  /** One event by id. */
  get(id: string): Promise<OutboxEvent | undefined>;
  counts(): Promise<{ pending: number; published: number }>;
  /** Deletes events published before `before`; returns how many. Pending events are never deleted. */
  prune(before: Date): Promise<number>;
}

function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_outbox': {
      async up(db: Kysely<unknown>) {
        // seq orders the events: an integer the database assigns at insert.
        let table = db.schema.createTable('eventbus_outbox');
        table =
          dialect === 'postgres'
            ? table.addColumn('seq', 'bigserial', (c) => c.primaryKey())
            : table.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement());
        await table
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('published', 'text')
          .execute();
        await db.schema
          .createIndex('eventbus_outbox_pending')
          .on('eventbus_outbox')
          .column('seq')
          .where(sql.ref('published'), 'is', null)
          .execute();
      },
    },
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '23505' || (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'));
}

async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof EventBusError) throw err;
    throw new EventBusError('ERR_EVENTBUS_STORE', `${what}: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  }
}

const row = (r: Selectable<OutboxTable>): OutboxEvent => ({
  seq: Number(r.seq),
  id: r.id,
  type: r.type,
  payload: JSON.parse(r.payload) as unknown,
  created: r.created,
  published: r.published,
});

function createRepository(ctx: StoreExtensionContext): Outbox {
  const db = ctx.db as Kysely<OutboxDb>;
  return {
    async enqueue(event) {
      const id = event.id ?? randomUUID();
      const payload = encodeEvent({ id, type: event.type, payload: event.payload }).toString('utf8');
      const created = ctx.now().toISOString();
      return guard('recording an event in the outbox', async () => {
        try {
          const r = await db
            .insertInto('eventbus_outbox')
            .values({ id, type: event.type, payload, created, published: null })
            .returning('seq')
            .executeTakeFirstOrThrow();
          return {
            seq: Number(r.seq),
            id,
            type: event.type,
            payload: JSON.parse(payload),
            created,
            published: null,
          };
        } catch (err) {
          if (isUniqueViolation(err)) {
            throw new EventBusError('ERR_EVENTBUS_DUPLICATE', `event ${id} is already in the outbox`, {
              eventId: id,
              cause: err,
            });
          }
          throw err;
        }
      });
    },

    pending(limit = 100) {
      if (!(Number.isSafeInteger(limit) && limit >= 1)) {
        return Promise.reject(new EventBusError('ERR_EVENTBUS_INVALID', `invalid limit ${limit}`));
      }
      return guard('reading the outbox', async () =>
        (
          await db
            .selectFrom('eventbus_outbox')
            .selectAll()
            .where('published', 'is', null)
            .orderBy('seq')
            .limit(limit)
            .execute()
        ).map(row),
      );
    },

    markPublished(ids) {
      if (ids.length === 0) return Promise.resolve(0);
      const at = ctx.now().toISOString();
      return guard('marking outbox events published', async () => {
        let n = 0;
        for (let i = 0; i < ids.length; i += 500) {
          const r = await db
            .updateTable('eventbus_outbox')
            .set({ published: at })
            .where('id', 'in', ids.slice(i, i + 500))
            .where('published', 'is', null)
            .executeTakeFirst();
          n += Number(r.numUpdatedRows);
        }
        return n;
      });
    },

    get(id) {
      return guard('reading the outbox', async () => {
        const r = await db.selectFrom('eventbus_outbox').selectAll().where('id', '=', id).executeTakeFirst();
        return r ? row(r) : undefined;
      });
    },

    counts() {
      return guard('counting the outbox', async () => {
        const r = await db
          .selectFrom('eventbus_outbox')
          .select((eb) => [eb.fn.countAll().as('total'), eb.fn.count('published').as('published')])
          .executeTakeFirstOrThrow();
        const total = Number(r.total);
        const published = Number(r.published);
        return { pending: total - published, published };
      });
    },

    prune(before) {
      return guard('pruning the outbox', async () => {
        const r = await db
          .deleteFrom('eventbus_outbox')
          .where('published', 'is not', null)
          .where('published', '<', before.toISOString())
          .executeTakeFirst();
        return Number(r.numDeletedRows);
      });
    },
  };
}

/**
 * The outbox's table in the HEPiX store: `openStore(url, { extensions: [outboxExtension] })`, then
 * `store.extension(outboxExtension)`, or inside `store.transaction(({ extension }) => extension(outboxExtension))`.
 */
export const outboxExtension: StoreExtension<Outbox> = {
  name: 'eventbus',
  migrations,
  repository: createRepository,
};
