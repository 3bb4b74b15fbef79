// The marketplace's tables in the HEPiX store (a StoreExtension): every stored list with its signed bytes, the
// history of its versions, the image entries of the current versions, and the history of every image. Read
// and written only through this repository; every query is built by kysely with bound parameters.
import type { DialectName, StoreExtension, StoreExtensionContext } from '@hepix/imagelist-store';
import { canonicalDn } from '@hepix/smime-x509';
import {
  CompiledQuery,
  type ExpressionBuilder,
  type Kysely,
  type Migration,
  type SelectQueryBuilder,
  sql,
  type Transaction,
} from 'kysely';
import type { IngestDecision, MarketListFacts } from './decide.js';
import type { EndorserRef, ImageFields, ListRecord } from './entries.js';
import { MarketplaceError } from './errors.js';

interface ListTable {
  identifier: string;
  version: string;
  title: string;
  description: string;
  uri: string;
  vo: string | null;
  created_ms: number | string;
  expires_ms: number | string;
  endorser_dn: string;
  endorser_ca: string;
  endorser_email: string;
  image_count: number | string;
  sha512: string;
  data: Uint8Array;
  uploaded_ms: number | string;
}

interface ListVersionTable {
  list_identifier: string;
  version: string;
  created_ms: number | string;
  expires_ms: number | string;
  sha512: string;
  image_count: number | string;
  uploaded_ms: number | string;
}

interface ImageTable {
  image_identifier: string;
  list_identifier: string;
  list_version: string;
  title: string;
  description: string;
  os: string;
  osversion: string;
  arch: string;
  hypervisor: string;
  format: string | null;
  size: number | string | null;
  sha512: string;
  version: string;
  locations: string;
  deprecated: string | null;
  vo: string | null;
  endorser_dn: string;
  endorser_ca: string;
  endorser_email: string;
  created_ms: number | string;
  expires_ms: number | string;
  entry: string;
}

interface ImageHistoryTable {
  image_identifier: string;
  list_identifier: string;
  list_version: string;
  version: string;
  sha512: string;
  size: number | string | null;
  deprecated: string | null;
  created_ms: number | string;
}

interface MarketplaceDatabase {
  marketplace_list: ListTable;
  marketplace_list_version: ListVersionTable;
  marketplace_image: ImageTable;
  marketplace_image_history: ImageHistoryTable;
}

type Db = Kysely<MarketplaceDatabase>;

export type ImageStatus = 'valid' | 'expired' | 'deprecated';
export type ListStatus = 'valid' | 'expired';

export interface ImageQuery {
  os?: string;
  osversion?: string;
  arch?: string;
  /** A DN (any spelling canonicalDn accepts) or an e-mail address. */
  endorser?: string;
  vo?: string;
  format?: string;
  hypervisor?: string;
  sha512?: string;
  /** Default `valid`. */
  status?: ImageStatus | 'all';
  /** Text searched (case-insensitively) in title and description. */
  q?: string;
  /** Default `created`. */
  sort?: 'created' | 'title' | 'os';
  /** Default `desc` for `created`, `asc` otherwise. */
  order?: 'asc' | 'desc';
  /** Default 50; clamped to 1 … MAX_PAGE_SIZE. */
  limit?: number;
  offset?: number;
}

export interface Page<T> {
  total: number;
  items: T[];
}

export interface ImageItem extends ImageFields {
  endorser: EndorserRef;
  list: { identifier: string; version: string };
  vo: string | null;
  /** `dc:date:created` of the list that carries it, ISO 8601. */
  created: string;
  expires: string;
  status: ImageStatus;
}

export interface ImageHistoryEntry {
  list: { identifier: string; version: string };
  version: string;
  sha512: string;
  size: number | null;
  deprecated: string | null;
  created: string;
}

export interface ImageDetail extends ImageItem {
  /** The `hv:image` object as signed. */
  entry: Record<string, unknown>;
  /** Every current list that carries the image (the one above first). */
  lists: ImageItem[];
  /** Every list version that carried the image, newest first. */
  history: ImageHistoryEntry[];
}

export interface ListSummary {
  identifier: string;
  version: string;
  title: string;
  description: string;
  uri: string;
  vo: string | null;
  endorser: EndorserRef;
  created: string;
  expires: string;
  status: ListStatus;
  /** Number of image entries. */
  images: number;
  /** sha512 of the stored signed bytes. */
  sha512: string;
  uploaded: string;
}

