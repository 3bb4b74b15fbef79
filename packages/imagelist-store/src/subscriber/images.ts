// Image definitions (an image identifier registered in a subscription, with its cache flag) and instances (one
// image of one recorded list). The state bits vmcatcher_image -l prints are derived here.
import { sql as ksql } from 'kysely';
import type { BulkColumn } from '../dialect.js';
import type { ImageInstance, StoredImageListSummary, SubscribedImage, SubscriberRepository } from '../api.js';
import { batches, bulkInsert } from '../bulk.js';
import type { Db, RepoContext } from '../context.js';
import { conflict, invalid, StoreError } from '../errors.js';
import { toBool, toDb, toNum } from '../util.js';
import { requireSub, summary } from './shared.js';

export type ImageMethods = Pick<
  SubscriberRepository,
  | 'listImages'
  | 'getImages'
  | 'findImagesBySha512'
  | 'setImageCache'
  | 'acceptImage'
  | 'refuseImage'
  | 'listCacheCandidates'
>;

/** An instance row as written: every column of sub_image_instance but the id. */
export interface InstanceRow {
  definitionId: number;
  imageListId: number;
  identifier: string;
  title: string;
  description: string;
  hypervisor: string;
  sha512: string;
  uri: string;
  os: string;
  osversion: string;
  arch: string;
  version: string;
  size: number;
  comments: string;
  format: string | null;
  /** The whole published `hv:image` object. */
  image: Record<string, unknown>;
}

export interface ImageInternals {
  /** New definitions of a subscription, in one statement per batch; returns identifier → row id. */
  insertDefinitions(
    subscriptionRowId: number,
    images: readonly { identifier: string; cache: boolean }[],
  ): Promise<Map<string, number>>;
  /** Definitions of a subscription: identifier → row id. */
  definitionIds(subscriptionRowId: number): Promise<Map<string, number>>;
  /** Instances, set-based; returns the row id of each with its definition's. */
  insertInstances(rows: readonly InstanceRow[]): Promise<{ id: number; definitionId: number }[]>;
  /** Points definitions at their latest instance: [definition row id, instance row id] pairs. */
  setLatestInstances(pairs: readonly [number, number][]): Promise<void>;
}

const INSTANCE_COLUMNS: readonly BulkColumn[] = [
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
];

function instanceValues(r: InstanceRow): unknown[] {
  return [
    r.definitionId,
    r.imageListId,
    r.identifier,
    r.title,
    r.description,
    r.hypervisor,
    r.sha512,
    r.uri,
    r.os,
    r.osversion,
    r.arch,
    r.version,
    r.size,
    r.comments,
    r.format,
    JSON.stringify(r.image ?? {}),
  ];
}

type Listed = SubscribedImage & { list?: StoredImageListSummary };

/** Image definitions with their latest instance, the instance's list and the derived state bits. */
async function images(
  q: Db,
  now: string,
  where: { subscription?: string; identifier?: string; sha512?: string; candidates?: boolean },
): Promise<Listed[]> {
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
      'l.withdrawn as l_withdrawn',
      'l.withdrawn_code as l_withdrawn_code',
      'l.withdrawn_reason as l_withdrawn_reason',
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
      .where('l.withdrawn', 'is', null)
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
      (r.l_withdrawn === null || r.l_withdrawn === undefined) &&
      (r.l_expires ?? '') > now;
    const out: Listed = {
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
        withdrawn: r.l_withdrawn ?? null,
        withdrawn_code: r.l_withdrawn_code ?? null,
        withdrawn_reason: r.l_withdrawn_reason ?? null,
        signer_subject: r.l_signer_subject!,
        signer_issuer: r.l_signer_issuer!,
      });
    }
    return out;
  });
}

function stripList(rows: Listed[]): SubscribedImage[] {
  return rows.map(({ list: _list, ...rest }) => rest);
}

