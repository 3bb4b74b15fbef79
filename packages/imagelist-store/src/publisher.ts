// The publisher (vmcaster) repository: endorsers (keyed by their canonical DN), image lists and images with free
// key/value metadata. The store does not know the list format: reading a document, the version rule of imports
// and the shape of an exported list are @hepix/imagelist-publisher's; here an import is a plan of rows and a
// caller's rule saying whether incoming metadata replaces what is stored.
import type {
  ImportPlan,
  ImportResult,
  Metadata,
  PublisherEndorser,
  PublisherImage,
  PublisherImageList,
  PublisherImageListContents,
  PublisherRepository,
} from './api.js';
import { batches, bulkInsert } from './bulk.js';
import type { Db, RepoContext } from './context.js';
import { canonicalDn, canonicalDnMetadata } from './dn.js';
import { conflict, invalid, notFound, StoreError } from './errors.js';
import { guard } from './guard.js';
import type { AnyKysely, AnyTransaction } from './schema.js';
import { encodeMetadata, fromDb } from './util.js';
export type OwnerTable = 'pub_endorser' | 'pub_imagelist' | 'pub_image';
export type BindingTable = 'pub_imagelist_endorser' | 'pub_imagelist_image';

const LIST_RESERVED = new Set(['dc:identifier', 'hv:endorser', 'hv:images']);
const IMAGE_RESERVED = new Set(['dc:identifier']);
const NONE = new Set<string>();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decode(json: string | null | undefined): Metadata {
  if (!json) return {};
  const v = JSON.parse(json) as unknown;
  return isObject(v) ? (v as Metadata) : {};
}

function keyColumn(table: OwnerTable): 'dn' | 'identifier' {
  return table === 'pub_endorser' ? 'dn' : 'identifier';
}

/** Endorsers are keyed by their canonical DN, however the caller spells it. */
function ownerKey(table: OwnerTable, key: string): string {
  return table === 'pub_endorser' && typeof key === 'string' ? canonicalDn(key) : key;
}

/** Metadata as written: an endorser's DN-valued keys (`hv:ca`) in canonical form. */
function storedMetadata(table: OwnerTable, metadata: Metadata): Metadata {
  return table === 'pub_endorser' ? canonicalDnMetadata(metadata) : metadata;
}

export interface PublisherInternals {
  /** An endorser, list or image as another database had it (metadata and `updated` kept); returns its row id. */
  insertOwner(
    table: OwnerTable,
    key: string,
    metadata: Metadata,
    updated?: Date | null,
  ): Promise<{ id: number; created: boolean }>;
  /** Bindings of rows, in order, without touching the lists' `updated`. */
  insertBindings(
    table: BindingTable,
    pairs: readonly { imagelist_id: number; member_id: number }[],
  ): Promise<void>;
  /** Removes every endorser, list and image (and their bindings). */
  clearAll(): Promise<void>;
  /** Whether any endorser, list or image exists. */
  hasData(): Promise<boolean>;
}

function checkMetadata(metadata: Metadata, reserved: Set<string>, entity: string, id: string): void {
  if (!isObject(metadata))
    throw invalid(`metadata of ${entity} '${id}' must be an object of strings`, entity, id);
  for (const [k, v] of Object.entries(metadata)) {
    if (k === '') throw invalid(`empty metadata key for ${entity} '${id}'`, entity, id);
    if (reserved.has(k)) throw invalid(`'${k}' is a reserved key of ${entity} '${id}'`, entity, k);
    if (typeof v !== 'string')
      throw invalid(`value of '${k}' for ${entity} '${id}' must be a string`, entity, k);
  }
}

/** Checks a plan before any row is touched: identifiers, string metadata, no reserved keys, no duplicates. */
function checkPlan(plan: ImportPlan): ImportPlan {
  if (!isObject(plan) || !isObject(plan.list)) throw invalid('an import plan needs a list');
  const { identifier } = plan.list;
  if (typeof identifier !== 'string' || identifier === '')
    throw invalid('the image list of an import needs a non-empty identifier', 'image list');
  checkMetadata(plan.list.metadata, LIST_RESERVED, 'image list', identifier);
  if (!Array.isArray(plan.images) || !Array.isArray(plan.endorsers))
    throw invalid('an import plan needs arrays of images and endorsers', 'image list', identifier);
  if (typeof plan.replace !== 'function')
    throw invalid('an import plan needs a replace rule', 'image list', identifier);
  const images = new Set<string>();
  for (const image of plan.images) {
    const id = image?.identifier;
    if (typeof id !== 'string' || id === '')
      throw invalid('an image of the import has no identifier', 'image');
    if (images.has(id)) throw invalid(`image '${id}' appears twice in the import`, 'image', id);
    images.add(id);
    checkMetadata(image.metadata, IMAGE_RESERVED, 'image', id);
  }
  const endorsers: ImportPlan['endorsers'] = [];
  for (const e of plan.endorsers) {
    if (typeof e?.dn !== 'string' || e.dn.trim() === '')
      throw invalid('an endorser of the import has no DN', 'endorser');
    const dn = canonicalDn(e.dn);
    if (endorsers.some((x) => x.dn === dn))
      throw invalid(`endorser '${dn}' appears twice in the import`, 'endorser', dn);
    checkMetadata(e.metadata, NONE, 'endorser', dn);
    endorsers.push({ dn, metadata: e.metadata });
  }
  return { ...plan, endorsers };
}

