// The subscriber (vmcatcher) repository: endorsers and their principals, subscriptions with their
// authorisation links and credentials, every imported signed list, image definitions and instances.
import { type Kysely, sql, type Transaction, type Updateable } from 'kysely';
import type {
  FailedEvent,
  ImageInstance,
  Principal,
  StoredImageList,
  StoredImageListSummary,
  SubscribedImage,
  SubscriberEndorser,
  SubscriberRepository,
  Subscription,
  SubscriptionLink,
  TrustAnchorMode,
  UpdateMode,
} from './api.js';
import { batches, bulkInsert } from './bulk.js';
import { conflict, invalid, isUniqueViolation, notFound, StoreError } from './errors.js';
import type { Database, SubImagelistTable, SubSubscriptionTable } from './schema.js';
import type { StoreContext } from './store.js';
import { chunks, fromDb, toBool, toBytes, toDb, toNum } from './util.js';

const INSTANCE_COLUMNS = [
  { name: 'definition_id', type: 'int4' },
  { name: 'imagelist_id', type: 'int4' },
  { name: 'identifier', type: 'text' },
  { name: 'title', type: 'text' },
  { name: 'description', type: 'text' },
  { name: 'hypervisor', type: 'text' },
  { name: 'sha512', type: 'text' },
  { name: 'uri', type: 'text' },
  { name: 'os', type: 'text' },
  { name: 'osversion', type: 'text' },
  { name: 'arch', type: 'text' },
  { name: 'version', type: 'text' },
  { name: 'size', type: 'int8' },
  { name: 'comments', type: 'text' },
  { name: 'format', type: 'text' },
  { name: 'image', type: 'text' },
] as const;

type Db = Kysely<Database> | Transaction<Database>;

const TRUST_ANCHORS: readonly TrustAnchorMode[] = ['none', 'browser', 'igtf'];
const UPDATE_MODES: readonly number[] = [0, 1, 3];
const ROWS = 500;

/** Splits `user:password@` out of a URL: the URI is stored without it, the secrets apart. */
export function splitUserInfo(uri: string): { uri: string; username?: string; password?: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@(.*)$/is.exec(uri);
  if (!m) return { uri };
  const [user, ...pass] = m[2].split(':');
  const out: { uri: string; username?: string; password?: string } = { uri: m[1] + m[3] };
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (user !== '') out.username = dec(user);
  if (pass.length) out.password = dec(pass.join(':'));
  return out;
}

type SummaryRow = Pick<
  SubImagelistTable,
  | 'imported'
  | 'created'
  | 'expires'
  | 'version'
  | 'data_hash'
  | 'expired'
  | 'signer_subject'
  | 'signer_issuer'
> & { id: number };

function summary(r: SummaryRow): StoredImageListSummary {
  const s: StoredImageListSummary = {
    id: toNum(r.id),
    imported: fromDb(r.imported),
    created: fromDb(r.created),
    expires: fromDb(r.expires),
    version: r.version,
    dataHash: r.data_hash,
    signer: { subject: r.signer_subject, issuer: r.signer_issuer },
  };
  if (r.expired !== null && r.expired !== undefined) s.expired = fromDb(r.expired);
  return s;
}

function checkPrincipal(p: Principal, what: string): void {
  if (
    !p ||
    typeof p.subject !== 'string' ||
    p.subject === '' ||
    typeof p.issuer !== 'string' ||
    p.issuer === ''
  ) {
    throw invalid(`${what} needs a non-empty subject and issuer`, 'principal');
  }
}

