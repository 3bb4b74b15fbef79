// vmcatcher 0.6 (and older, with fewer columns) into the store, through the subscriber repository. Principals
// belong to the endorser their `endorser` column names; the originals' joins on row ids (§6.8) are not repeated.
// Image definitions and instances keep the original's identifiers, sha512, size, latest list and cache flag, so
// that the original cache directories and their cache.index stay valid.
import type { Principal, TrustAnchorMode, UpdateMode } from '../api.js';
import { canonicalDn } from '../dn.js';
import { StoreError } from '../errors.js';
import type { SubscriberInternals } from '../subscriber/index.js';
import { toBytes } from '../util.js';
import { checkToolSchema } from './schema.js';
import type { LegacySource, Row } from './source.js';
import { bool, decodeStoredList, legacyTime, num, str, unwrap } from './values.js';

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

/** Stored lists read at a time. */
const LIST_BATCH = 50;

const TRUST: Record<string, TrustAnchorMode> = { '0': 'none', '1': 'browser', '2': 'igtf' };

const date = (iso: string | null): Date | undefined => (iso === null ? undefined : new Date(iso));

/** Refuses a source the importer cannot read, naming what is missing. */
export function requireSchema(source: LegacySource, tool: 'vmcatcher' | 'vmcaster'): void {
  const { problems } = checkToolSchema(tool, source.tables);
  if (problems.length) {
    throw new StoreError(
      'ERR_STORE_LEGACY',
      `${source.url} is not a ${tool} database this version can read: ${problems.join('; ')}`,
      {
        url: source.url,
      },
    );
  }
}