function createPublisher(ctx: RepoContext): PublisherRepository & PublisherInternals {
  const db = ctx.q;
  const tx = <T>(fn: (trx: Db) => Promise<T>) => ctx.tx((t) => fn(t.q));

  async function row(q: Db, table: OwnerTable, key: string) {
    return (q as AnyKysely)
      .selectFrom(table)
      .selectAll()
      .where(keyColumn(table), '=', ownerKey(table, key))
      .executeTakeFirst() as Promise<
      { id: number; metadata: string; updated?: string | null; dn?: string } | undefined
    >;
  }

  async function requireRow(q: Db, table: OwnerTable, key: string, entity: string) {
    const r = await row(q, table, key);
    if (!r) throw notFound(entity, key);
    return { ...r, id: Number(r.id) };
  }

  async function writeMetadata(q: Db, table: OwnerTable, id: number, metadata: Metadata): Promise<void> {
    const set: Record<string, unknown> = { metadata: encodeMetadata(storedMetadata(table, metadata)) };
    if (table === 'pub_imagelist') set.updated = ctx.now().toISOString();
    await (q as AnyKysely).updateTable(table).set(set).where('id', '=', id).execute();
  }

  async function touch(q: Db, listId: number): Promise<void> {
    await q
      .updateTable('pub_imagelist')
      .set({ updated: ctx.now().toISOString() })
      .where('id', '=', listId)
      .execute();
  }

  async function listsOf(q: Db, table: BindingTable, memberId: number) {
    const rows = await q
      .selectFrom(`${table} as b` as 'pub_imagelist_image as b')
      .innerJoin('pub_imagelist as l', 'l.id', 'b.imagelist_id')
      .select('l.identifier')
      .where('b.member_id', '=', memberId)
      .orderBy('l.identifier')
      .execute();
    return rows.map((r) => r.identifier);
  }

  async function create(
    table: OwnerTable,
    entity: string,
    key: string,
    metadata: Metadata,
    reserved: Set<string>,
  ) {
    if (typeof key !== 'string' || key.trim() === '')
      throw invalid(`${entity} needs a non-empty identifier`, entity, key);
    checkMetadata(metadata, reserved, entity, key);
    const stored = ownerKey(table, key);
    await tx(async (trx) => {
      if (await row(trx, table, stored)) throw conflict(entity, stored);
      const values: Record<string, unknown> = {
        [keyColumn(table)]: stored,
        metadata: encodeMetadata(storedMetadata(table, metadata)),
      };
      if (table === 'pub_imagelist') values.updated = ctx.now().toISOString();
      try {
        await (trx as AnyTransaction).insertInto(table).values(values).execute();
      } catch (err) {
        if (ctx.dialect.isUniqueViolation(err)) throw conflict(entity, stored);
        throw err;
      }
    });
  }

  async function remove(table: OwnerTable, entity: string, key: string) {
    const r = await (db as AnyKysely)
      .deleteFrom(table)
      .where(keyColumn(table), '=', ownerKey(table, key))
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw notFound(entity, key);
  }

  async function setKeys(
    table: OwnerTable,
    entity: string,
    key: string,
    metadata: Metadata,
    reserved: Set<string>,
  ) {
    checkMetadata(metadata, reserved, entity, key);
    await tx(async (trx) => {
      const r = await requireRow(trx, table, key, entity);
      await writeMetadata(trx, table, r.id, { ...decode(r.metadata), ...metadata });
    });
  }

  async function deleteKey(table: OwnerTable, entity: string, key: string, metaKey: string) {
    await tx(async (trx) => {
      const r = await requireRow(trx, table, key, entity);
      const metadata = decode(r.metadata);
      if (!Object.hasOwn(metadata, metaKey)) throw notFound(`key of ${entity} '${key}'`, metaKey);
      delete metadata[metaKey];
      await writeMetadata(trx, table, r.id, metadata);
    });
  }

  async function bind(
    table: BindingTable,
    imageList: string,
    memberTable: OwnerTable,
    memberEntity: string,
    member: string,
  ) {
    await tx(async (trx) => {
      const list = await requireRow(trx, 'pub_imagelist', imageList, 'image list');
      const m = await requireRow(trx, memberTable, member, memberEntity);
      const existing = await trx
        .selectFrom(table)
        .select('id')
        .where('imagelist_id', '=', list.id)
        .where('member_id', '=', m.id)
        .executeTakeFirst();
      if (existing) throw conflict(memberEntity, member, `is already bound to image list '${imageList}'`);
      await trx.insertInto(table).values({ imagelist_id: list.id, member_id: m.id }).execute();
      await touch(trx, list.id);
    });
  }

  async function unbind(
    table: BindingTable,
    imageList: string,
    memberTable: OwnerTable,
    memberEntity: string,
    member: string,
  ) {
    await tx(async (trx) => {
      const list = await requireRow(trx, 'pub_imagelist', imageList, 'image list');
      const m = await requireRow(trx, memberTable, member, memberEntity);
      const r = await trx
        .deleteFrom(table)
        .where('imagelist_id', '=', list.id)
        .where('member_id', '=', m.id)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) {
        throw new StoreError(
          'ERR_STORE_NOT_FOUND',
          `${memberEntity} '${member}' is not bound to image list '${imageList}'`,
          {
            entity: memberEntity,
            key: member,
          },
        );
      }
      await touch(trx, list.id);
    });
  }

  async function applyImport(input: ImportPlan): Promise<ImportResult> {
    const parsed = checkPlan(input);
    const identifier = parsed.list.identifier;
    const d = ctx.dialect.sql;
    return tx(async (trx) => {
      const now = ctx.now().toISOString();
      const existingList = await row(trx, 'pub_imagelist', identifier);
      const created = existingList === undefined;
      let listId: number;
      let metadataUpdated = true;
      if (!existingList) {
        const r = await trx
          .insertInto('pub_imagelist')
          .values({ identifier, metadata: encodeMetadata(parsed.list.metadata), updated: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        listId = Number(r.id);
      } else {
        listId = Number(existingList.id);
        metadataUpdated = parsed.replace(decode(existingList.metadata), parsed.list.metadata, {
          kind: 'imagelist',
          identifier,
        });
        if (metadataUpdated) await writeMetadata(trx, 'pub_imagelist', listId, parsed.list.metadata);
        else await touch(trx, listId);
      }

      // Images as set-based statements: a list may hold thousands.
      const ids = parsed.images.map((i) => i.identifier);
      const known = new Map<string, { id: number; metadata?: Metadata }>();
      for (const part of batches(ids)) {
        const rows = await trx
          .selectFrom('pub_image')
          .select(['id', 'identifier', 'metadata'])
          .where('identifier', 'in', d.valuesList(part, 'text'))
          .execute();
        for (const r of rows) known.set(r.identifier, { id: Number(r.id), metadata: decode(r.metadata) });
      }
      const images: ImportResult['images'] = [];
      const writes: [string, string][] = [];
      for (const image of parsed.images) {
        const old = known.get(image.identifier);
        const wins =
          !old?.metadata ||
          parsed.replace(old.metadata, image.metadata, { kind: 'image', identifier: image.identifier });
        images.push({ identifier: image.identifier, created: !old, metadataUpdated: wins });
        if (wins) writes.push([image.identifier, encodeMetadata(image.metadata)]);
      }
      // New images are inserted, winning existing ones updated, in one upsert.
      const written = await bulkInsert<{ id: number; identifier: string }>(
        trx,
        d,
        'pub_image',
        [
          { name: 'identifier', type: 'text' },
          { name: 'metadata', type: 'text' },
        ],
        writes,
        ['id', 'identifier'],
        'on conflict (identifier) do update set metadata = excluded.metadata',
      );
      for (const r of written) if (!known.has(r.identifier)) known.set(r.identifier, { id: Number(r.id) });

      const bound = new Set(
        (
          await trx
            .selectFrom('pub_imagelist_image')
            .select('member_id')
            .where('imagelist_id', '=', listId)
            .execute()
        ).map((r) => Number(r.member_id)),
      );
      const wanted = ids.map((id) => known.get(id)!.id);
      await bulkInsert(
        trx,
        d,
        'pub_imagelist_image',
        [
          { name: 'imagelist_id', type: 'int4' },
          { name: 'member_id', type: 'int4' },
        ],
        wanted.filter((id) => !bound.has(id)).map((member) => [listId, member]),
      );
      if (metadataUpdated && !created) {
        // The same or a newer version of the list: its image set is the import's.
        const wantedSet = new Set(wanted);
        const stale = [...bound].filter((id) => !wantedSet.has(id));
        for (const part of batches(stale)) {
          await trx
            .deleteFrom('pub_imagelist_image')
            .where('imagelist_id', '=', listId)
            .where('member_id', 'in', d.valuesList(part, 'int4'))
            .execute();
        }
      }

      const endorsers: ImportResult['endorsers'] = [];
      for (const e of parsed.endorsers) {
        const old = await row(trx, 'pub_endorser', e.dn);
        let eid: number;
        if (!old) {
          const r = await trx
            .insertInto('pub_endorser')
            .values({ dn: e.dn, metadata: encodeMetadata(canonicalDnMetadata(e.metadata)) })
            .returning('id')
            .executeTakeFirstOrThrow();
          eid = Number(r.id);
        } else {
          eid = Number(old.id);
          if (metadataUpdated)
            await writeMetadata(trx, 'pub_endorser', eid, { ...decode(old.metadata), ...e.metadata });
        }
        const b = await trx
          .selectFrom('pub_imagelist_endorser')
          .select('id')
          .where('imagelist_id', '=', listId)
          .where('member_id', '=', eid)
          .executeTakeFirst();
        if (!b)
          await trx
            .insertInto('pub_imagelist_endorser')
            .values({ imagelist_id: listId, member_id: eid })
            .execute();
        endorsers.push({ dn: e.dn, created: !old });
      }
      return { identifier, created, metadataUpdated, images, endorsers };
    });
  }

  async function getImageListContents(identifier: string): Promise<PublisherImageListContents | undefined> {
    return tx(async (trx) => {
      const list = await row(trx, 'pub_imagelist', identifier);
      if (!list) return undefined;
      const listId = Number(list.id);
      const endorsers = await trx
        .selectFrom('pub_imagelist_endorser as b')
        .innerJoin('pub_endorser as e', 'e.id', 'b.member_id')
        .select(['e.dn', 'e.metadata'])
        .where('b.imagelist_id', '=', listId)
        .orderBy('b.id')
        .execute();
      const images = await trx
        .selectFrom('pub_imagelist_image as b')
        .innerJoin('pub_image as i', 'i.id', 'b.member_id')
        .select(['i.identifier', 'i.metadata'])
        .where('b.imagelist_id', '=', listId)
        .orderBy('b.id')
        .execute();
      const out: PublisherImageListContents = {
        identifier,
        metadata: decode(list.metadata),
        endorsers: endorsers.map((e) => ({ dn: e.dn, metadata: decode(e.metadata) })),
        images: images.map((i) => ({ identifier: i.identifier, metadata: decode(i.metadata) })),
      };
      const updated = fromDb(list.updated);
      if (updated) out.updated = updated;
      return out;
    });
  }

  const publisher: PublisherRepository = {
    async listEndorsers() {
      return (await db.selectFrom('pub_endorser').select('dn').orderBy('dn').execute()).map((r) => r.dn);
    },
    async getEndorser(dn): Promise<PublisherEndorser | undefined> {
      const r = await row(db, 'pub_endorser', dn);
      if (!r) return undefined;
      return {
        dn: String(r.dn),
        metadata: decode(r.metadata),
        imageLists: await listsOf(db, 'pub_imagelist_endorser', Number(r.id)),
      };
    },
    addEndorser: (dn, metadata = {}) => create('pub_endorser', 'endorser', dn, metadata, NONE),
    deleteEndorser: (dn) => remove('pub_endorser', 'endorser', dn),
    setEndorserKeys: (dn, metadata) => setKeys('pub_endorser', 'endorser', dn, metadata, NONE),
    deleteEndorserKey: (dn, key) => deleteKey('pub_endorser', 'endorser', dn, key),

    async listImageLists() {
      return (await db.selectFrom('pub_imagelist').select('identifier').orderBy('identifier').execute()).map(
        (r) => r.identifier,
      );
    },
    async getImageList(identifier): Promise<PublisherImageList | undefined> {
      const r = await row(db, 'pub_imagelist', identifier);
      if (!r) return undefined;
      const id = Number(r.id);
      const images = await db
        .selectFrom('pub_imagelist_image as b')
        .innerJoin('pub_image as i', 'i.id', 'b.member_id')
        .select('i.identifier')
        .where('b.imagelist_id', '=', id)
        .orderBy('b.id')
        .execute();
      const endorsers = await db
        .selectFrom('pub_imagelist_endorser as b')
        .innerJoin('pub_endorser as e', 'e.id', 'b.member_id')
        .select('e.dn')
        .where('b.imagelist_id', '=', id)
        .orderBy('b.id')
        .execute();
      const list: PublisherImageList = {
        identifier,
        metadata: decode(r.metadata),
        images: images.map((x) => x.identifier),
        endorsers: endorsers.map((x) => x.dn),
      };
      const updated = fromDb(r.updated);
      if (updated) list.updated = updated;
      return list;
    },
    addImageList: (identifier, metadata = {}) =>
      create('pub_imagelist', 'image list', identifier, metadata, LIST_RESERVED),
    deleteImageList: (identifier) => remove('pub_imagelist', 'image list', identifier),
    setImageListKeys: (identifier, metadata) =>
      setKeys('pub_imagelist', 'image list', identifier, metadata, LIST_RESERVED),
    deleteImageListKey: (identifier, key) => deleteKey('pub_imagelist', 'image list', identifier, key),

    async listImages() {
      return (await db.selectFrom('pub_image').select('identifier').orderBy('identifier').execute()).map(
        (r) => r.identifier,
      );
    },
    async getImage(identifier): Promise<PublisherImage | undefined> {
      const r = await row(db, 'pub_image', identifier);
      if (!r) return undefined;
      return {
        identifier,
        metadata: decode(r.metadata),
        imageLists: await listsOf(db, 'pub_imagelist_image', Number(r.id)),
      };
    },
    addImage: (identifier, metadata = {}) =>
      create('pub_image', 'image', identifier, metadata, IMAGE_RESERVED),
    deleteImage: (identifier) => remove('pub_image', 'image', identifier),
    setImageKeys: (identifier, metadata) =>
      setKeys('pub_image', 'image', identifier, metadata, IMAGE_RESERVED),
    deleteImageKey: (identifier, key) => deleteKey('pub_image', 'image', identifier, key),

    bindEndorser: (imageList, dn) =>
      bind('pub_imagelist_endorser', imageList, 'pub_endorser', 'endorser', dn),
    unbindEndorser: (imageList, dn) =>
      unbind('pub_imagelist_endorser', imageList, 'pub_endorser', 'endorser', dn),
    bindImage: (imageList, image) => bind('pub_imagelist_image', imageList, 'pub_image', 'image', image),
    unbindImage: (imageList, image) => unbind('pub_imagelist_image', imageList, 'pub_image', 'image', image),

    applyImport,
    getImageListContents,
  };

  const internals: PublisherInternals = {
    async insertOwner(table, key, metadata, updated) {
      const stored = ownerKey(table, key);
      const entity = { pub_endorser: 'endorser', pub_imagelist: 'image list', pub_image: 'image' }[table];
      if (await row(db, table, stored)) throw conflict(entity, stored, 'already exists in the target store');
      const values: Record<string, unknown> = {
        [keyColumn(table)]: stored,
        metadata: encodeMetadata(storedMetadata(table, metadata)),
      };
      if (table === 'pub_imagelist') values.updated = updated ? updated.toISOString() : null;
      const r = await (db as AnyKysely)
        .insertInto(table)
        .values(values)
        .returning('id')
        .executeTakeFirstOrThrow();
      return { id: Number(r.id), created: true };
    },
    async insertBindings(table, pairs) {
      await bulkInsert(
        db,
        ctx.dialect.sql,
        table,
        [
          { name: 'imagelist_id', type: 'int4' },
          { name: 'member_id', type: 'int4' },
        ],
        pairs.map((p) => [p.imagelist_id, p.member_id]),
      );
    },
    async clearAll() {
      for (const table of ['pub_imagelist', 'pub_image', 'pub_endorser'] as const)
        await db.deleteFrom(table).execute();
    },
    async hasData() {
      for (const table of ['pub_endorser', 'pub_imagelist', 'pub_image'] as const) {
        if (await db.selectFrom(table).select('id').limit(1).executeTakeFirst()) return true;
      }
      return false;
    },
  };
  return { ...publisher, ...internals };
}

export function createPublisherRepository(ctx: RepoContext): PublisherRepository {
  const {
    insertOwner: _i,
    insertBindings: _b,
    clearAll: _c,
    hasData: _h,
    ...publisher
  } = createPublisher(ctx);
  return guard('publisher', publisher, ctx.dialect.url);
}

export function createPublisherInternals(ctx: RepoContext): PublisherInternals & PublisherRepository {
  return createPublisher(ctx);
}
