// The publisher (vmcaster) repository: endorsers, image lists and images with free key/value metadata.
import type { Kysely, Transaction } from 'kysely';
import type {
  ImportResult,
  Metadata,
  PublisherEndorser,
  PublisherImage,
  PublisherImageList,
  PublisherRepository,
} from './api.js';
import { StoreError, conflict, invalid, isUniqueViolation, notFound } from './errors.js';
import type { Database } from './schema.js';
import type { StoreContext } from './store.js';
import { chunks, fromDb } from './util.js';
import { compareVersions } from './versions.js';

type Db = Kysely<Database> | Transaction<Database>;
type MetaTable = 'pub_endorser_metadata' | 'pub_imagelist_metadata' | 'pub_image_metadata';
type OwnerTable = 'pub_endorser' | 'pub_imagelist' | 'pub_image';

const LIST_RESERVED = new Set(['dc:identifier', 'hv:endorser', 'hv:images']);
const IMAGE_RESERVED = new Set(['dc:identifier']);
/** Image keys exported as JSON numbers when their stored text is an integer. */
const INTEGER_KEYS = new Set(['hv:size', 'hv:ram_minimum', 'hv:core_minimum']);
/** Rows per multi-row INSERT: 3 parameters a row stays far below both dialects' parameter limits. */
const ROWS = 900;

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? 'null';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMetadata(metadata: Metadata, reserved: Set<string>, entity: string, id: string): void {
  if (!isObject(metadata)) throw invalid(`metadata of ${entity} '${id}' must be an object of strings`, entity, id);
  for (const [k, v] of Object.entries(metadata)) {
    if (k === '') throw invalid(`empty metadata key for ${entity} '${id}'`, entity, id);
    if (reserved.has(k)) throw invalid(`'${k}' is a reserved key of ${entity} '${id}'`, entity, k);
    if (typeof v !== 'string') throw invalid(`value of '${k}' for ${entity} '${id}' must be a string`, entity, k);
  }
}

/** Metadata replaced only when the import is the same version or newer (vmcaster §4.4). */
function importWins(stored: string | undefined, incoming: string | undefined): boolean {
  if (stored === undefined) return true;
  if (incoming === undefined) return false;
  return compareVersions(stored, incoming) <= 0;
}