export function createImages(ctx: RepoContext): ImageMethods & ImageInternals {
  const now = () => toDb(ctx.now());
  const { sql } = ctx.dialect;

  return {
    listImages: (filter) => images(ctx.q, now(), { subscription: filter?.subscription }).then(stripList),
    getImages: (identifier) => images(ctx.q, now(), { identifier }).then(stripList),
    findImagesBySha512: (sha512) =>
      images(ctx.q, now(), { sha512: String(sha512).toLowerCase() }).then(stripList),
    async setImageCache(identifier, cache, subscription) {
      return ctx.tx(async ({ q }) => {
        let ids = q
          .selectFrom('sub_image_definition as d')
          .innerJoin('sub_subscription as s', 's.id', 'd.subscription_id')
          .select('d.id')
          .where('d.identifier', '=', identifier);
        if (subscription !== undefined) ids = ids.where('s.identifier', '=', subscription);
        const rows = (await ids.execute()).map((r) => toNum(r.id));
        if (rows.length)
          await q
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
      await ctx.tx(async ({ q }) => {
        const sub = await requireSub(q, subscription);
        const d = await q
          .selectFrom('sub_image_definition')
          .select('id')
          .where('subscription_id', '=', sub.id)
          .where('identifier', '=', identifier)
          .executeTakeFirst();
        if (d) throw conflict('image', identifier, `is already registered in subscription '${subscription}'`);
        await q
          .insertInto('sub_image_definition')
          .values({ subscription_id: sub.id, identifier, cache: 0, latest_instance_id: null })
          .execute();
      });
    },
    async refuseImage(subscription, identifier) {
      await ctx.tx(async ({ q }) => {
        const sub = await requireSub(q, subscription);
        const r = await q
          .deleteFrom('sub_image_definition')
          .where('subscription_id', '=', sub.id)
          .where('identifier', '=', identifier)
          .executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) {
          throw new StoreError(
            'ERR_STORE_NOT_FOUND',
            `image '${identifier}' is not registered in subscription '${subscription}'`,
            { entity: 'image', key: identifier },
          );
        }
      });
    },
    async listCacheCandidates() {
      const rows = await images(ctx.q, now(), { candidates: true });
      return rows.filter((r) => r.state === 3 && r.latest && r.list) as (SubscribedImage & {
        latest: ImageInstance;
        list: StoredImageListSummary;
      })[];
    },

    async insertDefinitions(sid, defs) {
      const rows = await bulkInsert<{ id: number; identifier: string }>(
        ctx.q,
        sql,
        'sub_image_definition',
        [
          { name: 'subscription_id', type: 'int4' },
          { name: 'identifier', type: 'text' },
          { name: 'cache', type: 'int4' },
        ],
        defs.map((d) => [sid, d.identifier, d.cache ? 1 : 0]),
        ['id', 'identifier'],
      );
      return new Map(rows.map((r) => [r.identifier, toNum(r.id)]));
    },
    async definitionIds(sid) {
      const rows = await ctx.q
        .selectFrom('sub_image_definition')
        .select(['id', 'identifier'])
        .where('subscription_id', '=', sid)
        .execute();
      return new Map(rows.map((d) => [d.identifier, toNum(d.id)]));
    },
    async insertInstances(rows) {
      const created = await bulkInsert<{ id: number; definition_id: number }>(
        ctx.q,
        sql,
        'sub_image_instance',
        INSTANCE_COLUMNS,
        rows.map(instanceValues),
        ['id', 'definition_id'],
      );
      return created.map((r) => ({ id: toNum(r.id), definitionId: toNum(r.definition_id) }));
    },
    async setLatestInstances(pairs) {
      // One set-based UPDATE … FROM per batch.
      for (const part of batches(pairs)) {
        const source = sql.rowsSource(
          [
            { name: 'did', type: 'int4' },
            { name: 'iid', type: 'int4' },
          ],
          part,
        );
        await ksql`update sub_image_definition set latest_instance_id = u.c1 from (${source}) as u where sub_image_definition.id = u.c0`.execute(
          ctx.q,
        );
      }
    },
  };
}
