// The HEPiX list format on the publisher's side of the store: a document read into an import plan, and a
// stored list written back as the document vmcaster publishes. The store keeps every value as text; the rules
// of which keys become JSON numbers or arrays again, and which import wins, live here.
import { compareVersions } from '@hepix/hepix-imagelist-schema';
import type {
  ImportPlan,
  ImportResult,
  Metadata,
  PublisherImageListContents,
  PublisherRepository,
} from '@hepix/imagelist-store';
import { canonicalDn } from '@hepix/smime-x509';
import { internal, PublisherError } from './errors.js';

type Json = Record<string, unknown>;

/** List keys the store does not keep as metadata: they are the list's structure. */
const LIST_STRUCTURE = new Set(['dc:identifier', 'hv:endorser', 'hv:images']);

/** Image keys published as JSON numbers when their stored text is an integer. */
export const INTEGER_KEYS: readonly string[] = ['hv:size', 'hv:ram_minimum', 'hv:core_minimum'];
const INTEGER = new Set(INTEGER_KEYS);

/** Image keys published as JSON arrays when their stored text is one (`sl:locations`). */
export const ARRAY_KEYS: readonly string[] = ['sl:locations'];
const ARRAY = new Set(ARRAY_KEYS);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as the store keeps it: strings as they are, anything else as its JSON text. */
export function storedValue(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null');
}

/**
 * The originals' import rule (vmcaster §4.4): stored metadata is replaced only by the same or a newer
 * `hv:version` (split_numeric_sort order); an import without a version never replaces a versioned record.
 */
export function importWins(stored: string | undefined, incoming: string | undefined): boolean {
  if (stored === undefined) return true;
  if (incoming === undefined) return false;
  return compareVersions(stored, incoming) <= 0;
}

function documentError(message: string, subject?: string): PublisherError {
  return new PublisherError('ERR_PUBLISHER_DOCUMENT', message, subject ? { subject } : {});
}

/**
 * Reads a parsed document (`{"hv:imagelist": {…}}`, or the legacy unwrapped object) into an import plan whose
 * rule is {@link importWins} on `hv:version`. Non-string values are kept as their JSON text; an image that
 * appears twice counts once, at its last place; endorsers are keyed by their canonical DN. A document without
 * the structure is `ERR_PUBLISHER_DOCUMENT`.
 */
export function importPlan(document: unknown): ImportPlan {
  if (!isObject(document)) throw documentError('an image list document must be a JSON object');
  const wrapped = document['hv:imagelist'];
  const list = wrapped === undefined ? document : wrapped;
  if (!isObject(list)) throw documentError("'hv:imagelist' must be an object");
  const identifier = list['dc:identifier'];
  if (typeof identifier !== 'string' || identifier === '')
    throw documentError("the image list has no 'dc:identifier' string");
  const metadata: Metadata = {};
  for (const [k, v] of Object.entries(list)) if (!LIST_STRUCTURE.has(k)) metadata[k] = storedValue(v);

  const rawImages = list['hv:images'] ?? [];
  if (!Array.isArray(rawImages)) throw documentError("'hv:images' must be an array", identifier);
  const images = new Map<string, Metadata>();
  rawImages.forEach((entry, i) => {
    const image = isObject(entry) ? entry['hv:image'] : undefined;
    if (!isObject(image))
      throw documentError(`'hv:images[${i}]' is not an {"hv:image": {…}} object`, identifier);
    const id = image['dc:identifier'];
    if (typeof id !== 'string' || id === '')
      throw documentError(`'hv:images[${i}]' has no 'dc:identifier' string`, identifier);
    const meta: Metadata = {};
    for (const [k, v] of Object.entries(image)) if (k !== 'dc:identifier') meta[k] = storedValue(v);
    images.delete(id);
    images.set(id, meta);
  });

  const rawEndorsers = list['hv:endorser'] === undefined ? [] : ([] as unknown[]).concat(list['hv:endorser']);
  const endorsers: ImportPlan['endorsers'] = [];
  rawEndorsers.forEach((entry, i) => {
    const x509 = isObject(entry) ? entry['hv:x509'] : undefined;
    if (!isObject(x509)) throw documentError(`'hv:endorser' entry ${i} has no 'hv:x509' object`, identifier);
    const raw = x509['hv:dn'];
    if (typeof raw !== 'string' || raw.trim() === '')
      throw documentError(`'hv:endorser' entry ${i} has no 'hv:dn' string`, identifier);
    const dn = canonicalDn(raw);
    const meta: Metadata = {};
    for (const [k, v] of Object.entries(x509)) if (k !== 'hv:dn') meta[k] = storedValue(v);
    if (!endorsers.some((e) => e.dn === dn)) endorsers.push({ dn, metadata: meta });
  });
  return {
    list: { identifier, metadata },
    images: [...images].map(([id, meta]) => ({ identifier: id, metadata: meta })),
    endorsers,
    replace: (stored, incoming) => importWins(stored['hv:version'], incoming['hv:version']),
  };
}

/**
 * Imports a parsed document into the publisher's store in one transaction: the list, its images (bound) and
 * endorsers (bound). Metadata of an existing list or image is replaced only by the same or a newer
 * `hv:version`; when the list's is, its image set becomes the document's.
 */
export async function importImageList(store: PublisherRepository, document: unknown): Promise<ImportResult> {
  const plan = importPlan(document);
  try {
    return await store.applyImport(plan);
  } catch (err) {
    throw internal(err, `importing image list ${plan.list.identifier}`);
  }
}

/** An image's stored metadata as published: integer keys as numbers, array keys as arrays. */
export function publishedImage(identifier: string, metadata: Metadata): Json {
  const img: Json = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (INTEGER.has(k) && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) img[k] = Number(v);
    else if (ARRAY.has(k) && v.startsWith('[')) {
      const array = parseArray(v);
      if (array?.length === 0) continue; // none left: no key, rather than an empty array
      img[k] = array ?? v;
    } else img[k] = v;
  }
  img['dc:identifier'] = identifier;
  return img;
}

function parseArray(text: string): unknown[] | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A stored list as a document, without new dates or version: `{"hv:imagelist": {…metadata, "dc:identifier",
 * "hv:endorser": {"hv:x509": {…}} (an array when several are bound, absent when none), "hv:images": [{"hv:image":
 * {…}}]}}` (`hv:images` always, even empty: the way to decommission a list).
 */
export function imageListDocument(contents: PublisherImageListContents): { 'hv:imagelist': Json } {
  const out: Json = { ...contents.metadata, 'dc:identifier': contents.identifier };
  const x509 = contents.endorsers.map((e) => ({ 'hv:x509': { ...e.metadata, 'hv:dn': e.dn } }));
  if (x509.length === 1) out['hv:endorser'] = x509[0];
  else if (x509.length > 1) out['hv:endorser'] = x509;
  out['hv:images'] = contents.images.map((i) => ({ 'hv:image': publishedImage(i.identifier, i.metadata) }));
  return { 'hv:imagelist': out };
}

/** The stored list as a document (see {@link imageListDocument}); `ERR_PUBLISHER_NOT_FOUND` when absent. */
export async function exportImageList(
  store: PublisherRepository,
  imageList: string,
): Promise<{ 'hv:imagelist': Json }> {
  let contents: PublisherImageListContents | undefined;
  try {
    contents = await store.getImageListContents(imageList);
  } catch (err) {
    throw internal(err, `reading image list ${imageList}`);
  }
  if (!contents)
    throw new PublisherError('ERR_PUBLISHER_NOT_FOUND', `image list ${imageList} does not exist`, {
      subject: imageList,
    });
  return imageListDocument(contents);
}