export function createPublisherRepository(db: Kysely<Database>, ctx: StoreContext): PublisherRepository {
  const tx = <T>(fn: (trx: Transaction<Database>) => Promise<T>) => db.transaction().execute(fn);

  async function idOf(q: Db, table: 'pub_endorser', key: string): Promise<number | undefined>;
  async function idOf(q: Db, table: 'pub_imagelist' | 'pub_image', key: string): Promise<number | undefined>;
  async function idOf(q: Db, table: OwnerTable, key: string): Promise<number | undefined> {
    const col = table === 'pub_endorser' ? 'dn' : 'identifier';
    const row = await (q as Kysely<any>).selectFrom(table).select('id').where(col, '=', key).executeTakeFirst();
    return row ? Number(row.id) : undefined;
  }

  async function requireId(q: Db, table: OwnerTable, key: string, entity: string): Promise<number> {
    const id = await idOf(q, table as 'pub_image', key);
    if (id === undefined) throw notFound(entity, key);
    return id;
  }

  async function readMetadata(q: Db, table: MetaTable, ownerId: number): Promise<Metadata> {
    const rows = await q.selectFrom(table).select(['key', 'value']).where('owner_id', '=', ownerId).orderBy('key').execute();
    const out: Metadata = {};
    for (const r of rows) out[r.key] = r.value;
    return out;
  }

  async function upsertKeys(q: Db, table: MetaTable, ownerId: number, metadata: Metadata): Promise<void> {
    const entries = Object.entries(metadata);
    if (!entries.length) return;
    await q
      .deleteFrom(table)
      .where('owner_id', '=', ownerId)
      .where(
        'key',
        'in',
        entries.map(([k]) => k),
      )
      .execute();
    for (const part of chunks(entries, ROWS)) {
      await q
        .insertInto(table)
        .values(part.map(([key, value]) => ({ owner_id: ownerId, key, value })))
        .execute();
    }
  }

  async function deleteKey(table: MetaTable, owner: OwnerTable, entity: string, id: string, key: string) {
    await tx(async (trx) => {
      const ownerId = await requireId(trx, owner, id, entity);
      const r = await trx.deleteFrom(table).where('owner_id', '=', ownerId).where('key', '=', key).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound(`key of ${entity} '${id}'`, key);
      if (owner === 'pub_imagelist') await touch(trx, ownerId);
    });
  }

  async function touch(q: Db, listId: number): Promise<void> {
    await q.updateTable('pub_imagelist').set({ updated: ctx.now().toISOString() }).where('id', '=', listId).execute();
  }

  async function listsOf(q: Db, table: 'pub_imagelist_endorser' | 'pub_imagelist_image', memberId: number) {
    const rows = await q
      .selectFrom(`${table} as b` as 'pub_imagelist_image as b')
      .innerJoin('pub_imagelist as l', 'l.id', 'b.imagelist_id')
      .select('l.identifier')
      .where('b.member_id', '=', memberId)
      .orderBy('l.identifier')
      .execute();
    return rows.map((r) => r.identifier);
  }

  async function create(table: OwnerTable, entity: string, key: string, metadata: Metadata, reserved: Set<string>) {
    checkMetadata(metadata, reserved, entity, key);
    if (typeof key !== 'string' || key === '') throw invalid(`${entity} needs a non-empty identifier`, entity, key);
    await tx(async (trx) => {
      if ((await idOf(trx, table as 'pub_image', key)) !== undefined) throw conflict(entity, key);
      const col = table === 'pub_endorser' ? 'dn' : 'identifier';
      const values: Record<string, unknown> = { [col]: key };
      if (table === 'pub_imagelist') values.updated = ctx.now().toISOString();
      let row: { id: number };
      try {
        row = await (trx as Transaction<any>).insertInto(table).values(values).returning('id').executeTakeFirstOrThrow();
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(entity, key);
        throw err;
      }
      await upsertKeys(trx, `${table}_metadata` as MetaTable, Number(row.id), metadata);
    });
  }

  async function remove(table: OwnerTable, entity: string, key: string) {
    const col = table === 'pub_endorser' ? 'dn' : 'identifier';
    const r = await (db as Kysely<any>).deleteFrom(table).where(col, '=', key).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw notFound(entity, key);
  }

  async function setKeys(table: OwnerTable, entity: string, key: string, metadata: Metadata, reserved: Set<string>) {
    checkMetadata(metadata, reserved, entity, key);
    await tx(async (trx) => {
      const id = await requireId(trx, table, key, entity);
      await upsertKeys(trx, `${table}_metadata` as MetaTable, id, metadata);
      if (table === 'pub_imagelist') await touch(trx, id);
    });
  }

  async function bind(
    table: 'pub_imagelist_endorser' | 'pub_imagelist_image',
    imageList: string,
    memberTable: 'pub_endorser' | 'pub_image',
    memberEntity: string,
    member: string,
  ) {
    await tx(async (trx) => {
      const listId = await requireId(trx, 'pub_imagelist', imageList, 'image list');
      const memberId = await requireId(trx, memberTable, member, memberEntity);
      const existing = await trx
        .selectFrom(table)
        .select('id')
        .where('imagelist_id', '=', listId)
        .where('member_id', '=', memberId)
        .executeTakeFirst();
      if (existing) throw conflict(memberEntity, member, `is already bound to image list '${imageList}'`);
      await trx.insertInto(table).values({ imagelist_id: listId, member_id: memberId }).execute();
      await touch(trx, listId);
    });
  }

  async function unbind(
    table: 'pub_imagelist_endorser' | 'pub_imagelist_image',
    imageList: string,
    memberTable: 'pub_endorser' | 'pub_image',
    memberEntity: string,
    member: string,
  ) {
    await tx(async (trx) => {
      const listId = await requireId(trx, 'pub_imagelist', imageList, 'image list');
      const memberId = await requireId(trx, memberTable, member, memberEntity);
      const r = await trx
        .deleteFrom(table)
        .where('imagelist_id', '=', listId)
        .where('member_id', '=', memberId)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) {
        throw new StoreError('ERR_STORE_NOT_FOUND', `${memberEntity} '${member}' is not bound to image list '${imageList}'`, {
          entity: memberEntity,
          key: member,
        });
      }
      await touch(trx, listId);
    });
  }

  async function importImageList(document: unknown): Promise<ImportResult> {
    const parsed = parseImport(document);
    return tx(async (trx) => {
      const now = ctx.now().toISOString();
      let listId = await idOf(trx, 'pub_imagelist', parsed.identifier);
      const created = listId === undefined;
      let metadataUpdated = true;
      if (listId === undefined) {
        const row = await trx
          .insertInto('pub_imagelist')
          .values({ identifier: parsed.identifier, updated: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        listId = Number(row.id);
      } else {
        const stored = await trx
          .selectFrom('pub_imagelist_metadata')
          .select('value')
          .where('owner_id', '=', listId)
          .where('key', '=', 'hv:version')
          .executeTakeFirst();
        metadataUpdated = importWins(stored?.value, parsed.metadata['hv:version']);
        if (metadataUpdated) await trx.deleteFrom('pub_imagelist_metadata').where('owner_id', '=', listId).execute();
        await touch(trx, listId);
      }
      if (metadataUpdated) await upsertKeys(trx, 'pub_imagelist_metadata', listId, parsed.metadata);

      // Images, in bulk: a list may hold thousands.
      const ids = parsed.images.map((i) => i.identifier);
      const known = new Map<string, number>();
      for (const part of chunks(ids, ROWS)) {
        const rows = await trx.selectFrom('pub_image').select(['id', 'identifier']).where('identifier', 'in', part).execute();
        for (const r of rows) known.set(r.identifier, Number(r.id));
      }
      const fresh = ids.filter((id) => !known.has(id));
      const freshSet = new Set(fresh);
      for (const part of chunks(fresh, ROWS)) {
        const rows = await trx
          .insertInto('pub_image')
          .values(part.map((identifier) => ({ identifier })))
          .returning(['id', 'identifier'])
          .execute();
        for (const r of rows) known.set(r.identifier, Number(r.id));
      }
      const storedVersions = new Map<number, string>();
      const existingIds = ids.filter((id) => !freshSet.has(id)).map((id) => known.get(id)!);
      for (const part of chunks(existingIds, ROWS)) {
        const rows = await trx
          .selectFrom('pub_image_metadata')
          .select(['owner_id', 'value'])
          .where('key', '=', 'hv:version')
          .where('owner_id', 'in', part)
          .execute();
        for (const r of rows) storedVersions.set(Number(r.owner_id), r.value);
      }
      const images: ImportResult['images'] = [];
      const replace: number[] = [];
      const metaRows: { owner_id: number; key: string; value: string }[] = [];
      for (const image of parsed.images) {
        const id = known.get(image.identifier)!;
        const isNew = freshSet.has(image.identifier);
        const wins = isNew || importWins(storedVersions.get(id), image.metadata['hv:version']);
        images.push({ identifier: image.identifier, created: isNew, metadataUpdated: wins });
        if (!wins) continue;
        if (!isNew) replace.push(id);
        for (const [key, value] of Object.entries(image.metadata)) metaRows.push({ owner_id: id, key, value });
      }
      for (const part of chunks(replace, ROWS)) {
        await trx.deleteFrom('pub_image_metadata').where('owner_id', 'in', part).execute();
      }
      for (const part of chunks(metaRows, ROWS)) await trx.insertInto('pub_image_metadata').values(part).execute();

      const bound = new Set(
        (await trx.selectFrom('pub_imagelist_image').select('member_id').where('imagelist_id', '=', listId).execute()).map(
          (r) => Number(r.member_id),
        ),
      );
      const wanted = ids.map((id) => known.get(id)!);
      const toBind = wanted.filter((id) => !bound.has(id));
      for (const part of chunks(toBind, ROWS)) {
        await trx
          .insertInto('pub_imagelist_image')
          .values(part.map((member_id) => ({ imagelist_id: listId!, member_id })))
          .execute();
      }
      if (metadataUpdated && !created) {
        // The same or a newer version of the list: its image set is the import's.
        const wantedSet = new Set(wanted);
        const stale = [...bound].filter((id) => !wantedSet.has(id));
        for (const part of chunks(stale, ROWS)) {
          await trx.deleteFrom('pub_imagelist_image').where('imagelist_id', '=', listId!).where('member_id', 'in', part).execute();
        }
      }

      const endorsers: ImportResult['endorsers'] = [];
      for (const e of parsed.endorsers) {
        let eid = await idOf(trx, 'pub_endorser', e.dn);
        const isNew = eid === undefined;
        if (eid === undefined) {
          const row = await trx.insertInto('pub_endorser').values({ dn: e.dn }).returning('id').executeTakeFirstOrThrow();
          eid = Number(row.id);
        }
        if (isNew || metadataUpdated) await upsertKeys(trx, 'pub_endorser_metadata', eid, e.metadata);
        const b = await trx
          .selectFrom('pub_imagelist_endorser')
          .select('id')
          .where('imagelist_id', '=', listId)
          .where('member_id', '=', eid)
          .executeTakeFirst();
        if (!b) await trx.insertInto('pub_imagelist_endorser').values({ imagelist_id: listId, member_id: eid }).execute();
        endorsers.push({ dn: e.dn, created: isNew });
      }
      return { identifier: parsed.identifier, created, metadataUpdated, images, endorsers };
    });
  }

  async function exportImageList(identifier: string): Promise<Record<string, unknown>> {
    const listId = await requireId(db, 'pub_imagelist', identifier, 'image list');
    const out: Record<string, unknown> = { ...(await readMetadata(db, 'pub_imagelist_metadata', listId)) };
    out['dc:identifier'] = identifier;
    const endorserRows = await db
      .selectFrom('pub_imagelist_endorser as b')
      .innerJoin('pub_endorser as e', 'e.id', 'b.member_id')
      .leftJoin('pub_endorser_metadata as m', 'm.owner_id', 'e.id')
      .select(['b.id as bid', 'e.dn', 'm.key', 'm.value'])
      .where('b.imagelist_id', '=', listId)
      .orderBy('b.id')
      .orderBy('m.key')
      .execute();
    const endorsers = new Map<number, Record<string, unknown>>();
    for (const r of endorserRows) {
      let x = endorsers.get(Number(r.bid));
      if (!x) {
        x = {};
        endorsers.set(Number(r.bid), x);
      }
      if (r.key !== null && r.value !== null) x[r.key] = r.value;
      x['hv:dn'] = r.dn;
    }
    const x509 = [...endorsers.values()].map((x) => ({ 'hv:x509': x }));
    if (x509.length === 1) out['hv:endorser'] = x509[0];
    else if (x509.length > 1) out['hv:endorser'] = x509;
    const imageRows = await db
      .selectFrom('pub_imagelist_image as b')
      .innerJoin('pub_image as i', 'i.id', 'b.member_id')
      .leftJoin('pub_image_metadata as m', 'm.owner_id', 'i.id')
      .select(['b.id as bid', 'i.identifier', 'm.key', 'm.value'])
      .where('b.imagelist_id', '=', listId)
      .orderBy('b.id')
      .orderBy('m.key')
      .execute();
    const images = new Map<number, Record<string, unknown>>();
    for (const r of imageRows) {
      let img = images.get(Number(r.bid));
      if (!img) {
        img = {};
        images.set(Number(r.bid), img);
      }
      if (r.key !== null && r.value !== null) {
        img[r.key] = INTEGER_KEYS.has(r.key) && /^-?\d+$/.test(r.value) && Number.isSafeInteger(Number(r.value)) ? Number(r.value) : r.value;
      }
      img['dc:identifier'] = r.identifier;
    }
    out['hv:images'] = [...images.values()].map((img) => ({ 'hv:image': img }));
    return { 'hv:imagelist': out };
  }

  return {
    async listEndorsers() {
      return (await db.selectFrom('pub_endorser').select('dn').orderBy('dn').execute()).map((r) => r.dn);
    },
    async getEndorser(dn): Promise<PublisherEndorser | undefined> {
      const id = await idOf(db, 'pub_endorser', dn);
      if (id === undefined) return undefined;
      return { dn, metadata: await readMetadata(db, 'pub_endorser_metadata', id), imageLists: await listsOf(db, 'pub_imagelist_endorser', id) };
    },
    addEndorser: (dn, metadata = {}) => create('pub_endorser', 'endorser', dn, metadata, new Set()),
    deleteEndorser: (dn) => remove('pub_endorser', 'endorser', dn),
    setEndorserKeys: (dn, metadata) => setKeys('pub_endorser', 'endorser', dn, metadata, new Set()),
    deleteEndorserKey: (dn, key) => deleteKey('pub_endorser_metadata', 'pub_endorser', 'endorser', dn, key),

    async listImageLists() {
      return (await db.selectFrom('pub_imagelist').select('identifier').orderBy('identifier').execute()).map((r) => r.identifier);
    },
    async getImageList(identifier): Promise<PublisherImageList | undefined> {
      const row = await db.selectFrom('pub_imagelist').selectAll().where('identifier', '=', identifier).executeTakeFirst();
      if (!row) return undefined;
      const id = Number(row.id);
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
        metadata: await readMetadata(db, 'pub_imagelist_metadata', id),
        images: images.map((r) => r.identifier),
        endorsers: endorsers.map((r) => r.dn),
      };
      const updated = fromDb(row.updated);
      if (updated) list.updated = updated;
      return list;
    },
    addImageList: (identifier, metadata = {}) => create('pub_imagelist', 'image list', identifier, metadata, LIST_RESERVED),
    deleteImageList: (identifier) => remove('pub_imagelist', 'image list', identifier),
    setImageListKeys: (identifier, metadata) => setKeys('pub_imagelist', 'image list', identifier, metadata, LIST_RESERVED),
    deleteImageListKey: (identifier, key) =>
      deleteKey('pub_imagelist_metadata', 'pub_imagelist', 'image list', identifier, key),

    async listImages() {
      return (await db.selectFrom('pub_image').select('identifier').orderBy('identifier').execute()).map((r) => r.identifier);
    },
    async getImage(identifier): Promise<PublisherImage | undefined> {
      const id = await idOf(db, 'pub_image', identifier);
      if (id === undefined) return undefined;
      return {
        identifier,
        metadata: await readMetadata(db, 'pub_image_metadata', id),
        imageLists: await listsOf(db, 'pub_imagelist_image', id),
      };
    },
    addImage: (identifier, metadata = {}) => create('pub_image', 'image', identifier, metadata, IMAGE_RESERVED),
    deleteImage: (identifier) => remove('pub_image', 'image', identifier),
    setImageKeys: (identifier, metadata) => setKeys('pub_image', 'image', identifier, metadata, IMAGE_RESERVED),
    deleteImageKey: (identifier, key) => deleteKey('pub_image_metadata', 'pub_image', 'image', identifier, key),

    bindEndorser: (imageList, dn) => bind('pub_imagelist_endorser', imageList, 'pub_endorser', 'endorser', dn),
    unbindEndorser: (imageList, dn) => unbind('pub_imagelist_endorser', imageList, 'pub_endorser', 'endorser', dn),
    bindImage: (imageList, image) => bind('pub_imagelist_image', imageList, 'pub_image', 'image', image),
    unbindImage: (imageList, image) => unbind('pub_imagelist_image', imageList, 'pub_image', 'image', image),

    importImageList,
    exportImageList,
  };
}