export async function importVmcatcher(
  src: LegacySource,
  s: SubscriberInternals,
  options: { replace?: boolean } = {},
): Promise<LegacyVmcatcherImportResult> {
  requireSchema(src, 'vmcatcher');
  const read = async (t: string) => (await src.read(t)) ?? [];
  const endorsers = await read('endorser');
  const principals = await read('endorserPrincible');
  const subscriptions = await read('subscription');
  const auths = await read('subscriptionAuth');
  const defs = await read('ImageDefinition');
  // Stored lists are big and an original database keeps every one it ever imported: only their ids and links
  // are read at once; the rows themselves in batches below.
  const lists = await src.readColumns('imageListInstance', ['id', 'sub_auth']);
  const instances = await read('ImageInstance');
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
  if (options.replace) await s.clearAll();

  // Principals by the endorser their column names; one canonical subject once.
  const endorserRows = new Set(endorsers.map((e) => num(e.id)));
  const principalsOf = new Map<number, Principal[]>();
  const subjects = new Set<string>();
  for (const p of principals) {
    const legacyEndorser = num(p.endorser);
    if (legacyEndorser === undefined || !endorserRows.has(legacyEndorser)) {
      warnings.push(
        `principal ${p.id} '${str(p.hv_dn)}' names no existing endorser (${str(p.endorser)}); skipped`,
      );
      continue;
    }
    const principal = { subject: canonicalDn(str(p.hv_dn)), issuer: canonicalDn(str(p.hv_ca)) };
    if (subjects.has(principal.subject)) {
      warnings.push(`principal ${p.id} '${str(p.hv_dn)}' is the same DN as an earlier principal; skipped`);
      continue;
    }
    subjects.add(principal.subject);
    const list = principalsOf.get(legacyEndorser) ?? [];
    list.push(principal);
    principalsOf.set(legacyEndorser, list);
  }
  const endorserIds = new Map<number, number>();
  for (const e of endorsers) {
    const own = principalsOf.get(Number(e.id)) ?? [];
    endorserIds.set(Number(e.id), await s.insertEndorser(str(e.identifier), own));
    result.endorsers++;
    result.principals += own.length;
  }

  const subIds = new Map<number, number>();
  const latestOf = new Map<number, number>();
  for (const row of subscriptions) {
    const mode = num(row.updatemode) ?? 0;
    const username =
      row.username === null || row.username === undefined || row.username === ''
        ? undefined
        : str(row.username);
    const password =
      row.password === null || row.password === undefined || row.password === ''
        ? undefined
        : str(row.password);
    const sid = await s.insertSubscription({
      identifier: str(row.identifier),
      description: str(row.description),
      uri: str(row.uri),
      // Before `authorised` existed every subscription was used.
      authorised: row.authorised === undefined ? true : bool(row.authorised),
      trustAnchor: TRUST[String(num(row.trustanchor) ?? 0)] ?? 'none',
      updateMode: (mode === 1 || mode === 3 ? mode : 0) as UpdateMode,
      updated: date(legacyTime(row.updated)),
      credentials: username === undefined && password === undefined ? undefined : { username, password },
    });
    subIds.set(Number(row.id), sid);
    const latest = num(row.imagelist_latest);
    if (latest) latestOf.set(sid, latest);
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
    const authorised = a.authorised === undefined ? true : bool(a.authorised);
    if ((await s.putLink(eid, sid, authorised)) === 'created') result.links++;
  }

  const defIds = new Map<number, number>();
  const defSub = new Map<number, number>();
  const defIdentifier = new Map<number, string>();
  const defLatest = new Map<number, number>();
  for (const d of defs) {
    const sid = subIds.get(num(d.subscription) ?? -1);
    if (sid === undefined) {
      warnings.push(`ImageDefinition ${d.id} '${str(d.identifier)}' names no existing subscription; skipped`);
      continue;
    }
    const identifier = str(d.identifier);
    const ids = await s.insertDefinitions(sid, [{ identifier, cache: bool(d.cache) }]);
    const id = ids.get(identifier)!;
    defIds.set(Number(d.id), id);
    defSub.set(id, sid);
    defIdentifier.set(id, identifier);
    const latest = num(d.latest);
    if (latest) defLatest.set(id, latest);
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

  const instancesOf = new Map<number, Row[]>();
  for (const i of instances) {
    const lid = num(i.fkimagelistinstance) ?? -1;
    const list = instancesOf.get(lid) ?? [];
    list.push(i);
    instancesOf.set(lid, list);
  }
  const listIds = new Map<number, number>();
  const instanceIds = new Map<number, number>();
  for await (const batch of src.readBatches('imageListInstance', LIST_BATCH)) {
    for (const l of batch) {
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
      const metadata: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(list ?? {})) if (k !== 'hv:images') metadata[k] = v;
      const a = authInfo.get(num(l.sub_auth) ?? -1);
      const legacyPrincipals = a?.endorser === undefined ? undefined : principalsOf.get(a.endorser);
      const x509 = ((list?.['hv:endorser'] as Record<string, unknown> | undefined)?.['hv:x509'] ??
        {}) as Record<string, unknown>;
      const listDn = canonicalDn(str(x509['hv:dn']));
      const signer = legacyPrincipals?.find((p) => p.subject === listDn) ??
        legacyPrincipals?.[0] ?? { subject: listDn, issuer: canonicalDn(str(x509['hv:ca'])) };
      if (!signer.subject) warnings.push(`imageListInstance ${l.id}: signer unknown`);
      const imported = legacyTime(l.imported) ?? new Date(0).toISOString();
      const lid = await s.insertImageList({
        subscriptionRowId: sid,
        data,
        dataHash: str(l.data_hash),
        imported: new Date(imported),
        created: new Date(legacyTime(l.created) ?? imported),
        expires: new Date(legacyTime(l.expires) ?? imported),
        version: str(l.version),
        expired: date(legacyTime(l.expired)),
        signer,
        metadata,
      });
      listIds.set(Number(l.id), lid);
      result.imageLists++;

      // This list's image instances, while its decoded content is at hand.
      for (const i of instancesOf.get(Number(l.id)) ?? []) {
        const did = defIds.get(num(i.fkidentifier) ?? -1);
        if (did === undefined) continue;
        const identifier = defIdentifier.get(did)!;
        const image = publishedImage(list, identifier) ?? fallbackImage(identifier, i);
        const [row] = await s.insertInstances([
          {
            definitionId: did,
            imageListId: lid,
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
            format: typeof image['hv:format'] === 'string' ? (image['hv:format'] as string) : null,
            image,
          },
        ]);
        instanceIds.set(Number(i.id), row.id);
        result.imageInstances++;
      }
    }
  }
  for (const i of instances) {
    if (!instanceIds.has(Number(i.id)))
      warnings.push(`ImageInstance ${i.id} names no existing image definition or list; skipped`);
  }
  const pointers: [number, number][] = [];
  for (const [did, legacy] of defLatest) {
    const iid = instanceIds.get(legacy);
    if (iid !== undefined) pointers.push([did, iid]);
  }
  await s.setLatestInstances(pointers);
  for (const [sid, legacy] of latestOf) {
    const lid = listIds.get(legacy);
    if (lid !== undefined) await s.setLatestList(sid, lid);
    else warnings.push(`subscription ${sid}: latest list ${legacy} not found`);
  }
  return result;
}

/** The image's full published object from its decoded list (it holds hv:format, ad:mpuri, … the rows do not). */
function publishedImage(list: Record<string, unknown> | undefined, identifier: string) {
  const images = (list?.['hv:images'] ?? []) as { 'hv:image'?: Record<string, unknown> }[];
  return Array.isArray(images)
    ? images.map((x) => x?.['hv:image']).find((x) => x?.['dc:identifier'] === identifier)
    : undefined;
}

function fallbackImage(identifier: string, i: Row): Record<string, unknown> {
  return {
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
}