export interface ListVersionEntry {
  version: string;
  created: string;
  expires: string;
  sha512: string;
  images: number;
  uploaded: string;
}

export interface ListDetail extends ListSummary {
  imageIdentifiers: string[];
  /** Every version accepted, newest first. */
  versions: ListVersionEntry[];
}

export interface EndorserSummary extends EndorserRef {
  lists: number;
  images: number;
}

export interface SaveListInput {
  record: ListRecord;
  /** The signed bytes, kept exactly. */
  data: Uint8Array;
  /** sha512 hex of `data`. */
  sha512: string;
  /** Called in the transaction with the stored list's facts; a refusal aborts the save. */
  decide(stored: MarketListFacts | undefined): IngestDecision;
}

export interface MarketplaceRepository {
  /** Stores a new version of a list (its images replace the previous version's), in one transaction. */
  saveList(input: SaveListInput): Promise<void>;
  storedListFacts(identifier: string): Promise<MarketListFacts | undefined>;
  getList(identifier: string, now: Date): Promise<ListDetail | undefined>;
  /** The signed bytes as uploaded. */
  getListData(identifier: string): Promise<Uint8Array | undefined>;
  listLists(page: { limit?: number; offset?: number }, now: Date): Promise<Page<ListSummary>>;
  /** Lists whose expiry falls in [from, to), soonest first. */
  expiringLists(from: Date, to: Date, now: Date): Promise<ListSummary[]>;
  searchImages(query: ImageQuery, now: Date): Promise<Page<ImageItem>>;
  getImage(identifier: string, now: Date): Promise<ImageDetail | undefined>;
  listEndorsers(page: { limit?: number; offset?: number }): Promise<Page<EndorserSummary>>;
  /** @internal The SQLite query plan of a search (`EXPLAIN QUERY PLAN` details), for tests. */
  explainImageSearch(query: ImageQuery, now: Date): Promise<string[]>;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** limit clamped to 1 … MAX_PAGE_SIZE (default DEFAULT_PAGE_SIZE); offset ≥ 0. */
export function clampPage(page: { limit?: number; offset?: number }): { limit: number; offset: number } {
  const limit = Number.isFinite(page.limit) ? Math.trunc(page.limit as number) : DEFAULT_PAGE_SIZE;
  const offset = Number.isFinite(page.offset) ? Math.trunc(page.offset as number) : 0;
  return { limit: Math.min(MAX_PAGE_SIZE, Math.max(1, limit)), offset: Math.max(0, offset) };
}

function migrations(dialect: DialectName): Record<string, Migration> {
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    '0001_marketplace': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('marketplace_list')
          .addColumn('identifier', 'text', (c) => c.primaryKey())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('uri', 'text', (c) => c.notNull())
          .addColumn('vo', 'text')
          .addColumn('created_ms', 'bigint', (c) => c.notNull())
          .addColumn('expires_ms', 'bigint', (c) => c.notNull())
          .addColumn('endorser_dn', 'text', (c) => c.notNull())
          .addColumn('endorser_ca', 'text', (c) => c.notNull())
          .addColumn('endorser_email', 'text', (c) => c.notNull())
          .addColumn('image_count', 'integer', (c) => c.notNull())
          .addColumn('sha512', 'text', (c) => c.notNull())
          .addColumn('data', bytes, (c) => c.notNull())
          .addColumn('uploaded_ms', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('marketplace_list_expires')
          .on('marketplace_list')
          .column('expires_ms')
          .execute();
        await db.schema
          .createIndex('marketplace_list_endorser')
          .on('marketplace_list')
          .columns(['endorser_dn', 'endorser_ca', 'endorser_email'])
          .execute();
        await db.schema
          .createTable('marketplace_list_version')
          .addColumn('list_identifier', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('created_ms', 'bigint', (c) => c.notNull())
          .addColumn('expires_ms', 'bigint', (c) => c.notNull())
          .addColumn('sha512', 'text', (c) => c.notNull())
          .addColumn('image_count', 'integer', (c) => c.notNull())
          .addColumn('uploaded_ms', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('marketplace_list_version_pk', ['list_identifier', 'version'])
          .execute();
        await db.schema
          .createTable('marketplace_image')
          .addColumn('image_identifier', 'text', (c) => c.notNull())
          .addColumn('list_identifier', 'text', (c) => c.notNull())
          .addColumn('list_version', 'text', (c) => c.notNull())
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('os', 'text', (c) => c.notNull())
          .addColumn('osversion', 'text', (c) => c.notNull())
          .addColumn('arch', 'text', (c) => c.notNull())
          .addColumn('hypervisor', 'text', (c) => c.notNull())
          .addColumn('format', 'text')
          .addColumn('size', 'bigint')
          .addColumn('sha512', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('locations', 'text', (c) => c.notNull())
          .addColumn('deprecated', 'text')
          .addColumn('vo', 'text')
          .addColumn('endorser_dn', 'text', (c) => c.notNull())
          .addColumn('endorser_ca', 'text', (c) => c.notNull())
          .addColumn('endorser_email', 'text', (c) => c.notNull())
          .addColumn('created_ms', 'bigint', (c) => c.notNull())
          .addColumn('expires_ms', 'bigint', (c) => c.notNull())
          .addColumn('entry', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('marketplace_image_pk', ['image_identifier', 'list_identifier'])
          .execute();
        // One index per filter and sort key; case-insensitive filters use expression indexes on lower().
        const image = (name: string) =>
          db.schema.createIndex(`marketplace_image_${name}`).on('marketplace_image');
        await image('list').column('list_identifier').execute();
        for (const col of [
          'os',
          'osversion',
          'arch',
          'hypervisor',
          'format',
          'vo',
          'endorser_email',
          'title',
        ]) {
          await image(`${col}_lc`)
            .expression(sql`lower(${sql.ref(col)})`)
            .execute();
        }
        await image('endorser_dn').column('endorser_dn').execute();
        await image('sha512').column('sha512').execute();
        await image('created').column('created_ms').execute();
        await image('expires').columns(['expires_ms', 'deprecated']).execute();
        await image('os_sort').expression(sql`lower(os), lower(osversion)`).execute();
        await db.schema
          .createTable('marketplace_image_history')
          .addColumn('image_identifier', 'text', (c) => c.notNull())
          .addColumn('list_identifier', 'text', (c) => c.notNull())
          .addColumn('list_version', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('sha512', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint')
          .addColumn('deprecated', 'text')
          .addColumn('created_ms', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('marketplace_image_history_pk', [
            'image_identifier',
            'list_identifier',
            'list_version',
          ])
          .execute();
      },
    },
  };
}

const num = (v: number | string | null): number => Number(v);
// The image list date form (YYYY-MM-DDTHH:MM:SSZ): list dates have no fractions of a second.
const iso = (ms: number | string): string => new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');

function imageStatus(
  row: { expires_ms: number | string; deprecated: string | null },
  nowMs: number,
): ImageStatus {
  if (num(row.expires_ms) <= nowMs) return 'expired';
  return row.deprecated === null ? 'valid' : 'deprecated';
}

function parseLocations(text: string): string[] {
  try {
    const v = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function toImageItem(row: ImageTable, nowMs: number): ImageItem {
  return {
    identifier: row.image_identifier,
    title: row.title,
    description: row.description,
    os: row.os,
    osversion: row.osversion,
    arch: row.arch,
    hypervisor: row.hypervisor,
    format: row.format,
    size: row.size === null ? null : num(row.size),
    sha512: row.sha512,
    version: row.version,
    locations: parseLocations(row.locations),
    endorser: { dn: row.endorser_dn, ca: row.endorser_ca, email: row.endorser_email },
    list: { identifier: row.list_identifier, version: row.list_version },
    vo: row.vo,
    created: iso(row.created_ms),
    expires: iso(row.expires_ms),
    status: imageStatus(row, nowMs),
    deprecated: row.deprecated,
  };
}

type ListRow = Omit<ListTable, 'data'>;

function toListSummary(row: ListRow, nowMs: number): ListSummary {
  return {
    identifier: row.identifier,
    version: row.version,
    title: row.title,
    description: row.description,
    uri: row.uri,
    vo: row.vo,
    endorser: { dn: row.endorser_dn, ca: row.endorser_ca, email: row.endorser_email },
    created: iso(row.created_ms),
    expires: iso(row.expires_ms),
    status: num(row.expires_ms) <= nowMs ? 'expired' : 'valid',
    images: num(row.image_count),
    sha512: row.sha512,
    uploaded: iso(row.uploaded_ms),
  };
}

const LIST_COLUMNS = [
  'identifier',
  'version',
  'title',
  'description',
  'uri',
  'vo',
  'created_ms',
  'expires_ms',
  'endorser_dn',
  'endorser_ca',
  'endorser_email',
  'image_count',
  'sha512',
  'uploaded_ms',
] as const;

/** `text` for a LIKE pattern with `\` as the escape character. */
function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** An e-mail address, not a DN: DNs always contain `=`. */
const isDn = (v: string) => v.includes('=');

function filtered(
  db: Db,
  query: ImageQuery,
  nowMs: number,
): SelectQueryBuilder<MarketplaceDatabase, 'marketplace_image', object> {
  let qb = db.selectFrom('marketplace_image');
  const ci = (
    col: 'os' | 'osversion' | 'arch' | 'hypervisor' | 'format' | 'vo' | 'endorser_email',
    v: string,
  ) => {
    qb = qb.where((eb: ExpressionBuilder<MarketplaceDatabase, 'marketplace_image'>) =>
      eb(eb.fn('lower', [eb.ref(col)]), '=', eb.fn('lower', [eb.val(v)])),
    );
  };
  if (query.os) ci('os', query.os);
  if (query.osversion) ci('osversion', query.osversion);
  if (query.arch) ci('arch', query.arch);
  if (query.hypervisor) ci('hypervisor', query.hypervisor);
  if (query.format) ci('format', query.format);
  if (query.vo) ci('vo', query.vo);
  if (query.endorser) {
    if (isDn(query.endorser)) qb = qb.where('endorser_dn', '=', canonicalDn(query.endorser));
    else ci('endorser_email', query.endorser.trim());
  }
  if (query.sha512) qb = qb.where('sha512', '=', query.sha512.trim().toLowerCase());
  if (query.q) {
    const pattern = likeContains(query.q);
    qb = qb.where((eb) =>
      eb.or([
        sql<boolean>`lower(${eb.ref('title')}) like lower(${pattern}) escape '\\'`,
        sql<boolean>`lower(${eb.ref('description')}) like lower(${pattern}) escape '\\'`,
      ]),
    );
  }
  switch (query.status ?? 'valid') {
    case 'valid':
      qb = qb.where('expires_ms', '>', nowMs).where('deprecated', 'is', null);
      break;
    case 'expired':
      qb = qb.where('expires_ms', '<=', nowMs);
      break;
    case 'deprecated':
      qb = qb.where('expires_ms', '>', nowMs).where('deprecated', 'is not', null);
      break;
    case 'all':
      break;
  }
  return qb;
}

function sorted(
  qb: SelectQueryBuilder<MarketplaceDatabase, 'marketplace_image', ImageTable>,
  query: ImageQuery,
): SelectQueryBuilder<MarketplaceDatabase, 'marketplace_image', ImageTable> {
  const sort = query.sort ?? 'created';
  const order = query.order ?? (sort === 'created' ? 'desc' : 'asc');
  // Text sorts ignore case (users type and read "linux" and "Linux" as one), on the lower() indexes.
  if (sort === 'created') qb = qb.orderBy('created_ms', order);
  else if (sort === 'title') qb = qb.orderBy(sql`lower(title)`, order);
  else qb = qb.orderBy(sql`lower(os)`, order).orderBy(sql`lower(osversion)`, order);
  // A total order, so that pages never overlap or skip rows.
  return qb.orderBy('image_identifier', 'asc').orderBy('list_identifier', 'asc');
}

function createRepository(ctx: StoreExtensionContext): MarketplaceRepository {
  const db = ctx.db as Db;
  const postgres = ctx.dialect === 'postgres';

  async function factsIn(trx: Db | Transaction<MarketplaceDatabase>, identifier: string, lock: boolean) {
    const row = await trx
      .selectFrom('marketplace_list')
      .select(['version', 'created_ms', 'expires_ms', 'sha512', 'endorser_dn'])
      .where('identifier', '=', identifier)
      .$if(lock && postgres, (q) => q.forUpdate())
      .executeTakeFirst();
    return row
      ? {
          identifier,
          version: row.version,
          created: new Date(num(row.created_ms)),
          expires: new Date(num(row.expires_ms)),
          dataHash: row.sha512,
          endorser: row.endorser_dn,
        }
      : undefined;
  }

  return {
    async saveList({ record, data, sha512, decide }) {
      const uploaded = ctx.now().getTime();
      try {
        await ctx.transaction(async (t) => {
          const trx = t as Transaction<MarketplaceDatabase>;
          const decision = decide(await factsIn(trx, record.identifier, true));
          if (decision.kind === 'refuse') {
            throw new MarketplaceError(decision.code, decision.message, { list: record.identifier });
          }
          const e = record.endorser;
          const listRow = {
            version: record.version,
            title: record.title,
            description: record.description,
            uri: record.uri,
            vo: record.vo,
            created_ms: record.created.getTime(),
            expires_ms: record.expires.getTime(),
            endorser_dn: e.dn,
            endorser_ca: e.ca,
            endorser_email: e.email,
            image_count: record.images.length,
            sha512,
            data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
            uploaded_ms: uploaded,
          };
          await trx
            .insertInto('marketplace_list')
            .values({ identifier: record.identifier, ...listRow })
            .onConflict((oc) => oc.column('identifier').doUpdateSet(listRow))
            .execute();
          await trx
            .insertInto('marketplace_list_version')
            .values({
              list_identifier: record.identifier,
              version: record.version,
              created_ms: record.created.getTime(),
              expires_ms: record.expires.getTime(),
              sha512,
              image_count: record.images.length,
              uploaded_ms: uploaded,
            })
            .execute();
          await trx
            .deleteFrom('marketplace_image')
            .where('list_identifier', '=', record.identifier)
            .execute();
          for (const img of record.images) {
            await trx
              .insertInto('marketplace_image')
              .values({
                image_identifier: img.identifier,
                list_identifier: record.identifier,
                list_version: record.version,
                title: img.title,
                description: img.description,
                os: img.os,
                osversion: img.osversion,
                arch: img.arch,
                hypervisor: img.hypervisor,
                format: img.format,
                size: img.size,
                sha512: img.sha512,
                version: img.version,
                locations: JSON.stringify(img.locations),
                deprecated: img.deprecated,
                vo: record.vo,
                endorser_dn: e.dn,
                endorser_ca: e.ca,
                endorser_email: e.email,
                created_ms: record.created.getTime(),
                expires_ms: img.expires.getTime(),
                entry: JSON.stringify(img.entry),
              })
              .execute();
            await trx
              .insertInto('marketplace_image_history')
              .values({
                image_identifier: img.identifier,
                list_identifier: record.identifier,
                list_version: record.version,
                version: img.version,
                sha512: img.sha512,
                size: img.size,
                deprecated: img.deprecated,
                created_ms: record.created.getTime(),
              })
              .execute();
          }
        });
      } catch (err) {
        if (err instanceof MarketplaceError) throw err;
        // Two first uploads of the same list at once on PostgreSQL: the loser hits the primary key.
        if ((err as { code?: unknown }).code === '23505') {
          throw new MarketplaceError(
            'ERR_MARKET_NOT_NEWER',
            `list '${record.identifier}' version '${record.version}' was stored by a concurrent upload`,
            { list: record.identifier, cause: err },
          );
        }
        throw err;
      }
    },

    storedListFacts: (identifier) => factsIn(db, identifier, false),

    async getList(identifier, now) {
      const row = await db
        .selectFrom('marketplace_list')
        .select(LIST_COLUMNS)
        .where('identifier', '=', identifier)
        .executeTakeFirst();
      if (!row) return undefined;
      const [versions, images] = await Promise.all([
        db
          .selectFrom('marketplace_list_version')
          .selectAll()
          .where('list_identifier', '=', identifier)
          .orderBy('created_ms', 'desc')
          .orderBy('uploaded_ms', 'desc')
          .execute(),
        db
          .selectFrom('marketplace_image')
          .select('image_identifier')
          .where('list_identifier', '=', identifier)
          .orderBy('image_identifier')
          .execute(),
      ]);
      return {
        ...toListSummary(row, now.getTime()),
        imageIdentifiers: images.map((i) => i.image_identifier),
        versions: versions.map((v) => ({
          version: v.version,
          created: iso(v.created_ms),
          expires: iso(v.expires_ms),
          sha512: v.sha512,
          images: num(v.image_count),
          uploaded: iso(v.uploaded_ms),
        })),
      };
    },

    async getListData(identifier) {
      const row = await db
        .selectFrom('marketplace_list')
        .select('data')
        .where('identifier', '=', identifier)
        .executeTakeFirst();
      return row ? new Uint8Array(row.data) : undefined;
    },

    async listLists(page, now) {
      const { limit, offset } = clampPage(page);
      const [count, rows] = await Promise.all([
        db
          .selectFrom('marketplace_list')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .executeTakeFirstOrThrow(),
        db
          .selectFrom('marketplace_list')
          .select(LIST_COLUMNS)
          .orderBy('identifier')
          .limit(limit)
          .offset(offset)
          .execute(),
      ]);
      return { total: num(count.n), items: rows.map((r) => toListSummary(r, now.getTime())) };
    },

    async expiringLists(from, to, now) {
      const rows = await db
        .selectFrom('marketplace_list')
        .select(LIST_COLUMNS)
        .where('expires_ms', '>=', from.getTime())
        .where('expires_ms', '<', to.getTime())
        .orderBy('expires_ms')
        .orderBy('identifier')
        .execute();
      return rows.map((r) => toListSummary(r, now.getTime()));
    },

    async searchImages(query, now) {
      const nowMs = now.getTime();
      const { limit, offset } = clampPage(query);
      const [count, rows] = await Promise.all([
        filtered(db, query, nowMs)
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .executeTakeFirstOrThrow(),
        sorted(filtered(db, query, nowMs).selectAll(), query)
          .limit(limit)
          .offset(offset)
          .execute(),
      ]);
      return { total: num(count.n), items: rows.map((r) => toImageItem(r, nowMs)) };
    },

    async getImage(identifier, now) {
      const nowMs = now.getTime();
      const rows = await db
        .selectFrom('marketplace_image')
        .selectAll()
        .where('image_identifier', '=', identifier)
        .orderBy('created_ms', 'desc')
        .orderBy('list_identifier')
        .execute();
      if (rows.length === 0) return undefined;
      const rank = { valid: 0, deprecated: 1, expired: 2 } as const;
      const items = rows.map((r) => ({ row: r, item: toImageItem(r, nowMs) }));
      // The entry shown is the one from a valid list if any, newest first (sort is stable).
      items.sort((a, b) => rank[a.item.status] - rank[b.item.status]);
      const history = await db
        .selectFrom('marketplace_image_history')
        .selectAll()
        .where('image_identifier', '=', identifier)
        .orderBy('created_ms', 'desc')
        .orderBy('list_identifier')
        .execute();
      let entry: Record<string, unknown> = {};
      try {
        entry = JSON.parse(items[0].row.entry);
      } catch {
        entry = {};
      }
      return {
        ...items[0].item,
        entry,
        lists: items.map((i) => i.item),
        history: history.map((h) => ({
          list: { identifier: h.list_identifier, version: h.list_version },
          version: h.version,
          sha512: h.sha512,
          size: h.size === null ? null : num(h.size),
          deprecated: h.deprecated,
          created: iso(h.created_ms),
        })),
      };
    },

    async listEndorsers(page) {
      const { limit, offset } = clampPage(page);
      const grouped = db
        .selectFrom('marketplace_list')
        .select((eb) => [
          'endorser_dn',
          'endorser_ca',
          'endorser_email',
          eb.fn.countAll<number | string>().as('lists'),
          eb.fn.sum<number | string>('image_count').as('images'),
        ])
        .groupBy(['endorser_dn', 'endorser_ca', 'endorser_email']);
      const [count, rows] = await Promise.all([
        db
          .selectFrom(grouped.as('g'))
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .executeTakeFirstOrThrow(),
        grouped
          .orderBy('endorser_email')
          .orderBy('endorser_dn')
          .orderBy('endorser_ca')
          .limit(limit)
          .offset(offset)
          .execute(),
      ]);
      return {
        total: num(count.n),
        items: rows.map((r) => ({
          dn: r.endorser_dn,
          ca: r.endorser_ca,
          email: r.endorser_email,
          lists: num(r.lists),
          images: num(r.images),
        })),
      };
    },

    async explainImageSearch(query, now) {
      const nowMs = now.getTime();
      const { limit, offset } = clampPage(query);
      const compiled = sorted(filtered(db, query, nowMs).selectAll(), query)
        .limit(limit)
        .offset(offset)
        .compile();
      // PostgreSQL plans a parameterised statement only with EXPLAIN (GENERIC_PLAN), new in version 16.
      if (postgres) throw new MarketplaceError('ERR_MARKET_INTERNAL', 'query plans are shown on SQLite only');
      const r = await db.executeQuery<{ detail?: unknown }>(
        CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]),
      );
      return r.rows.map((row) => String(row.detail));
    },
  };
}

/** The marketplace's tables. `openStore(url, { extensions: [marketplaceExtension] })`, then `store.extension(marketplaceExtension)`. */
export const marketplaceExtension: StoreExtension<MarketplaceRepository> = {
  name: 'marketplace',
  migrations,
  repository: createRepository,
};