interface ParsedImport {
  identifier: string;
  metadata: Metadata;
  images: { identifier: string; metadata: Metadata }[];
  endorsers: { dn: string; metadata: Metadata }[];
}

/** Validates the shape of an import before any row is touched. */
function parseImport(document: unknown): ParsedImport {
  if (!isObject(document)) throw invalid('an image list document must be a JSON object');
  const wrapped = document['hv:imagelist'];
  const list = wrapped === undefined ? document : wrapped;
  if (!isObject(list)) throw invalid("'hv:imagelist' must be an object");
  const identifier = list['dc:identifier'];
  if (typeof identifier !== 'string' || identifier === '') {
    throw invalid("the image list has no 'dc:identifier' string", 'image list');
  }
  const metadata: Metadata = {};
  for (const [k, v] of Object.entries(list)) if (!LIST_RESERVED.has(k)) metadata[k] = text(v);

  const rawImages = list['hv:images'] ?? [];
  if (!Array.isArray(rawImages)) throw invalid("'hv:images' must be an array", 'image list', identifier);
  const byId = new Map<string, Metadata>();
  rawImages.forEach((entry, i) => {
    const image = isObject(entry) ? entry['hv:image'] : undefined;
    if (!isObject(image)) throw invalid(`'hv:images[${i}]' is not an {"hv:image": {…}} object`, 'image list', identifier);
    const id = image['dc:identifier'];
    if (typeof id !== 'string' || id === '') throw invalid(`'hv:images[${i}]' has no 'dc:identifier' string`, 'image', String(i));
    const meta: Metadata = {};
    for (const [k, v] of Object.entries(image)) if (k !== 'dc:identifier') meta[k] = text(v);
    byId.delete(id);
    byId.set(id, meta);
  });

  const rawEndorsers = list['hv:endorser'] === undefined ? [] : ([] as unknown[]).concat(list['hv:endorser']);
  const endorsers: ParsedImport['endorsers'] = [];
  rawEndorsers.forEach((entry, i) => {
    const x509 = isObject(entry) ? entry['hv:x509'] : undefined;
    if (!isObject(x509)) throw invalid(`'hv:endorser' entry ${i} has no 'hv:x509' object`, 'image list', identifier);
    const dn = x509['hv:dn'];
    if (typeof dn !== 'string' || dn === '') throw invalid(`'hv:endorser' entry ${i} has no 'hv:dn' string`, 'endorser');
    const meta: Metadata = {};
    for (const [k, v] of Object.entries(x509)) if (k !== 'hv:dn') meta[k] = text(v);
    if (!endorsers.some((e) => e.dn === dn)) endorsers.push({ dn, metadata: meta });
  });
  return { identifier, metadata, images: [...byId].map(([id, meta]) => ({ identifier: id, metadata: meta })), endorsers };
}
