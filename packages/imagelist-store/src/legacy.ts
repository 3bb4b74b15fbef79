// Migration from the original tools' databases (vmcatcher 0.6, vmcaster 0.0.x; reference §3.9 and §4.4) into
// a store, in one transaction: a failure leaves the target as it was. The source is only read.
import { existsSync } from 'node:fs';
import type { Kysely, Transaction } from 'kysely';
import type { Store } from './api.js';
import { conflict, StoreError } from './errors.js';
import { encodeMetadata } from './publisher.js';
import type { AnyTransaction, Database } from './schema.js';
import { parseStoreUrl } from './url.js';
import { chunks, toBytes } from './util.js';

export interface LegacyVmcatcherImportResult {
  endorsers: number;
  principals: number;
  subscriptions: number;
  links: number;
  imageLists: number;
  imageDefinitions: number;
  imageInstances: number;
  /** Rows skipped (orphans of the originals' unenforced foreign keys) and other oddities, one line each. */
  warnings: string[];
}

export interface LegacyVmcasterImportResult {
  endorsers: number;
  imageLists: number;
  images: number;
  metadata: number;
  bindings: number;
  warnings: string[];
}

type Row = Record<string, unknown>;

interface LegacySource {
  /** Lower-cased table name → rows with lower-cased column names. */
  read(table: string): Promise<Row[] | undefined>;
  close(): Promise<void>;
}

function lowerKeys(r: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) out[k.toLowerCase()] = v;
  return out;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function openSource(fromUrl: string): Promise<LegacySource> {
  let parsed: ReturnType<typeof parseStoreUrl>;
  try {
    parsed = parseStoreUrl(fromUrl);
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_LEGACY',
      (cause as Error).message,
      { url: (cause as StoreError).url },
      { cause },
    );
  }
  const shown = parsed.url;
  const fail = (message: string, cause?: unknown) =>
    new StoreError(
      'ERR_STORE_LEGACY',
      `cannot read legacy database ${shown}: ${message}`,
      { url: shown },
      { cause },
    );
  if (parsed.dialect === 'sqlite') {
    if (parsed.path === ':memory:' || !existsSync(parsed.path)) throw fail('the file does not exist');
    let db: {
      prepare(sql: string): { all(...a: unknown[]): unknown[] };
      close(): void;
    };
    try {
      const mod = (await import('libsql')) as unknown as { default?: new (p: string) => typeof db };
      const Ctor = (mod.default ?? mod) as unknown as new (p: string) => typeof db;
      db = new Ctor(parsed.path);
    } catch (cause) {
      throw fail((cause as Error).message, cause);
    }
    let names: Map<string, string>;
    try {
      names = new Map(
        (db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map(
          (r) => [r.name.toLowerCase(), r.name],
        ),
      );
    } catch (cause) {
      db.close();
      throw fail(`not an SQLite database (${(cause as Error).message})`, cause);
    }
    return {
      async read(table) {
        const name = names.get(table.toLowerCase());
        if (!name) return undefined;
        return (db.prepare(`select * from ${quoteIdent(name)} order by 1`).all() as Row[]).map(lowerKeys);
      },
      async close() {
        db.close();
      },
    };
  }
  const pgmod = (await import('pg')) as typeof import('pg') & { default?: typeof import('pg') };
  const pg = pgmod.default ?? pgmod;
  // Timestamps as their text: SQLAlchemy wrote naive UTC, which pg would otherwise read as local time.
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === 1114 || oid === 1184
        ? (v: string) => v
        : pg.types.getTypeParser(oid, (format ?? 'text') as 'text'),
  };
  const client = new pg.Client({ connectionString: parsed.connectionString, types: types as never });
  try {
    await client.connect();
  } catch (cause) {
    throw fail((cause as Error).message, cause);
  }
  const tables = await client.query<{ table_name: string }>(
    'select table_name from information_schema.tables where table_schema = current_schema()',
  );
  const names = new Map(tables.rows.map((r) => [r.table_name.toLowerCase(), r.table_name]));
  return {
    async read(table) {
      const name = names.get(table.toLowerCase());
      if (!name) return undefined;
      return (await client.query(`select * from ${quoteIdent(name)} order by 1`)).rows.map(lowerKeys);
    },
    async close() {
      await client.end();
    },
  };
}

