// Which endorser may sign which subscription: authorisation links, and the check `vmcatcher_subscribe -U` makes
// for every list it fetches.
import type { SubscriberRepository, SubscriptionLink } from '../api.js';
import type { RepoContext } from '../context.js';
import { canonicalPrincipal } from '../dn.js';
import { notFound, StoreError } from '../errors.js';
import { toBool, toNum } from '../util.js';
import { endorserId, requireSub } from './shared.js';

export type LinkMethods = Pick<SubscriberRepository, 'listLinks' | 'link' | 'unlink' | 'isAuthorised'>;

export interface LinkInternals {
  /** Creates or updates the link of two rows; `authorised` true wins over an existing false. */
  putLink(endorserRowId: number, subscriptionRowId: number, authorised: boolean): Promise<'created' | 'kept'>;
}

export function createLinks(ctx: RepoContext): LinkMethods & LinkInternals {
  return {
    async listLinks(): Promise<SubscriptionLink[]> {
      const rows = await ctx.q
        .selectFrom('sub_link as k')
        .innerJoin('sub_endorser as e', 'e.id', 'k.endorser_id')
        .innerJoin('sub_subscription as s', 's.id', 'k.subscription_id')
        .select(['e.identifier as endorser', 's.identifier as subscription', 'k.authorised'])
        .orderBy('e.identifier')
        .orderBy('s.identifier')
        .execute();
      return rows.map((r) => ({
        endorser: r.endorser,
        subscription: r.subscription,
        authorised: toBool(r.authorised),
      }));
    },
    async link(endorser, subscription) {
      await ctx.tx(async ({ q }) => {
        const eid = await endorserId(q, endorser);
        if (eid === undefined) throw notFound('endorser', endorser);
        const sub = await requireSub(q, subscription);
        const existing = await q
          .selectFrom('sub_link')
          .select('id')
          .where('endorser_id', '=', eid)
          .where('subscription_id', '=', sub.id)
          .executeTakeFirst();
        if (existing)
          await q.updateTable('sub_link').set({ authorised: 1 }).where('id', '=', existing.id).execute();
        else
          await q
            .insertInto('sub_link')
            .values({ endorser_id: eid, subscription_id: sub.id, authorised: 1 })
            .execute();
      });
    },
    async unlink(endorser, subscription) {
      await ctx.tx(async ({ q }) => {
        const eid = await endorserId(q, endorser);
        if (eid === undefined) throw notFound('endorser', endorser);
        const sub = await requireSub(q, subscription);
        const r = await q
          .deleteFrom('sub_link')
          .where('endorser_id', '=', eid)
          .where('subscription_id', '=', sub.id)
          .executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) {
          throw new StoreError(
            'ERR_STORE_NOT_FOUND',
            `endorser '${endorser}' is not linked to subscription '${subscription}'`,
            { entity: 'link', key: `${endorser} ${subscription}` },
          );
        }
      });
    },
    async isAuthorised(subscription, principal) {
      if (typeof principal?.subject !== 'string' || typeof principal.issuer !== 'string') return false;
      const p = canonicalPrincipal(principal);
      // Principal → its endorser (by the principal's endorser column; the originals joined on the row ids, §6.8).
      const r = await ctx.q
        .selectFrom('sub_link as k')
        .innerJoin('sub_principal as p', 'p.endorser_id', 'k.endorser_id')
        .innerJoin('sub_subscription as s', 's.id', 'k.subscription_id')
        .select('k.id')
        .where('s.identifier', '=', subscription)
        .where('p.subject', '=', p.subject)
        .where('p.issuer', '=', p.issuer)
        .where('k.authorised', '=', 1)
        .executeTakeFirst();
      return r !== undefined;
    },

    async putLink(eid, sid, authorised) {
      return ctx.tx(async ({ q }) => {
        const existing = await q
          .selectFrom('sub_link')
          .select(['id', 'authorised'])
          .where('endorser_id', '=', eid)
          .where('subscription_id', '=', sid)
          .executeTakeFirst();
        if (existing) {
          if (authorised && !toBool(existing.authorised))
            await q
              .updateTable('sub_link')
              .set({ authorised: 1 })
              .where('id', '=', toNum(existing.id))
              .execute();
          return 'kept';
        }
        await q
          .insertInto('sub_link')
          .values({ endorser_id: eid, subscription_id: sid, authorised: authorised ? 1 : 0 })
          .execute();
        return 'created';
      });
    },
  };
}
