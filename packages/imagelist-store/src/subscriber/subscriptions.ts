// Subscriptions and their Basic-auth credentials (kept in a table of their own, so that listing subscriptions
// never reads a secret).
import type { Updateable } from 'kysely';
import type { SubscriberRepository, Subscription, TrustAnchorMode, UpdateMode } from '../api.js';
import type { Db, RepoContext } from '../context.js';
import { conflict, invalid, notFound } from '../errors.js';
import type { SubSubscriptionTable } from '../schema.js';
import { fromDb, toBool, toDb, toNum } from '../util.js';
import { createImages } from './images.js';
import { createLinks } from './links.js';
import {
  endorserId,
  requireSub,
  type SummaryRow,
  splitUserInfo,
  subRow,
  summary,
  TRUST_ANCHORS,
  UPDATE_MODES,
} from './shared.js';

export type SubscriptionMethods = Pick<
  SubscriberRepository,
  | 'listSubscriptions'
  | 'getSubscription'
  | 'getSubscriptionByUri'
  | 'createSubscription'
  | 'updateSubscription'
  | 'setCredentials'
  | 'getCredentials'
  | 'deleteSubscription'
>;

interface SubscriptionRow {
  identifier: string;
  description: string;
  uri: string;
  authorised: boolean;
  trustAnchor: TrustAnchorMode;
  updateMode: UpdateMode;
  updated?: Date;
  credentials?: { username?: string; password?: string };
}

export interface SubscriptionInternals {
  /** A subscription as another database had it (its `updated` kept); returns its row id. */
  insertSubscription(row: SubscriptionRow): Promise<number>;
  /** Points the subscription at its latest list instance. */
  setLatestList(subscriptionRowId: number, imageListId: number): Promise<void>;
}

async function subscriptions(q: Db, where?: { identifier?: string; uri?: string }): Promise<Subscription[]> {
  let query = q
    .selectFrom('sub_subscription as s')
    .leftJoin('sub_credential as c', 'c.subscription_id', 's.id')
    .leftJoin('sub_imagelist as l', 'l.id', 's.latest_list_id')
    .select([
      's.identifier',
      's.description',
      's.uri',
      's.authorised',
      's.trust_anchor',
      's.update_mode',
      's.updated',
      's.last_attempt',
      's.last_success',
      's.last_error_at',
      's.last_error_code',
      's.last_error',
      'c.username',
      'c.password',
      'l.id as l_id',
      'l.imported',
      'l.created',
      'l.expires',
      'l.version',
      'l.data_hash',
      'l.expired',
      'l.withdrawn',
      'l.withdrawn_code',
      'l.withdrawn_reason',
      'l.signer_subject',
      'l.signer_issuer',
    ])
    .orderBy('s.identifier');
  if (where?.identifier !== undefined) query = query.where('s.identifier', '=', where.identifier);
  if (where?.uri !== undefined) query = query.where('s.uri', '=', where.uri);
  const rows = await query.execute();
  return rows.map((r) => {
    const s: Subscription = {
      identifier: r.identifier,
      description: r.description,
      uri: r.uri,
      authorised: toBool(r.authorised),
      trustAnchor: r.trust_anchor as TrustAnchorMode,
      updateMode: toNum(r.update_mode) as UpdateMode,
      hasUsername: r.username !== null && r.username !== undefined,
      hasPassword: r.password !== null && r.password !== undefined,
    };
    const updated = fromDb(r.updated);
    if (updated) s.updated = updated;
    if (r.last_attempt) s.lastAttempt = fromDb(r.last_attempt);
    if (r.last_success) s.lastSuccess = fromDb(r.last_success);
    if (r.last_error_at)
      s.lastError = {
        at: fromDb(r.last_error_at),
        code: r.last_error_code ?? '',
        message: r.last_error ?? '',
      };
    if (r.l_id !== null && r.l_id !== undefined)
      s.latest = summary({ ...(r as unknown as SummaryRow), id: r.l_id });
    return s;
  });
}

function checkSubscriptionPatch(
  p: { trustAnchor?: unknown; updateMode?: unknown },
  identifier: string,
): void {
  if (p.trustAnchor !== undefined && !TRUST_ANCHORS.includes(p.trustAnchor as TrustAnchorMode)) {
    throw invalid(`trust anchor must be one of ${TRUST_ANCHORS.join(', ')}`, 'subscription', identifier);
  }
  if (p.updateMode !== undefined && !UPDATE_MODES.includes(p.updateMode as number)) {
    throw invalid('update mode must be 0, 1 or 3', 'subscription', identifier);
  }
}

async function writeCredentials(
  q: Db,
  subscriptionId: number,
  credentials: { username?: string | null; password?: string | null },
): Promise<void> {
  const current = await q
    .selectFrom('sub_credential')
    .selectAll()
    .where('subscription_id', '=', subscriptionId)
    .executeTakeFirst();
  const username = credentials.username === undefined ? (current?.username ?? null) : credentials.username;
  const password = credentials.password === undefined ? (current?.password ?? null) : credentials.password;
  await q.deleteFrom('sub_credential').where('subscription_id', '=', subscriptionId).execute();
  if (username !== null || password !== null) {
    await q
      .insertInto('sub_credential')
      .values({ subscription_id: subscriptionId, username, password })
      .execute();
  }
}