/** SQLAlchemy's naive-UTC DATETIME text (`2014-03-01 12:00:00.123456`) as UTC ISO text. */
function legacyTime(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') return new Date(v).toISOString();
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    String(v).trim(),
  );
  if (!m) {
    const d = new Date(String(v));
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }
  const secs = m[2].length === 5 ? `${m[2]}:00` : m[2];
  const frac = (m[3] ?? '.000').slice(0, 4).padEnd(4, '0');
  return new Date(`${m[1]}T${secs}${frac}${m[4] ?? 'Z'}`).toISOString();
}

function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't' || v === 'true';
}

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return String(v);
}

function num(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * The signed content of a stored S/MIME message, decoded as JSON (not verified: it was verified when it was
 * fetched). Returns undefined when it cannot be found.
 */
export function decodeStoredList(data: Uint8Array): Record<string, unknown> | undefined {
  const text = Buffer.from(data).toString('utf8');
  const tryParse = (s: string) => {
    try {
      const v = JSON.parse(s) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v)
        ? (v as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  const direct = tryParse(text);
  if (direct) return direct;
  const b = /boundary="?([^";\r\n]+)"?/i.exec(text);
  if (b) {
    const parts = text.split(`--${b[1]}`);
    if (parts.length > 2) {
      const part = parts[1];
      const sep = /\r?\n\r?\n/.exec(part);
      const body = sep ? part.slice(sep.index + sep[0].length) : part;
      const parsed = tryParse(body) ?? tryParse(part);
      if (parsed) return parsed;
    }
  }
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  return start >= 0 && end > start ? tryParse(text.slice(start, end + 1)) : undefined;
}

function unwrap(doc: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!doc) return undefined;
  const inner = doc['hv:imagelist'];
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner)
    ? (inner as Record<string, unknown>)
    : doc;
}

const TRUST: Record<string, string> = { '0': 'none', '1': 'browser', '2': 'igtf' };

async function required(src: LegacySource, table: string, url: string, tool: string): Promise<Row[]> {
  const rows = await src.read(table);
  if (!rows) {
    throw new StoreError(
      'ERR_STORE_LEGACY',
      `${url} is not a ${tool} database: table '${table}' is missing`,
      { url },
    );
  }
  return rows;
}

function storeDb(store: Store): Kysely<Database> {
  return store.db as unknown as Kysely<Database>;
}

/**
 * Reads a database made by vmcatcher 0.6 (or older, with fewer columns) and adds its endorsers, principals,
 * subscriptions (credentials kept apart), links, stored lists, image definitions and instances to `toStore`.
 * Principals belong to the endorser their `endorser` column names; the originals' joins on row ids (§6.8) are
 * not repeated.
 */
