// The queue of event deliveries that failed, for `vmcatcher_subscribe --retry-events`.
import type { FailedEvent, SubscriberRepository } from '../api.js';
import type { RepoContext } from '../context.js';
import { invalid, notFound } from '../errors.js';
import { fromDb, toDb, toNum } from '../util.js';

export type FailedEventMethods = Pick<
  SubscriberRepository,
  'recordFailedEvent' | 'listFailedEvents' | 'deleteFailedEvent' | 'bumpFailedEvent'
>;

export function createFailedEvents(ctx: RepoContext): FailedEventMethods {
  return {
    async recordFailedEvent(event) {
      if (typeof event?.type !== 'string' || event.type === '')
        throw invalid('a failed event needs a type', 'event');
      const row = await ctx.q
        .insertInto('sub_failed_event')
        .values({
          recorded: toDb(ctx.now()),
          type: event.type,
          payload: JSON.stringify(event.payload ?? {}),
          error: String(event.error ?? ''),
          attempts: 1,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return toNum(row.id);
    },
    async listFailedEvents(): Promise<FailedEvent[]> {
      const rows = await ctx.q.selectFrom('sub_failed_event').selectAll().orderBy('id').execute();
      return rows.map((r) => ({
        id: toNum(r.id),
        recorded: fromDb(r.recorded),
        type: r.type,
        payload: JSON.parse(r.payload) as Record<string, unknown>,
        error: r.error,
        attempts: toNum(r.attempts),
      }));
    },
    async deleteFailedEvent(id) {
      const r = await ctx.q.deleteFrom('sub_failed_event').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('failed event', String(id));
    },
    async bumpFailedEvent(id, error) {
      const r = await ctx.q
        .updateTable('sub_failed_event')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), error: String(error) }))
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound('failed event', String(id));
    },
  };
}
