// The publisher (vmcaster) repository: endorsers (keyed by their canonical DN), image lists and images with free
// key/value metadata. The list-format functions (importImageList, exportImageList, parseImport, importWins) move
// to the publisher package later; until then they live here.
import type {
  ImportResult,
  Metadata,
  PublisherEndorser,
  PublisherImage,
  PublisherImageList,
  PublisherRepository,
} from './api.js';
import { batches, bulkInsert } from './bulk.js';
import type { Db, RepoContext } from './context.js';
import { canonicalDn, canonicalDnMetadata } from './dn.js';
import { conflict, invalid, notFound, StoreError } from './errors.js';
import { guard } from './guard.js';
import type { AnyKysely, AnyTransaction } from './schema.js';
import { encodeMetadata, fromDb } from './util.js';
import { compareVersions } from './versions.js';
export type OwnerTable = 'pub_endorser' | 'pub_imagelist' | 'pub_image';
export type BindingTable = 'pub_imagelist_endorser' | 'pub_imagelist_image';

const LIST_RESERVED = new Set(['dc:identifier', 'hv:endorser', 'hv:images']);
const IMAGE_RESERVED = new Set(['dc:identifier']);
const NONE = new Set<string>();
/** Image keys exported as JSON numbers when their stored text is an integer. */
const INTEGER_KEYS = new Set(['hv:size', 'hv:ram_minimum', 'hv:core_minimum']);

function text(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null');
}

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

/** Metadata is replaced only when the import is the same version or newer (vmcaster §4.4). */
function importWins(stored: string | undefined, incoming: string | undefined): boolean {
  if (stored === undefined) return true;
  if (incoming === undefined) return false;
  return compareVersions(stored, incoming) <= 0;
}

function exportImage(identifier: string, metadata: Metadata): Record<string, unknown> {
  const img: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    img[k] = INTEGER_KEYS.has(k) && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }
  img['dc:identifier'] = identifier;
  return img;
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

  async function importImageList(document: unknown): Promise<ImportResult> {
    const parsed = parseImport(document);
    const d = ctx.dialect.sql;
    return tx(async (trx) => {
      const now = ctx.now().toISOString();
      const existingList = await row(trx, 'pub_imagelist', parsed.identifier);
      const created = existingList === undefined;
      let listId: number;
      let metadataUpdated = true;
      if (!existingList) {
        const r = await trx
          .insertInto('pub_imagelist')
          .values({ identifier: parsed.identifier, metadata: encodeMetadata(parsed.metadata), updated: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        listId = Number(r.id);
      } else {
        listId = Number(existingList.id);
        metadataUpdated = importWins(
          decode(existingList.metadata)['hv:version'],
          parsed.metadata['hv:version'],
        );
        if (metadataUpdated) await writeMetadata(trx, 'pub_imagelist', listId, parsed.metadata);
        else await touch(trx, listId);
      }

      // Images as set-based statements: a list may hold thousands.
      const ids = parsed.images.map((i) => i.identifier);
      const known = new Map<string, { id: number; version?: string }>();
      for (const part of batches(ids)) {
        const rows = await trx
          .selectFrom('pub_image')
          .select(['id', 'identifier', 'metadata'])
          .where('identifier', 'in', d.valuesList(part, 'text'))
          .execute();
        for (const r of rows)
          known.set(r.identifier, { id: Number(r.id), version: decode(r.metadata)['hv:version'] });
      }
      const images: ImportResult['images'] = [];
      const writes: [string, string][] = [];
      for (const image of parsed.images) {
        const old = known.get(image.identifier);
        const wins = !old || importWins(old.version, image.metadata['hv:version']);
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
      return { identifier: parsed.identifier, created, metadataUpdated, images, endorsers };
    });
  }

  async function exportImageList(identifier: string): Promise<Record<string, unknown>> {
    return tx(async (trx) => {
      const list = await requireRow(trx, 'pub_imagelist', identifier, 'image list');
      const out: Record<string, unknown> = { ...decode(list.metadata), 'dc:identifier': identifier };
      const endorsers = await trx
        .selectFrom('pub_imagelist_endorser as b')
        .innerJoin('pub_endorser as e', 'e.id', 'b.member_id')
        .select(['e.dn', 'e.metadata'])
        .where('b.imagelist_id', '=', list.id)
        .orderBy('b.id')
        .execute();
      const x509 = endorsers.map((e) => ({ 'hv:x509': { ...decode(e.metadata), 'hv:dn': e.dn } }));
      if (x509.length === 1) out['hv:endorser'] = x509[0];
      else if (x509.length > 1) out['hv:endorser'] = x509;
      const images = await trx
        .selectFrom('pub_imagelist_image as b')
        .innerJoin('pub_image as i', 'i.id', 'b.member_id')
        .select(['i.identifier', 'i.metadata'])
        .where('b.imagelist_id', '=', list.id)
        .orderBy('b.id')
        .execute();
      out['hv:images'] = images.map((i) => ({ 'hv:image': exportImage(i.identifier, decode(i.metadata)) }));
      return { 'hv:imagelist': out };
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

    importImageList,
    exportImageList,
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
    if (!isObject(image))
      throw invalid(`'hv:images[${i}]' is not an {"hv:image": {…}} object`, 'image list', identifier);
    const id = image['dc:identifier'];
    if (typeof id !== 'string' || id === '')
      throw invalid(`'hv:images[${i}]' has no 'dc:identifier' string`, 'image', String(i));
    const meta: Metadata = {};
    for (const [k, v] of Object.entries(image)) if (k !== 'dc:identifier') meta[k] = text(v);
    byId.delete(id);
    byId.set(id, meta);
  });

  const rawEndorsers = list['hv:endorser'] === undefined ? [] : ([] as unknown[]).concat(list['hv:endorser']);
  const endorsers: ParsedImport['endorsers'] = [];
  rawEndorsers.forEach((entry, i) => {
    const x509 = isObject(entry) ? entry['hv:x509'] : undefined;
    if (!isObject(x509))
      throw invalid(`'hv:endorser' entry ${i} has no 'hv:x509' object`, 'image list', identifier);
    const raw = x509['hv:dn'];
    if (typeof raw !== 'string' || raw.trim() === '')
      throw invalid(`'hv:endorser' entry ${i} has no 'hv:dn' string`, 'endorser');
    const dn = canonicalDn(raw);
    const meta: Metadata = {};
    for (const [k, v] of Object.entries(x509)) if (k !== 'hv:dn') meta[k] = text(v);
    if (!endorsers.some((e) => e.dn === dn)) endorsers.push({ dn, metadata: meta });
  });
  return {
    identifier,
    metadata,
    images: [...byId].map(([id, meta]) => ({ identifier: id, metadata: meta })),
    endorsers,
  };
}
