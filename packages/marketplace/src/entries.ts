// What the marketplace keeps of a verified list: plain records, computed by pure functions.
import { imageSize, parseImageListDate } from '@hepix/hepix-imagelist-schema';
import { canonicalDn, dnEquals } from '@hepix/smime-x509';
import type { OpenedList } from './verify.js';

export interface EndorserRef {
  /** Certificate subject, canonical one-line DN. */
  dn: string;
  /** Certificate issuer, canonical one-line DN. */
  ca: string;
  /** `hv:email` of the list's matching `hv:endorser` (may be empty). */
  email: string;
}

/** What the marketplace shows of an image entry, stored and served alike. */
export interface ImageFields {
  identifier: string;
  title: string;
  description: string;
  os: string;
  osversion: string;
  arch: string;
  hypervisor: string;
  format: string | null;
  size: number | null;
  sha512: string;
  /** The image's `hv:version`. */
  version: string;
  /** `hv:uri` first, then the http/https URLs of `sl:locations` (duplicates dropped). */
  locations: string[];
  /** `sl:deprecated`: the reason, or null. */
  deprecated: string | null;
}

export interface ImageRecord extends ImageFields {
  /** The list's expiry, or the image's own `dc:date:expires` (AppDB) when that is earlier. */
  expires: Date;
  /** The image entry as signed (`hv:image` object). */
  entry: Record<string, unknown>;
}

export interface ListRecord {
  identifier: string;
  version: string;
  title: string;
  description: string;
  /** The list's `hv:uri`. */
  uri: string;
  /** `ad:vo`, when a string. */
  vo: string | null;
  created: Date;
  expires: Date;
  endorser: EndorserRef;
  images: ImageRecord[];
}

/** At most this many URLs are kept per image (`hv:uri` included). */
export const MAX_LOCATIONS = 32;

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** True for an absolute http: or https: URL (the only ones offered as links). */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 4096) return false;
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** `hv:uri`, then the http/https entries of `sl:locations`, without duplicates. */
export function imageLocations(entry: Record<string, unknown>): string[] {
  const out: string[] = [];
  const uri = entry['hv:uri'];
  if (typeof uri === 'string' && uri !== '') out.push(uri);
  const extra = entry['sl:locations'];
  if (Array.isArray(extra)) {
    for (const u of extra) {
      if (out.length >= MAX_LOCATIONS) break;
      if (isHttpUrl(u) && !out.includes(u)) out.push(u);
    }
  }
  return out;
}

/** `sl:deprecated` as a reason (a non-empty string), else null. */
export function deprecationReason(entry: Record<string, unknown>): string | null {
  const v = entry['sl:deprecated'];
  return typeof v === 'string' && v.trim() !== '' ? v : null;
}

function imageExpiry(entry: Record<string, unknown>, listExpires: Date): Date {
  const own = entry['dc:date:expires'];
  if (typeof own !== 'string') return listExpires;
  try {
    const d = parseImageListDate(own, 'dc:date:expires');
    return d.getTime() < listExpires.getTime() ? d : listExpires;
  } catch {
    return listExpires;
  }
}

/** The endorser entry of the list that the signer is (openList has already checked there is one). */
function endorserOf(list: OpenedList): EndorserRef {
  const field = list.list['hv:endorser'];
  const all = (Array.isArray(field) ? field : [field]) as Record<string, unknown>[];
  const x509s = all.map((e) => (e?.['hv:x509'] ?? {}) as Record<string, unknown>);
  const match = x509s.find((x) => dnEquals(text(x['hv:dn']), list.signer.subject));
  return {
    dn: canonicalDn(list.signer.subject),
    ca: canonicalDn(list.signer.issuer),
    email: text(match?.['hv:email']).trim(),
  };
}

/** The records of a verified list; an image without `dc:identifier`, or listed twice after the first, is skipped. */
export function listRecord(list: OpenedList): ListRecord {
  const seen = new Set<string>();
  const images: ImageRecord[] = [];
  for (const entry of list.images) {
    const identifier = text(entry['dc:identifier']);
    if (identifier === '' || seen.has(identifier)) continue;
    seen.add(identifier);
    let size: number | null = null;
    try {
      size = imageSize(entry as never);
    } catch {
      size = null;
    }
    images.push({
      identifier,
      title: text(entry['dc:title']),
      description: text(entry['dc:description']),
      os: text(entry['sl:os']),
      osversion: text(entry['sl:osversion']),
      arch: text(entry['sl:arch']),
      hypervisor: text(entry['hv:hypervisor']),
      format: entry['hv:format'] === undefined ? null : text(entry['hv:format']),
      size,
      sha512: text(entry['sl:checksum:sha512']).toLowerCase(),
      version: text(entry['hv:version']),
      locations: imageLocations(entry),
      deprecated: deprecationReason(entry),
      expires: imageExpiry(entry, list.expires),
      entry,
    });
  }
  const vo = list.list['ad:vo'];
  return {
    identifier: list.identifier,
    version: list.version,
    title: text(list.list['dc:title']),
    description: text(list.list['dc:description']),
    uri: list.uri,
    vo: typeof vo === 'string' && vo !== '' ? vo : null,
    created: list.created,
    expires: list.expires,
    endorser: endorserOf(list),
    images,
  };
}
