// Every imported signed list, byte for byte with its sha512, and recording a fetched list with its images.
import type { Principal, StoredImageList, SubscriberRepository } from '../api.js';
import type { Db, RepoContext } from '../context.js';
import { canonicalPrincipal } from '../dn.js';
import { invalid, notFound } from '../errors.js';
import { toBytes, toDb, toNum } from '../util.js';
import { createImages, type InstanceRow } from './images.js';
import { checkPrincipal, requireSub, type SummaryRow, subRow, summary } from './shared.js';

export type ImageListMethods = Pick<
  SubscriberRepository,
  'getLatestImageList' | 'recordImageList' | 'markImageListExpired' | 'withdrawImageList'
>;

interface ImageListRow {
  subscriptionRowId: number;
  data: Uint8Array;
  dataHash: string;
  imported: Date;
  created: Date;
  expires: Date;
  version: string;
  expired?: Date;
  signer: Principal;
  metadata: Record<string, unknown>;
}

export interface ImageListInternals {
  /** A list instance as another database had it (imported and expired kept); returns its id. */
  insertImageList(row: ImageListRow): Promise<number>;
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

async function insert(q: Db, row: ImageListRow): Promise<number> {
  const signer = canonicalPrincipal(row.signer);
  const r = await q
    .insertInto('sub_imagelist')
    .values({
      subscription_id: row.subscriptionRowId,
      data: row.data,
      data_hash: row.dataHash.toLowerCase(),
      imported: toDb(row.imported),
      created: toDb(row.created),
      expires: toDb(row.expires),
      version: String(row.version),
      expired: row.expired ? toDb(row.expired) : null,
      signer_subject: signer.subject,
      signer_issuer: signer.issuer,
      metadata: JSON.stringify(row.metadata ?? {}),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return toNum(r.id);
}

export function createImageLists(ctx: RepoContext): ImageListMethods & ImageListInternals {
  return {
    async getLatestImageList(subscription) {
      const sub = await subRow(ctx.q, subscription);
      if (!sub || sub.latest_list_id === null) return undefined;
      return storedList(ctx.q, toNum(sub.latest_list_id), subscription);
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
      return ctx.tx(async (t) => {
        const sub = await requireSub(t.q, subscription);
        const mode = toNum(sub.update_mode);
        const now = ctx.now();
        const listId = await insert(t.q, {
          subscriptionRowId: sub.id,
          data: input.data,
          dataHash: input.dataHash,
          imported: now,
          created: input.created,
          expires: input.expires,
          version: input.version,
          signer: input.signer,
          metadata: input.metadata,
        });
        const images = createImages(t);
        const defs = await images.definitionIds(sub.id);
        const accepted: string[] = [];
        const refused: string[] = [];
        const fresh = input.images.filter((i) => !defs.has(i.identifier)).map((i) => i.identifier);
        if (mode & 1) {
          const added = await images.insertDefinitions(
            sub.id,
            fresh.map((identifier) => ({ identifier, cache: Boolean(mode & 2) })),
          );
          for (const [identifier, id] of added) defs.set(identifier, id);
          accepted.push(...fresh);
        } else {
          refused.push(...fresh);
        }
        const rows: InstanceRow[] = input.images
          .filter((i) => defs.has(i.identifier))
          .map((i) => ({
            definitionId: defs.get(i.identifier)!,
            imageListId: listId,
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
            image: i.image ?? {},
          }));
        const created = await images.insertInstances(rows);
        await images.setLatestInstances(created.map((r) => [r.definitionId, r.id]));
        await t.q
          .updateTable('sub_subscription')
          .set({ latest_list_id: listId, updated: toDb(now) })
          .where('id', '=', sub.id)
          .execute();
        return { imageListId: listId, accepted, refused };
      });
    },
    async markImageListExpired(imageListId, at) {
      const when = toDb(at);
      await ctx.tx(async ({ q }) => {
        const row = await q
          .selectFrom('sub_imagelist')
          .select(['id', 'expired'])
          .where('id', '=', imageListId)
          .executeTakeFirst();
        if (!row) throw notFound('image list instance', String(imageListId));
        // The first time it was found expired is kept.
        if (row.expired === null)
          await q.updateTable('sub_imagelist').set({ expired: when }).where('id', '=', imageListId).execute();
      });
    },
    async withdrawImageList(imageListId, withdrawal) {
      const code = typeof withdrawal?.code === 'string' ? withdrawal.code.trim() : '';
      if (code === '') throw invalid('a withdrawal needs a code', 'image list instance', String(imageListId));
      const when = toDb(withdrawal.at);
      const reason = String(withdrawal.reason ?? '');
      await ctx.tx(async ({ q }) => {
        const row = await q
          .selectFrom('sub_imagelist')
          .select(['id', 'withdrawn'])
          .where('id', '=', imageListId)
          .executeTakeFirst();
        if (!row) throw notFound('image list instance', String(imageListId));
        // The first withdrawal is kept: what was found first is why the images went.
        if (row.withdrawn === null)
          await q
            .updateTable('sub_imagelist')
            .set({ withdrawn: when, withdrawn_code: code, withdrawn_reason: reason })
            .where('id', '=', imageListId)
            .execute();
      });
    },

    // An original database may not say who signed a list (the importer warns); so no principal check here.
    insertImageList: (row) => insert(ctx.q, row),
  };
}