export function createSubscriberRepository(db: Kysely<Database>, ctx: StoreContext): SubscriberRepository {
  const tx = <T>(fn: (trx: Transaction<Database>) => Promise<T>) => db.transaction().execute(fn);

  async function subRow(q: Db, identifier: string) {
    return q
      .selectFrom('sub_subscription')
      .selectAll()
      .where('identifier', '=', identifier)
      .executeTakeFirst();
  }
  async function requireSub(q: Db, identifier: string) {
    const row = await subRow(q, identifier);
    if (!row) throw notFound('subscription', identifier);
    return row;
  }
  async function endorserId(q: Db, identifier: string): Promise<number | undefined> {
    const r = await q
      .selectFrom('sub_endorser')
      .select('id')
      .where('identifier', '=', identifier)
      .executeTakeFirst();
    return r ? toNum(r.id) : undefined;
  }

  async function endorsers(q: Db, identifier?: string): Promise<SubscriberEndorser[]> {
    let query = q
      .selectFrom('sub_endorser as e')
      .leftJoin('sub_principal as p', 'p.endorser_id', 'e.id')
      .select(['e.identifier', 'p.subject', 'p.issuer'])
      .orderBy('e.identifier')
      .orderBy('p.id');
    if (identifier !== undefined) query = query.where('e.identifier', '=', identifier);
    const out = new Map<string, SubscriberEndorser>();
    for (const r of await query.execute()) {
      let e = out.get(r.identifier);
      if (!e) {
        e = { identifier: r.identifier, principals: [] };
        out.set(r.identifier, e);
      }
      if (r.subject !== null && r.issuer !== null)
        e.principals.push({ subject: r.subject, issuer: r.issuer });
    }
    return [...out.values()];
  }

  async function subscriptions(
    q: Db,
    where?: { identifier?: string; uri?: string },
  ): Promise<Subscription[]> {
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
        'c.username',
        'c.password',
        'l.id as l_id',
        'l.imported',
        'l.created',
        'l.expires',
        'l.version',
        'l.data_hash',
        'l.expired',
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
      if (r.l_id !== null && r.l_id !== undefined)
        s.latest = summary({ ...(r as unknown as SummaryRow), id: r.l_id });
      return s;
    });
  }

  /** Image definitions with their latest instance, the instance's list and the derived state bits. */
  async function images(
    q: Db,
    where: { subscription?: string; identifier?: string; sha512?: string; candidates?: boolean },
  ): Promise<(SubscribedImage & { list?: StoredImageListSummary })[]> {
    const now = toDb(ctx.now());
    let query = q
      .selectFrom('sub_image_definition as d')
      .innerJoin('sub_subscription as s', 's.id', 'd.subscription_id')
      .leftJoin('sub_image_instance as i', 'i.id', 'd.latest_instance_id')
      .leftJoin('sub_imagelist as l', 'l.id', 'i.imagelist_id')
      .select([
        'd.identifier as d_identifier',
        'd.cache',
        's.identifier as s_identifier',
        's.authorised',
        's.latest_list_id',
        'i.id as i_id',
        'i.identifier',
        'i.title',
        'i.description',
        'i.hypervisor',
        'i.sha512',
        'i.uri',
        'i.os',
        'i.osversion',
        'i.arch',
        'i.version',
        'i.size',
        'i.comments',
        'i.format',
        'i.image',
        'i.imagelist_id',
        'l.imported as l_imported',
        'l.created as l_created',
        'l.expires as l_expires',
        'l.version as l_version',
        'l.data_hash as l_data_hash',
        'l.expired as l_expired',
        'l.signer_subject as l_signer_subject',
        'l.signer_issuer as l_signer_issuer',
      ])
      .orderBy('d.identifier')
      .orderBy('s.identifier');
    if (where.subscription !== undefined) query = query.where('s.identifier', '=', where.subscription);
    if (where.identifier !== undefined) query = query.where('d.identifier', '=', where.identifier);
    if (where.sha512 !== undefined) {
      const sha = where.sha512;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('sub_image_instance as x')
            .select('x.id')
            .whereRef('x.definition_id', '=', 'd.id')
            .where('x.sha512', '=', sha),
        ),
      );
    }
    if (where.candidates) {
      query = query
        .where('d.cache', '=', 1)
        .where('s.authorised', '=', 1)
        .whereRef('i.imagelist_id', '=', 's.latest_list_id')
        .where('l.expired', 'is', null)
        .where('l.expires', '>', now);
    }
    const rows = await query.execute();
    return rows.map((r) => {
      const cache = toBool(r.cache);
      const hasInstance = r.i_id !== null && r.i_id !== undefined;
      const available =
        hasInstance &&
        toBool(r.authorised) &&
        r.latest_list_id !== null &&
        toNum(r.imagelist_id) === toNum(r.latest_list_id) &&
        (r.l_expired === null || r.l_expired === undefined) &&
        (r.l_expires ?? '') > now;
      const out: SubscribedImage & { list?: StoredImageListSummary } = {
        identifier: r.d_identifier,
        subscription: r.s_identifier,
        cache,
        state: (cache ? 1 : 0) | (available ? 2 : 0),
      };
      if (hasInstance) {
        const latest: ImageInstance = {
          identifier: r.identifier!,
          title: r.title!,
          description: r.description!,
          hypervisor: r.hypervisor!,
          sha512: r.sha512!,
          uri: r.uri!,
          os: r.os!,
          osversion: r.osversion!,
          arch: r.arch!,
          version: r.version!,
          size: toNum(r.size),
          comments: r.comments!,
          image: JSON.parse(r.image!) as Record<string, unknown>,
          imageListId: toNum(r.imagelist_id),
        };
        if (r.format !== null && r.format !== undefined) latest.format = r.format;
        out.latest = latest;
        out.list = summary({
          id: toNum(r.imagelist_id),
          imported: r.l_imported!,
          created: r.l_created!,
          expires: r.l_expires!,
          version: r.l_version!,
          data_hash: r.l_data_hash!,
          expired: r.l_expired ?? null,
          signer_subject: r.l_signer_subject!,
          signer_issuer: r.l_signer_issuer!,
        });
      }
      return out;
    });
  }

  async function storedList(q: Db, id: number, subscription: string): Promise<StoredImageList | undefined> {
    const r = await q.selectFrom('sub_imagelist').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    return {
      ...summary(r as SummaryRow),
      subscription,
      data: toBytes(r.data),
      metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    };
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

  return {
    listEndorsers: () => endorsers(db),
    async getEndorser(identifier) {
      return (await endorsers(db, identifier))[0];
    },
    async createEndorser(identifier, principals) {
      if (typeof identifier !== 'string' || identifier === '')
        throw invalid('an endorser needs an identifier', 'endorser');
      if (!Array.isArray(principals) || principals.length === 0) {
        throw invalid(`endorser '${identifier}' needs at least one principal`, 'endorser', identifier);
      }
      for (const p of principals) checkPrincipal(p, `a principal of endorser '${identifier}'`);
      try {
        await tx(async (trx) => {
          if ((await endorserId(trx, identifier)) !== undefined) throw conflict('endorser', identifier);
          for (const p of principals) {
            const taken = await trx
              .selectFrom('sub_principal as p')
              .innerJoin('sub_endorser as e', 'e.id', 'p.endorser_id')
              .select('e.identifier')
              .where('p.subject', '=', p.subject)
              .executeTakeFirst();
            if (taken)
              throw conflict('principal', p.subject, `already belongs to endorser '${taken.identifier}'`);
          }
          const row = await trx
            .insertInto('sub_endorser')
            .values({ identifier })
            .returning('id')
            .executeTakeFirstOrThrow();
          await trx
            .insertInto('sub_principal')
            .values(
              principals.map((p) => ({ endorser_id: toNum(row.id), subject: p.subject, issuer: p.issuer })),
            )
            .execute();
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw conflict('endorser', identifier, 'or one of its principals already exists');
        throw err;
      }
      return { identifier, principals: principals.map((p) => ({ subject: p.subject, issuer: p.issuer })) };
    },
    async deleteEndorser(identifier) {
      const r = await db.deleteFrom('sub_endorser').where('identifier', '=', identifier).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('endorser', identifier);
    },
    async findEndorserByPrincipal(principal) {
      const r = await db
        .selectFrom('sub_principal as p')
        .innerJoin('sub_endorser as e', 'e.id', 'p.endorser_id')
        .select('e.identifier')
        .where('p.subject', '=', principal.subject)
        .where('p.issuer', '=', principal.issuer)
        .executeTakeFirst();
      return r ? (await endorsers(db, r.identifier))[0] : undefined;
    },

    async listLinks(): Promise<SubscriptionLink[]> {
      const rows = await db
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
      await tx(async (trx) => {
        const eid = await endorserId(trx, endorser);
        if (eid === undefined) throw notFound('endorser', endorser);
        const sub = await requireSub(trx, subscription);
        const existing = await trx
          .selectFrom('sub_link')
          .select('id')
          .where('endorser_id', '=', eid)
          .where('subscription_id', '=', sub.id)
          .executeTakeFirst();
        if (existing)
          await trx.updateTable('sub_link').set({ authorised: 1 }).where('id', '=', existing.id).execute();
        else
          await trx
            .insertInto('sub_link')
            .values({ endorser_id: eid, subscription_id: sub.id, authorised: 1 })
            .execute();
      });
    },
    async unlink(endorser, subscription) {
      await tx(async (trx) => {
        const eid = await endorserId(trx, endorser);
        if (eid === undefined) throw notFound('endorser', endorser);
        const sub = await requireSub(trx, subscription);
        const r = await trx
          .deleteFrom('sub_link')
          .where('endorser_id', '=', eid)
          .where('subscription_id', '=', sub.id)
          .executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) {
          throw new StoreError(
            'ERR_STORE_NOT_FOUND',
            `endorser '${endorser}' is not linked to subscription '${subscription}'`,
            {
              entity: 'link',
              key: `${endorser} ${subscription}`,
            },
          );
        }
      });
    },
    async isAuthorised(subscription, principal) {
      // Principal → its endorser (by the principal's endorser column; the originals joined on the row ids, §6.8).
      const r = await db
        .selectFrom('sub_link as k')
        .innerJoin('sub_principal as p', 'p.endorser_id', 'k.endorser_id')
        .innerJoin('sub_subscription as s', 's.id', 'k.subscription_id')
        .select('k.id')
        .where('s.identifier', '=', subscription)
        .where('p.subject', '=', principal.subject)
        .where('p.issuer', '=', principal.issuer)
        .where('k.authorised', '=', 1)
        .executeTakeFirst();
      return r !== undefined;
    },

    listSubscriptions: () => subscriptions(db),
    async getSubscription(identifier) {
      return (await subscriptions(db, { identifier }))[0];
    },
    async getSubscriptionByUri(uri) {
      return (await subscriptions(db, { uri: splitUserInfo(uri).uri }))[0];
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
      const authorised = input.authorised ?? true;
      try {
        await tx(async (trx) => {
          if (await subRow(trx, identifier)) throw conflict('subscription', identifier);
          const byUri = await trx
            .selectFrom('sub_subscription')
            .select('identifier')
            .where('uri', '=', split.uri)
            .executeTakeFirst();
          if (byUri)
            throw conflict(
              'subscription uri',
              split.uri,
              `is already used by subscription '${byUri.identifier}'`,
            );
          const row = await trx
            .insertInto('sub_subscription')
            .values({
              identifier,
              description: description ?? '',
              uri: split.uri,
              authorised: authorised ? 1 : 0,
              trust_anchor: trustAnchor,
              update_mode: updateMode,
              updated: null,
              latest_list_id: null,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          const sid = toNum(row.id);
          if (credentials.username !== undefined || credentials.password !== undefined) {
            await writeCredentials(trx, sid, credentials);
          }
          const defs = new Map<string, boolean>();
          for (const image of input.images ?? []) {
            if (typeof image?.identifier !== 'string' || image.identifier === '') {
              throw invalid(`an image of subscription '${identifier}' has no identifier`, 'image');
            }
            defs.set(image.identifier, Boolean(image.cache));
          }
          for (const part of chunks([...defs], ROWS)) {
            await trx
              .insertInto('sub_image_definition')
              .values(
                part.map(([id, cache]) => ({
                  subscription_id: sid,
                  identifier: id,
                  cache: cache ? 1 : 0,
                  latest_instance_id: null,
                })),
              )
              .execute();
          }
          if (input.endorser !== undefined) {
            const eid = await endorserId(trx, input.endorser);
            if (eid === undefined) throw notFound('endorser', input.endorser);
            await trx
              .insertInto('sub_link')
              .values({ endorser_id: eid, subscription_id: sid, authorised: 1 })
              .execute();
          }
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict('subscription', identifier, 'or its uri already exists');
        throw err;
      }
      return (await subscriptions(db, { identifier }))[0];
    },
    async updateSubscription(identifier, patch) {
      checkSubscriptionPatch(patch, identifier);
      await tx(async (trx) => {
        const sub = await requireSub(trx, identifier);
        const set: Updateable<SubSubscriptionTable> = {};
        if (patch.description !== undefined) set.description = patch.description;
        if (patch.authorised !== undefined) set.authorised = patch.authorised ? 1 : 0;
        if (patch.trustAnchor !== undefined) set.trust_anchor = patch.trustAnchor;
        if (patch.updateMode !== undefined) set.update_mode = patch.updateMode;
        if (patch.uri !== undefined) {
          if (typeof patch.uri !== 'string' || patch.uri === '')
            throw invalid('a subscription uri cannot be empty', 'subscription', identifier);
          const split = splitUserInfo(patch.uri);
          const other = await trx
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
            await writeCredentials(trx, sub.id, { username: split.username, password: split.password });
          }
        }
        if (Object.keys(set).length)
          await trx.updateTable('sub_subscription').set(set).where('id', '=', sub.id).execute();
      });
    },
    async setCredentials(identifier, credentials) {
      await tx(async (trx) => {
        const sub = await requireSub(trx, identifier);
        await writeCredentials(trx, sub.id, credentials ?? {});
      });
    },
    async getCredentials(identifier) {
      const sub = await requireSub(db, identifier);
      const c = await db
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
      const r = await db
        .deleteFrom('sub_subscription')
        .where('identifier', '=', identifier)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('subscription', identifier);
    },

    async getLatestImageList(subscription) {
      const sub = await subRow(db, subscription);
      if (!sub || sub.latest_list_id === null) return undefined;
      return storedList(db, toNum(sub.latest_list_id), subscription);
    },
    async recordImageList(subscription, input) {
      if (!(input?.data instanceof Uint8Array))
        throw invalid('recordImageList needs the raw bytes as a Uint8Array', 'subscription', subscription);
      if (typeof input.dataHash !== 'string' || !/^[0-9a-f]{128}$/i.test(input.dataHash)) {
        throw invalid(
          'dataHash must be the sha512 of the data as 128 hex digits',
          'subscription',
          subscription,
        );
      }
      checkPrincipal(input.signer, 'the signer');
      const seen = new Set<string>();
      for (const image of input.images ?? []) {
        if (typeof image?.identifier !== 'string' || image.identifier === '')
          throw invalid('an image has no identifier', 'image');
        if (seen.has(image.identifier))
          throw invalid(`image '${image.identifier}' appears twice in the list`, 'image', image.identifier);
        seen.add(image.identifier);
        if (!Number.isFinite(Number(image.size)))
          throw invalid(`image '${image.identifier}' has no numeric size`, 'image', image.identifier);
      }
      return tx(async (trx) => {
        const sub = await requireSub(trx, subscription);
        const sid = toNum(sub.id);
        const mode = toNum(sub.update_mode);
        const list = await trx
          .insertInto('sub_imagelist')
          .values({
            subscription_id: sid,
            data: input.data,
            data_hash: input.dataHash.toLowerCase(),
            imported: toDb(ctx.now()),
            created: toDb(input.created),
            expires: toDb(input.expires),
            version: String(input.version),
            expired: null,
            signer_subject: input.signer.subject,
            signer_issuer: input.signer.issuer,
            metadata: JSON.stringify(input.metadata ?? {}),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const listId = toNum(list.id);
        const defs = new Map<string, number>();
        for (const d of await trx
          .selectFrom('sub_image_definition')
          .select(['id', 'identifier'])
          .where('subscription_id', '=', sid)
          .execute()) {
          defs.set(d.identifier, toNum(d.id));
        }
        const accepted: string[] = [];
        const refused: string[] = [];
        const fresh = input.images.filter((i) => !defs.has(i.identifier)).map((i) => i.identifier);
        if (mode & 1) {
          const rows = await bulkInsert<{ id: number; identifier: string }>(
            trx,
            ctx.dialect,
            'sub_image_definition',
            [
              { name: 'subscription_id', type: 'int4' },
              { name: 'identifier', type: 'text' },
              { name: 'cache', type: 'int4' },
            ],
            fresh.map((identifier) => [sid, identifier, mode & 2 ? 1 : 0]),
            ['id', 'identifier'],
          );
          for (const r of rows) defs.set(r.identifier, toNum(r.id));
          accepted.push(...fresh);
        } else {
          refused.push(...fresh);
        }
        const instances = input.images
          .filter((i) => defs.has(i.identifier))
          .map((i) => ({
            definition_id: defs.get(i.identifier)!,
            imagelist_id: listId,
            identifier: i.identifier,
            title: String(i.title ?? ''),
            description: String(i.description ?? ''),
            hypervisor: String(i.hypervisor ?? ''),
            sha512: String(i.sha512 ?? ''),
            uri: String(i.uri ?? ''),
            os: String(i.os ?? ''),
            osversion: String(i.osversion ?? ''),
            arch: String(i.arch ?? ''),
            version: String(i.version ?? ''),
            size: Number(i.size),
            comments: String(i.comments ?? ''),
            format: i.format ?? null,
            image: JSON.stringify(i.image ?? {}),
          }));
        const created = await bulkInsert<{ id: number; definition_id: number }>(
          trx,
          ctx.dialect,
          'sub_image_instance',
          INSTANCE_COLUMNS,
          instances.map((i) => INSTANCE_COLUMNS.map((c) => i[c.name])),
          ['id', 'definition_id'],
        );
        // Point every definition that got an instance in this list at it, one set-based UPDATE … FROM.
        const pairs = created.map((r) => [toNum(r.definition_id), toNum(r.id)]);
        for (const part of batches(pairs)) {
          const source =
            ctx.dialect === 'sqlite'
              ? sql`(select value->>0 as did, value->>1 as iid from json_each(${JSON.stringify(part)}))`
              : sql`(select * from unnest(${part.map((p) => p[0])}::int4[], ${part.map((p) => p[1])}::int4[]) as x(did, iid))`;
          await sql`update sub_image_definition set latest_instance_id = u.iid from ${source} as u where sub_image_definition.id = u.did`.execute(
            trx,
          );
        }
        await trx
          .updateTable('sub_subscription')
          .set({ latest_list_id: listId, updated: toDb(ctx.now()) })
          .where('id', '=', sid)
          .execute();
        return { imageListId: listId, accepted, refused };
      });
    },
    async markImageListExpired(imageListId, at) {
      const when = toDb(at);
      await tx(async (trx) => {
        const row = await trx
          .selectFrom('sub_imagelist')
          .select(['id', 'expired'])
          .where('id', '=', imageListId)
          .executeTakeFirst();
        if (!row) throw notFound('image list instance', String(imageListId));
        // The first time it was found expired is kept.
        if (row.expired === null)
          await trx
            .updateTable('sub_imagelist')
            .set({ expired: when })
            .where('id', '=', imageListId)
            .execute();
      });
    },

    listImages: (filter) => images(db, { subscription: filter?.subscription }).then(stripList),
    getImages: (identifier) => images(db, { identifier }).then(stripList),
    findImagesBySha512: (sha512) => images(db, { sha512: String(sha512).toLowerCase() }).then(stripList),
    async setImageCache(identifier, cache, subscription) {
      return tx(async (trx) => {
        let ids = trx
          .selectFrom('sub_image_definition as d')
          .innerJoin('sub_subscription as s', 's.id', 'd.subscription_id')
          .select('d.id')
          .where('d.identifier', '=', identifier);
        if (subscription !== undefined) ids = ids.where('s.identifier', '=', subscription);
        const rows = (await ids.execute()).map((r) => toNum(r.id));
        if (rows.length)
          await trx
            .updateTable('sub_image_definition')
            .set({ cache: cache ? 1 : 0 })
            .where('id', 'in', rows)
            .execute();
        return rows.length;
      });
    },
    async acceptImage(subscription, identifier) {
      if (typeof identifier !== 'string' || identifier === '')
        throw invalid('an image needs an identifier', 'image');
      await tx(async (trx) => {
        const sub = await requireSub(trx, subscription);
        const d = await trx
          .selectFrom('sub_image_definition')
          .select('id')
          .where('subscription_id', '=', sub.id)
          .where('identifier', '=', identifier)
          .executeTakeFirst();
        if (d) throw conflict('image', identifier, `is already registered in subscription '${subscription}'`);
        await trx
          .insertInto('sub_image_definition')
          .values({ subscription_id: sub.id, identifier, cache: 0, latest_instance_id: null })
          .execute();
      });
    },
    async refuseImage(subscription, identifier) {
      await tx(async (trx) => {
        const sub = await requireSub(trx, subscription);
        const r = await trx
          .deleteFrom('sub_image_definition')
          .where('subscription_id', '=', sub.id)
          .where('identifier', '=', identifier)
          .executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) {
          throw new StoreError(
            'ERR_STORE_NOT_FOUND',
            `image '${identifier}' is not registered in subscription '${subscription}'`,
            {
              entity: 'image',
              key: identifier,
            },
          );
        }
      });
    },
    async listCacheCandidates() {
      const rows = await images(db, { candidates: true });
      return rows.filter((r) => r.state === 3 && r.latest && r.list) as (SubscribedImage & {
        latest: ImageInstance;
        list: StoredImageListSummary;
      })[];
    },

    async recordFailedEvent(event) {
      if (typeof event?.type !== 'string' || event.type === '')
        throw invalid('a failed event needs a type', 'event');
      const row = await db
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
      const rows = await db.selectFrom('sub_failed_event').selectAll().orderBy('id').execute();
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
      const r = await db.deleteFrom('sub_failed_event').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('failed event', String(id));
    },
    async bumpFailedEvent(id, error) {
      const r = await db
        .updateTable('sub_failed_event')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), error: String(error) }))
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound('failed event', String(id));
    },
  };
}

function stripList(rows: (SubscribedImage & { list?: StoredImageListSummary })[]): SubscribedImage[] {
  return rows.map(({ list: _list, ...rest }) => rest);
}
