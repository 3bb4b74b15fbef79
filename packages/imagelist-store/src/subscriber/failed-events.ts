// The queue of event deliveries that failed, for `vmcatcher_cache --retry-events`, and its dead-letter list: an
// event that failed too often is moved there (`dead` set) so that it no longer blocks the ones after it.
import type { FailedEvent, SubscriberRepository } from '../api.js';
import type { RepoContext } from '../context.js';
import { invalid, notFound } from '../errors.js';
import { fromDb, toDb, toNum } from '../util.js';

export type FailedEventMethods = Pick<
  SubscriberRepository,
  'recordFailedEvent' | 'listFailedEvents' | 'deleteFailedEvent' | 'bumpFailedEvent' | 'markFailedEventDead'
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
    async listFailedEvents(filter = {}): Promise<FailedEvent[]> {
      let q = ctx.q.selectFrom('sub_failed_event').selectAll();
      if (filter.dead === true) q = q.where('dead', 'is not', null);
      if (filter.dead === false) q = q.where('dead', 'is', null);
      const rows = await q.orderBy('id').execute();
      return rows.map((r) => ({
        id: toNum(r.id),
        recorded: fromDb(r.recorded),
        type: r.type,
        payload: JSON.parse(r.payload) as Record<string, unknown>,
        error: r.error,
        attempts: toNum(r.attempts),
        ...(r.dead ? { dead: fromDb(r.dead) } : {}),
      }));
    },
    async deleteFailedEvent(id) {
      const r = await ctx.q.deleteFrom('sub_failed_event').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('failed event', String(id));
    },
    async bumpFailedEvent(id, error) {
      const row = await ctx.q
        .updateTable('sub_failed_event')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), error: String(error) }))
        .where('id', '=', id)
        .returning('attempts')
        .executeTakeFirst();
      if (!row) throw notFound('failed event', String(id));
      return toNum(row.attempts);
    },
    async markFailedEventDead(id) {
      const r = await ctx.q
        .updateTable('sub_failed_event')
        .set({ dead: toDb(ctx.now()) })
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound('failed event', String(id));
    },
  };
}