export async function importLegacyVmcatcherDb(
  fromUrl: string,
  toStore: Store,
): Promise<LegacyVmcatcherImportResult> {
  const src = await openSource(fromUrl);
  const url = parseStoreUrl(fromUrl).url;
  try {
    const endorsers = await required(src, 'endorser', url, 'vmcatcher');
    const principals = await required(src, 'endorserPrincible', url, 'vmcatcher');
    const subscriptions = await required(src, 'subscription', url, 'vmcatcher');
    const auths = (await src.read('subscriptionAuth')) ?? [];
    const defs = (await src.read('ImageDefinition')) ?? [];
    const lists = (await src.read('imageListInstance')) ?? [];
    const instances = (await src.read('ImageInstance')) ?? [];
    const warnings: string[] = [];
    const result: LegacyVmcatcherImportResult = {
      endorsers: 0,
      principals: 0,
      subscriptions: 0,
      links: 0,
      imageLists: 0,
      imageDefinitions: 0,
      imageInstances: 0,
      warnings,
    };

    await storeDb(toStore)
      .transaction()
      .execute(async (trx) => {
        const endorserIds = new Map<number, number>();
        for (const e of endorsers) {
          const identifier = str(e.identifier);
          if (
            await trx
              .selectFrom('sub_endorser')
              .select('id')
              .where('identifier', '=', identifier)
              .executeTakeFirst()
          ) {
            throw conflict('endorser', identifier, 'already exists in the target store');
          }
          const row = await trx
            .insertInto('sub_endorser')
            .values({ identifier })
            .returning('id')
            .executeTakeFirstOrThrow();
          endorserIds.set(Number(e.id), Number(row.id));
          result.endorsers++;
        }
        const principalsByEndorser = new Map<number, { subject: string; issuer: string }[]>();
        for (const p of principals) {
          const legacyEndorser = num(p.endorser);
          const eid = legacyEndorser === undefined ? undefined : endorserIds.get(legacyEndorser);
          if (eid === undefined) {
            warnings.push(
              `principal ${p.id} '${str(p.hv_dn)}' names no existing endorser (${str(p.endorser)}); skipped`,
            );
            continue;
          }
          const subject = str(p.hv_dn);
          if (
            await trx
              .selectFrom('sub_principal')
              .select('id')
              .where('subject', '=', subject)
              .executeTakeFirst()
          ) {
            throw conflict('principal', subject, 'already exists in the target store');
          }
          await trx
            .insertInto('sub_principal')
            .values({ endorser_id: eid, subject, issuer: str(p.hv_ca) })
            .execute();
          const list = principalsByEndorser.get(legacyEndorser!) ?? [];
          list.push({ subject, issuer: str(p.hv_ca) });
          principalsByEndorser.set(legacyEndorser!, list);
          result.principals++;
        }

        const subIds = new Map<number, number>();
        const latestOf = new Map<number, number>();
        for (const s of subscriptions) {
          const identifier = str(s.identifier);
          const uri = str(s.uri);
          const taken = await trx
            .selectFrom('sub_subscription')
            .select('identifier')
            .where((eb) => eb.or([eb('identifier', '=', identifier), eb('uri', '=', uri)]))
            .executeTakeFirst();
          if (taken)
            throw conflict('subscription', identifier, 'or its uri already exists in the target store');
          const mode = num(s.updatemode) ?? 0;
          const row = await trx
            .insertInto('sub_subscription')
            .values({
              identifier,
              description: str(s.description),
              uri,
              authorised: bool(s.authorised) ? 1 : 0,
              trust_anchor: TRUST[String(num(s.trustanchor) ?? 0)] ?? 'none',
              update_mode: mode === 1 || mode === 3 ? mode : 0,
              updated: legacyTime(s.updated),
              latest_list_id: null,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          subIds.set(Number(s.id), Number(row.id));
          const latest = num(s.imagelist_latest);
          if (latest) latestOf.set(Number(row.id), latest);
          const username =
            s.username === null || s.username === undefined || s.username === '' ? null : str(s.username);
          const password =
            s.password === null || s.password === undefined || s.password === '' ? null : str(s.password);
          if (username !== null || password !== null) {
            await trx
              .insertInto('sub_credential')
              .values({ subscription_id: Number(row.id), username, password })
              .execute();
          }
          result.subscriptions++;
        }

        const authInfo = new Map<number, { subscription: number; endorser?: number }>();
        for (const a of auths) {
          const sid = subIds.get(num(a.subscription) ?? -1);
          const legacyEndorser = num(a.endorser);
          const eid = endorserIds.get(legacyEndorser ?? -1);
          if (sid === undefined) {
            warnings.push(`subscriptionAuth ${a.id} names no existing subscription; skipped`);
            continue;
          }
          authInfo.set(Number(a.id), { subscription: sid, endorser: legacyEndorser });
          if (eid === undefined) {
            warnings.push(`subscriptionAuth ${a.id} names no existing endorser; link skipped`);
            continue;
          }
          const existing = await trx
            .selectFrom('sub_link')
            .select(['id', 'authorised'])
            .where('endorser_id', '=', eid)
            .where('subscription_id', '=', sid)
            .executeTakeFirst();
          const authorised = bool(a.authorised) ? 1 : 0;
          if (existing) {
            if (authorised && !existing.authorised) {
              await trx
                .updateTable('sub_link')
                .set({ authorised: 1 })
                .where('id', '=', existing.id)
                .execute();
            }
            continue;
          }
          await trx
            .insertInto('sub_link')
            .values({ endorser_id: eid, subscription_id: sid, authorised })
            .execute();
          result.links++;
        }

        const defIds = new Map<number, number>();
        const defSub = new Map<number, number>();
        const defIdentifier = new Map<number, string>();
        const defLatest = new Map<number, number>();
        for (const d of defs) {
          const sid = subIds.get(num(d.subscription) ?? -1);
          if (sid === undefined) {
            warnings.push(
              `ImageDefinition ${d.id} '${str(d.identifier)}' names no existing subscription; skipped`,
            );
            continue;
          }
          const row = await trx
            .insertInto('sub_image_definition')
            .values({
              subscription_id: sid,
              identifier: str(d.identifier),
              cache: bool(d.cache) ? 1 : 0,
              latest_instance_id: null,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          defIds.set(Number(d.id), Number(row.id));
          defSub.set(Number(row.id), sid);
          defIdentifier.set(Number(row.id), str(d.identifier));
          const latest = num(d.latest);
          if (latest) defLatest.set(Number(row.id), latest);
          result.imageDefinitions++;
        }

        // Which subscription a stored list belongs to: its authorising link, else a subscription pointing at it,
        // else the definitions of its image instances.
        const listSub = new Map<number, number>();
        for (const l of lists) {
          const a = authInfo.get(num(l.sub_auth) ?? -1);
          if (a) listSub.set(Number(l.id), a.subscription);
        }
        for (const [sid, legacyList] of latestOf) if (!listSub.has(legacyList)) listSub.set(legacyList, sid);
        for (const i of instances) {
          const lid = num(i.fkimagelistinstance);
          const did = defIds.get(num(i.fkidentifier) ?? -1);
          if (lid !== undefined && did !== undefined && !listSub.has(lid)) listSub.set(lid, defSub.get(did)!);
        }

        const listIds = new Map<number, number>();
        const decoded = new Map<number, Record<string, unknown> | undefined>();
        for (const l of lists) {
          const sid = listSub.get(Number(l.id));
          if (sid === undefined) {
            warnings.push(`imageListInstance ${l.id} belongs to no existing subscription; skipped`);
            continue;
          }
          const data =
            l.data instanceof Uint8Array || l.data instanceof ArrayBuffer
              ? toBytes(l.data)
              : new TextEncoder().encode(str(l.data));
          const list = unwrap(decodeStoredList(data));
          decoded.set(Number(l.id), list);
          const metadata: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(list ?? {})) if (k !== 'hv:images') metadata[k] = v;
          const a = authInfo.get(num(l.sub_auth) ?? -1);
          const legacyPrincipals =
            a?.endorser === undefined ? undefined : principalsByEndorser.get(a.endorser);
          const x509 = ((list?.['hv:endorser'] as Record<string, unknown> | undefined)?.['hv:x509'] ??
            {}) as Record<string, unknown>;
          const signer = legacyPrincipals?.find((p) => p.subject === x509['hv:dn']) ??
            legacyPrincipals?.[0] ?? { subject: str(x509['hv:dn']), issuer: str(x509['hv:ca']) };
          if (!signer.subject) warnings.push(`imageListInstance ${l.id}: signer unknown`);
          const imported = legacyTime(l.imported) ?? new Date(0).toISOString();
          const row = await trx
            .insertInto('sub_imagelist')
            .values({
              subscription_id: sid,
              data,
              data_hash: str(l.data_hash).toLowerCase(),
              imported,
              created: legacyTime(l.created) ?? imported,
              expires: legacyTime(l.expires) ?? imported,
              version: str(l.version),
              expired: legacyTime(l.expired),
              signer_subject: signer.subject,
              signer_issuer: signer.issuer,
              metadata: JSON.stringify(metadata),
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          listIds.set(Number(l.id), Number(row.id));
          result.imageLists++;
        }

        const instanceIds = new Map<number, number>();
        for (const i of instances) {
          const did = defIds.get(num(i.fkidentifier) ?? -1);
          const lid = listIds.get(num(i.fkimagelistinstance) ?? -1);
          if (did === undefined || lid === undefined) {
            warnings.push(`ImageInstance ${i.id} names no existing image definition or list; skipped`);
            continue;
          }
          const identifier = defIdentifier.get(did)!;
          const images = (decoded.get(num(i.fkimagelistinstance)!)?.['hv:images'] ?? []) as {
            'hv:image'?: Record<string, unknown>;
          }[];
          const published = Array.isArray(images)
            ? images.map((x) => x?.['hv:image']).find((x) => x?.['dc:identifier'] === identifier)
            : undefined;
          const image = published ?? {
            'dc:identifier': identifier,
            'dc:title': str(i.title),
            'dc:description': str(i.description),
            'hv:hypervisor': str(i.hypervisor),
            'sl:checksum:sha512': str(i.sha512),
            'hv:uri': str(i.uri),
            'sl:os': str(i.os),
            'sl:osversion': str(i.osversion),
            'sl:arch': str(i.arch),
            'hv:version': str(i.version),
            'hv:size': num(i.size) ?? 0,
            'sl:comments': str(i.comments),
          };
          const format = typeof image['hv:format'] === 'string' ? (image['hv:format'] as string) : null;
          const row = await trx
            .insertInto('sub_image_instance')
            .values({
              definition_id: did,
              imagelist_id: lid,
              identifier,
              title: str(i.title),
              description: str(i.description),
              hypervisor: str(i.hypervisor),
              sha512: str(i.sha512).toLowerCase(),
              uri: str(i.uri),
              os: str(i.os),
              osversion: str(i.osversion),
              arch: str(i.arch),
              version: str(i.version),
              size: num(i.size) ?? 0,
              comments: str(i.comments),
              format,
              image: JSON.stringify(image),
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          instanceIds.set(Number(i.id), Number(row.id));
          result.imageInstances++;
        }
        for (const [did, legacy] of defLatest) {
          const iid = instanceIds.get(legacy);
          if (iid !== undefined)
            await trx
              .updateTable('sub_image_definition')
              .set({ latest_instance_id: iid })
              .where('id', '=', did)
              .execute();
        }
        for (const [sid, legacy] of latestOf) {
          const lid = listIds.get(legacy);
          if (lid !== undefined)
            await trx
              .updateTable('sub_subscription')
              .set({ latest_list_id: lid })
              .where('id', '=', sid)
              .execute();
          else warnings.push(`subscription ${sid}: latest list ${legacy} not found`);
        }
      });
    return result;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(
      'ERR_STORE_LEGACY',
      `importing ${url} failed: ${(err as Error).message}`,
      { url },
      { cause: err },
    );
  } finally {
    await src.close();
  }
}

/**
 * Reads a database made by vmcaster 0.0.x and adds its endorsers, image lists and images with their metadata and
 * bindings to `toStore`. Duplicate metadata keys (the originals never applied their unique constraints) keep the
 * last row written.
 */
export async function importLegacyVmcasterDb(
  fromUrl: string,
  toStore: Store,
): Promise<LegacyVmcasterImportResult> {
  const src = await openSource(fromUrl);
  const url = parseStoreUrl(fromUrl).url;
  try {
    const endorsers = await required(src, 'endorser', url, 'vmcaster');
    const lists = await required(src, 'imagelist', url, 'vmcaster');
    const images = await required(src, 'Image', url, 'vmcaster');
    const endorserMeta = (await src.read('endorserMetadata')) ?? [];
    const listMeta = (await src.read('ImagelistMetadata')) ?? [];
    const imageMeta = (await src.read('ImageMetadata')) ?? [];
    const endorsements = (await src.read('Endorsement')) ?? [];
    const listImages = (await src.read('ImageListImage')) ?? [];
    const warnings: string[] = [];
    const result: LegacyVmcasterImportResult = {
      endorsers: 0,
      imageLists: 0,
      images: 0,
      metadata: 0,
      bindings: 0,
      warnings,
    };

    await storeDb(toStore)
      .transaction()
      .execute(async (trx: Transaction<Database>) => {
        const owners = async (
          rows: Row[],
          table: 'pub_endorser' | 'pub_imagelist' | 'pub_image',
          column: string,
          entity: string,
        ): Promise<Map<number, number>> => {
          const ids = new Map<number, number>();
          for (const r of rows) {
            const key = str(r[column]);
            const col = table === 'pub_endorser' ? 'dn' : 'identifier';
            const exists = await (trx as AnyTransaction)
              .selectFrom(table)
              .select('id')
              .where(col, '=', key)
              .executeTakeFirst();
            if (exists) throw conflict(entity, key, 'already exists in the target store');
            const values: Record<string, unknown> = { [col]: key };
            if (table === 'pub_imagelist') values.updated = legacyTime(r.updated);
            const row = await (trx as AnyTransaction)
              .insertInto(table)
              .values(values)
              .returning('id')
              .executeTakeFirstOrThrow();
            ids.set(Number(r.id), Number(row.id));
          }
          return ids;
        };
        const endorserIds = await owners(endorsers, 'pub_endorser', 'subject', 'endorser');
        const listIds = await owners(lists, 'pub_imagelist', 'identifier', 'image list');
        const imageIds = await owners(images, 'pub_image', 'identifier', 'image');
        result.endorsers = endorserIds.size;
        result.imageLists = listIds.size;
        result.images = imageIds.size;

        const meta = async (
          rows: Row[],
          fk: string,
          ids: Map<number, number>,
          table: 'pub_endorser' | 'pub_imagelist' | 'pub_image',
        ) => {
          const byOwner = new Map<number, Record<string, string>>();
          // In row order, so that of duplicate keys the last one written wins.
          for (const r of [...rows].sort((a, b) => Number(a.id) - Number(b.id))) {
            const owner = ids.get(num(r[fk]) ?? -1);
            if (owner === undefined) {
              warnings.push(
                `${table.replace('pub_', '')} metadata row ${r.id} names no existing owner; skipped`,
              );
              continue;
            }
            if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) continue;
            const m = byOwner.get(owner) ?? {};
            m[str(r.key)] = str(r.value);
            byOwner.set(owner, m);
          }
          for (const [owner, m] of byOwner) {
            await (trx as AnyTransaction)
              .updateTable(table)
              .set({ metadata: encodeMetadata(m) })
              .where('id', '=', owner)
              .execute();
            result.metadata += Object.keys(m).length;
          }
        };
        await meta(endorserMeta, 'fkendorser', endorserIds, 'pub_endorser');
        await meta(listMeta, 'fkimagelist', listIds, 'pub_imagelist');
        await meta(imageMeta, 'fkimage', imageIds, 'pub_image');

        const bind = async (
          rows: Row[],
          fk: string,
          ids: Map<number, number>,
          table: 'pub_imagelist_endorser' | 'pub_imagelist_image',
        ) => {
          const seen = new Set<string>();
          const values: { imagelist_id: number; member_id: number }[] = [];
          for (const r of [...rows].sort((a, b) => Number(a.id) - Number(b.id))) {
            const list = listIds.get(num(r.fkimagelist) ?? -1);
            const member = ids.get(num(r[fk]) ?? -1);
            if (list === undefined || member === undefined) {
              warnings.push(
                `${table.replace('pub_', '')} row ${r.id} names a missing list or member; skipped`,
              );
              continue;
            }
            if (seen.has(`${list} ${member}`)) continue;
            seen.add(`${list} ${member}`);
            values.push({ imagelist_id: list, member_id: member });
          }
          for (const part of chunks(values, 500)) await trx.insertInto(table).values(part).execute();
          result.bindings += values.length;
        };
        await bind(endorsements, 'fkendorser', endorserIds, 'pub_imagelist_endorser');
        await bind(listImages, 'fkimage', imageIds, 'pub_imagelist_image');
      });
    return result;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(
      'ERR_STORE_LEGACY',
      `importing ${url} failed: ${(err as Error).message}`,
      { url },
      { cause: err },
    );
  } finally {
    await src.close();
  }
}
