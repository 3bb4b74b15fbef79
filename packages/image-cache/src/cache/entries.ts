// What a `cache.index` entry says about its image, and how one is made from a store candidate. Entries of the
// originals (reference §3.4) and of this library are read the same way; an image is identified by its
// subscription and its identifier together, because two subscriptions may publish the same identifier.
import type { ImageInstance, StoredImageListSummary, TrustAnchorMode } from '@hepix/imagelist-store';
import type { CacheIndexEntry } from './index-file.js';
import { imageFileName } from './names.js';

/** An image the store says must be cached (state 3), with what the run needs to fetch it. */
export interface Candidate {
  subscription: string;
  identifier: string;
  latest: ImageInstance;
  list: StoredImageListSummary;
  /** How the subscription's servers are authenticated; its images are fetched the same way. */
  trustAnchor: TrustAnchorMode;
}

/** The key of one image of one subscription in the run's maps. */
export function slotKey(subscription: string | undefined, identifier: string): string {
  return `${subscription ?? ''}\u0000${identifier}`;
}

export function entryImage(key: string, entry: CacheIndexEntry): string {
  const id = entry['dc:identifier'] ?? entry.uuid;
  return typeof id === 'string' && id !== '' ? id : key;
}

export function entrySubscription(entry: CacheIndexEntry): string | undefined {
  const s = entry['hv:imagelist.dc:identifier'];
  return typeof s === 'string' && s !== '' ? s : undefined;
}

/** The entry's file name in its directory (entries of very old versions have none: the identifier's). */
export function entryFilename(key: string, entry: CacheIndexEntry): string {
  return typeof entry.filename === 'string' && entry.filename !== ''
    ? entry.filename
    : imageFileName(entryImage(key, entry));
}

export function entrySha512(entry: CacheIndexEntry): string {
  return String(entry['sl:checksum:sha512'] ?? entry.sha512 ?? '').toLowerCase();
}

export function entrySize(entry: CacheIndexEntry): number {
  return Number(entry['hv:size'] ?? entry.size);
}

/** True when the entry describes exactly these bytes. */
export function sameImage(entry: CacheIndexEntry, img: ImageInstance): boolean {
  return entrySha512(entry) === img.sha512.toLowerCase() && entrySize(entry) === img.size;
}

/** A `cache.index` entry with every field of reference §3.4 except `message` (kept once per `msgHash`). */
export function indexEntry(
  c: Candidate,
  listMetadata: Record<string, unknown> | undefined,
  msgHash: string,
  filename: string,
): CacheIndexEntry {
  const img = c.latest;
  // Object.fromEntries defines own properties: no key of a published image can reach a prototype.
  const entry: CacheIndexEntry = Object.fromEntries(
    Object.keys(img.image ?? {}).map((k) => [`hv:image.${k}`, img.image[k]]),
  );
  Object.assign(entry, {
    'dc:identifier': c.identifier,
    'hv:uri': img.uri,
    'sl:checksum:sha512': img.sha512.toLowerCase(),
    'hv:size': img.size,
    'hv:imagelist.dc:identifier': c.subscription,
    'dc:title': img.title,
    'dc:description': img.description,
    'hv:version': img.version,
    'hv:hypervisor': img.hypervisor,
    'sl:arch': img.arch,
    'sl:comments': img.comments,
    'sl:os': img.os,
    'sl:osversion': img.osversion,
    uri: img.uri,
    sha512: img.sha512.toLowerCase(),
    size: img.size,
    uuid: c.identifier,
    msgHash,
    filename,
  });
  const vo = listMetadata?.['ad:vo'];
  if (vo !== undefined && vo !== null && vo !== '') entry['hv:imagelist.ad:vo'] = vo;
  return entry;
}

/** Event and hook metadata: the entry without the signed list text, which would bloat every event. */
/**
 * The field of a cache or expired entry naming the Postfix event its change still has to send: written in the
 * same index write as the change it reports, removed once the event was handed to the sink and the command, and
 * sent again, with the same id, by the next run when a run was interrupted in between (`sendPending`).
 */
export const PENDING_FIELD = 'vmcatcher:event.pending';

export function eventMetadata(entry: CacheIndexEntry, extra: Record<string, unknown> = {}): CacheIndexEntry {
  return Object.fromEntries([
    ...Object.entries(entry).filter(([k]) => k !== 'message' && k !== 'DownLoadTrys' && k !== PENDING_FIELD),
    ...Object.entries(extra),
  ]);
}

/** A copy of an entry with some fields replaced (`undefined` removes one). */
export function withFields(entry: CacheIndexEntry, fields: Record<string, unknown>): CacheIndexEntry {
  return Object.fromEntries(
    [...Object.entries(entry).filter(([k]) => !Object.hasOwn(fields, k)), ...Object.entries(fields)].filter(
      ([, v]) => v !== undefined,
    ),
  );
}
