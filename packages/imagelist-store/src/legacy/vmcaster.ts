// vmcaster 0.0.x into the store, through the publisher repository: endorsers (canonical DNs), image lists and
// images with their key/value metadata and bindings. Of duplicate metadata keys (the original unique
// constraints were never applied) the last row written wins.
import { canonicalDn } from '../dn.js';
import type { BindingTable, OwnerTable, PublisherInternals } from '../publisher.js';
import type { LegacySource, Row } from './source.js';
import { legacyTime, num, str } from './values.js';
import { requireSchema } from './vmcatcher.js';

export interface LegacyVmcasterImportResult {
  endorsers: number;
  imageLists: number;
  images: number;
  metadata: number;
  bindings: number;
  warnings: string[];
}

const byId = (rows: Row[]) => [...rows].sort((a, b) => Number(a.id) - Number(b.id));

export async function importVmcaster(
  src: LegacySource,
  p: PublisherInternals,
  options: { replace?: boolean } = {},
): Promise<LegacyVmcasterImportResult> {
  requireSchema(src, 'vmcaster');
  const read = async (t: string) => (await src.read(t)) ?? [];
  const endorsers = await read('endorser');
  const lists = await read('imagelist');
  const images = await read('Image');
  const endorserMeta = await read('endorserMetadata');
  const listMeta = await read('ImagelistMetadata');
  const imageMeta = await read('ImageMetadata');
  const endorsements = await read('Endorsement');
  const listImages = await read('ImageListImage');
  const warnings: string[] = [];
  const result: LegacyVmcasterImportResult = {
    endorsers: 0,
    imageLists: 0,
    images: 0,
    metadata: 0,
    bindings: 0,
    warnings,
  };
  if (options.replace) await p.clearAll();

  /** Metadata of each owner row: in row order, so that of duplicate keys the last one written wins. */
  const metadataOf = (rows: Row[], fk: string, owners: Set<number>, what: string) => {
    const out = new Map<number, Record<string, string>>();
    for (const r of byId(rows)) {
      const owner = num(r[fk]);
      if (owner === undefined || !owners.has(owner)) {
        warnings.push(`${what} metadata row ${r.id} names no existing owner; skipped`);
        continue;
      }
      if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) continue;
      const m = out.get(owner) ?? {};
      m[str(r.key)] = str(r.value);
      out.set(owner, m);
    }
    return out;
  };

  const owners = async (
    rows: Row[],
    table: OwnerTable,
    keyColumn: string,
    meta: Row[],
    fk: string,
    what: string,
  ): Promise<Map<number, number>> => {
    const metadata = metadataOf(meta, fk, new Set(rows.map((r) => Number(r.id))), what);
    const ids = new Map<number, number>();
    const seen = new Map<string, number>();
    for (const r of byId(rows)) {
      const key = table === 'pub_endorser' ? canonicalDn(str(r[keyColumn])) : str(r[keyColumn]);
      const m = metadata.get(Number(r.id)) ?? {};
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        // Two spellings of one DN: the rows become one endorser.
        warnings.push(
          `${what} ${r.id} '${str(r[keyColumn])}' is the same DN as an earlier one; merged into it`,
        );
        ids.set(Number(r.id), earlier);
        continue;
      }
      const { id } = await p.insertOwner(
        table,
        key,
        m,
        table === 'pub_imagelist' ? dateOf(r.updated) : undefined,
      );
      ids.set(Number(r.id), id);
      seen.set(key, id);
      result.metadata += Object.keys(m).length;
    }
    return ids;
  };
  const endorserIds = await owners(
    endorsers,
    'pub_endorser',
    'subject',
    endorserMeta,
    'fkendorser',
    'endorser',
  );
  const listIds = await owners(lists, 'pub_imagelist', 'identifier', listMeta, 'fkimagelist', 'imagelist');
  const imageIds = await owners(images, 'pub_image', 'identifier', imageMeta, 'fkimage', 'image');
  result.endorsers = new Set(endorserIds.values()).size;
  result.imageLists = listIds.size;
  result.images = imageIds.size;

  const bind = async (rows: Row[], fk: string, ids: Map<number, number>, table: BindingTable) => {
    const seen = new Set<string>();
    const pairs: { imagelist_id: number; member_id: number }[] = [];
    for (const r of byId(rows)) {
      const list = listIds.get(num(r.fkimagelist) ?? -1);
      const member = ids.get(num(r[fk]) ?? -1);
      if (list === undefined || member === undefined) {
        warnings.push(`${table.replace('pub_', '')} row ${r.id} names a missing list or member; skipped`);
        continue;
      }
      if (seen.has(`${list} ${member}`)) continue;
      seen.add(`${list} ${member}`);
      pairs.push({ imagelist_id: list, member_id: member });
    }
    await p.insertBindings(table, pairs);
    result.bindings += pairs.length;
  };
  await bind(endorsements, 'fkendorser', endorserIds, 'pub_imagelist_endorser');
  await bind(listImages, 'fkimage', imageIds, 'pub_imagelist_image');
  return result;
}

function dateOf(v: unknown): Date | null {
  const iso = legacyTime(v);
  return iso === null ? null : new Date(iso);
}