/** Inserts the row after checking identifier and uri are free; the credentials go to their own table. */
async function insert(q: Db, row: SubscriptionRow): Promise<number> {
  if (await subRow(q, row.identifier)) throw conflict('subscription', row.identifier);
  const byUri = await q
    .selectFrom('sub_subscription')
    .select('identifier')
    .where('uri', '=', row.uri)
    .executeTakeFirst();
  if (byUri)
    throw conflict('subscription uri', row.uri, `is already used by subscription '${byUri.identifier}'`);
  const r = await q
    .insertInto('sub_subscription')
    .values({
      identifier: row.identifier,
      description: row.description,
      uri: row.uri,
      authorised: row.authorised ? 1 : 0,
      trust_anchor: row.trustAnchor,
      update_mode: row.updateMode,
      updated: row.updated ? toDb(row.updated) : null,
      latest_list_id: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const sid = toNum(r.id);
  const c = row.credentials ?? {};
  if (c.username !== undefined || c.password !== undefined) await writeCredentials(q, sid, c);
  return sid;
}

export function createSubscriptions(ctx: RepoContext): SubscriptionMethods & SubscriptionInternals {
  return {
    listSubscriptions: () => subscriptions(ctx.q),
    async getSubscription(identifier) {
      return (await subscriptions(ctx.q, { identifier }))[0];
    },
    async getSubscriptionByUri(uri) {
      return (await subscriptions(ctx.q, { uri: splitUserInfo(uri).uri }))[0];
    },
    async createSubscription(input) {
      const { identifier, description } = input ?? ({} as typeof input);
      if (typeof identifier !== 'string' || identifier === '')
        throw invalid('a subscription needs an identifier', 'subscription');
      if (typeof input.uri !== 'string' || input.uri === '')
        throw invalid(`subscription '${identifier}' needs a uri`, 'subscription', identifier);
      const trustAnchor = input.trustAnchor ?? 'none';
      const updateMode = input.updateMode ?? 0;
      checkSubscriptionPatch({ trustAnchor, updateMode }, identifier);
      const split = splitUserInfo(input.uri);
      const credentials = {
        username: input.credentials?.username ?? split.username,
        password: input.credentials?.password ?? split.password,
      };
      const defs = new Map<string, boolean>();
      for (const image of input.images ?? []) {
        if (typeof image?.identifier !== 'string' || image.identifier === '') {
          throw invalid(`an image of subscription '${identifier}' has no identifier`, 'image');
        }
        defs.set(image.identifier, Boolean(image.cache));
      }
      try {
        await ctx.tx(async (t) => {
          const sid = await insert(t.q, {
            identifier,
            description: description ?? '',
            uri: split.uri,
            authorised: input.authorised ?? true,
            trustAnchor,
            updateMode,
            credentials,
          });
          await createImages(t).insertDefinitions(
            sid,
            [...defs].map(([id, cache]) => ({ identifier: id, cache })),
          );
          if (input.endorser !== undefined) {
            const eid = await endorserId(t.q, input.endorser);
            if (eid === undefined) throw notFound('endorser', input.endorser);
            await createLinks(t).putLink(eid, sid, true);
          }
        });
      } catch (err) {
        if (ctx.dialect.isUniqueViolation(err))
          throw conflict('subscription', identifier, 'or its uri already exists');
        throw err;
      }
      return (await subscriptions(ctx.q, { identifier }))[0];
    },
    async updateSubscription(identifier, patch) {
      checkSubscriptionPatch(patch, identifier);
      await ctx.tx(async ({ q }) => {
        const sub = await requireSub(q, identifier);
        const set: Updateable<SubSubscriptionTable> = {};
        if (patch.description !== undefined) set.description = patch.description;
        if (patch.authorised !== undefined) set.authorised = patch.authorised ? 1 : 0;
        if (patch.trustAnchor !== undefined) set.trust_anchor = patch.trustAnchor;
        if (patch.updateMode !== undefined) set.update_mode = patch.updateMode;
        if (patch.uri !== undefined) {
          if (typeof patch.uri !== 'string' || patch.uri === '')
            throw invalid('a subscription uri cannot be empty', 'subscription', identifier);
          const split = splitUserInfo(patch.uri);
          const other = await q
            .selectFrom('sub_subscription')
            .select('identifier')
            .where('uri', '=', split.uri)
            .where('id', '<>', sub.id)
            .executeTakeFirst();
          if (other)
            throw conflict(
              'subscription uri',
              split.uri,
              `is already used by subscription '${other.identifier}'`,
            );
          set.uri = split.uri;
          if (split.username !== undefined || split.password !== undefined) {
            await writeCredentials(q, sub.id, { username: split.username, password: split.password });
          }
        }
        if (Object.keys(set).length)
          await q.updateTable('sub_subscription').set(set).where('id', '=', sub.id).execute();
      });
    },
    async setCredentials(identifier, credentials) {
      await ctx.tx(async ({ q }) => {
        const sub = await requireSub(q, identifier);
        await writeCredentials(q, sub.id, credentials ?? {});
      });
    },
    async getCredentials(identifier) {
      const sub = await requireSub(ctx.q, identifier);
      const c = await ctx.q
        .selectFrom('sub_credential')
        .selectAll()
        .where('subscription_id', '=', sub.id)
        .executeTakeFirst();
      const out: { username?: string; password?: string } = {};
      if (c?.username !== null && c?.username !== undefined) out.username = c.username;
      if (c?.password !== null && c?.password !== undefined) out.password = c.password;
      return out;
    },
    async deleteSubscription(identifier) {
      const r = await ctx.q
        .deleteFrom('sub_subscription')
        .where('identifier', '=', identifier)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('subscription', identifier);
    },

    async insertSubscription(row) {
      if (typeof row.identifier !== 'string' || row.identifier === '')
        throw invalid('a subscription needs an identifier', 'subscription');
      checkSubscriptionPatch(row, row.identifier);
      return ctx.tx((t) => insert(t.q, row));
    },
    async setLatestList(sid, lid) {
      await ctx.q
        .updateTable('sub_subscription')
        .set({ latest_list_id: lid })
        .where('id', '=', sid)
        .execute();
    },
  };
}
