// The facts about one image the connector decides on, read from an event (flat cache.index metadata) or from
// the store, and the Glance properties the cloud's consumers read (cloud-info-provider, atrope-style tools),
// as pure functions.
import type { ImageInstance } from '@hepix/imagelist-store';
import { GlanceConnectorError } from './errors.js';

export interface ImageFacts {
  /** The image `dc:identifier`. */
  identifier: string;
  /** The list's `dc:identifier` (the subscription). */
  subscription: string;
  /** `sl:checksum:sha512`, lower case. */
  sha512: string;
  /** `hv:size`. */
  size: number;
  /** The list's `ad:vo`, when it has one. */
  vo?: string;
  /** The whole `hv:image` entry as published. */
  image: Record<string, unknown>;
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

// The flat cache.index keys that mirror `hv:image` keys, for events whose metadata has no `hv:image.*` copy.
const FLAT_IMAGE_KEYS = [
  'dc:identifier',
  'dc:title',
  'dc:description',
  'hv:uri',
  'hv:size',
  'hv:hypervisor',
  'hv:version',
  'sl:arch',
  'sl:checksum:sha512',
  'sl:comments',
  'sl:os',
  'sl:osversion',
];

/** Facts from an event's flat metadata (a `cache.index` entry: `hv:image.<key>`, `hv:imagelist.*`, …). */
export function factsFromMetadata(metadata: Record<string, unknown>): ImageFacts {
  const image: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) if (k.startsWith('hv:image.')) image[k.slice(9)] = v;
  for (const k of FLAT_IMAGE_KEYS)
    if (image[k] === undefined && metadata[k] !== undefined) image[k] = metadata[k];
  const identifier = text(metadata['dc:identifier']) ?? text(metadata.uuid) ?? text(image['dc:identifier']);
  const sha512 = (
    text(metadata['sl:checksum:sha512']) ??
    text(metadata.sha512) ??
    text(image['sl:checksum:sha512'])
  )?.toLowerCase();
  if (!identifier)
    throw new GlanceConnectorError('ERR_GLANCE_EVENT', 'the event names no image (dc:identifier)');
  if (!sha512 || !/^[0-9a-f]{128}$/.test(sha512))
    throw new GlanceConnectorError('ERR_GLANCE_EVENT', `the event for ${identifier} has no sha512`, {
      image: identifier,
    });
  const size = Number(metadata['hv:size'] ?? metadata.size ?? image['hv:size']);
  const facts: ImageFacts = {
    identifier,
    subscription: text(metadata['hv:imagelist.dc:identifier']) ?? '',
    sha512,
    size: Number.isFinite(size) ? size : 0,
    image,
  };
  const vo = text(metadata['hv:imagelist.ad:vo']);
  if (vo) facts.vo = vo;
  return facts;
}

/** Facts from the store: an image instance of the subscription's latest list and that list's `ad:vo`. */
export function factsFromInstance(subscription: string, latest: ImageInstance, vo?: unknown): ImageFacts {
  const facts: ImageFacts = {
    identifier: latest.identifier,
    subscription,
    sha512: latest.sha512.toLowerCase(),
    size: latest.size,
    image: { ...latest.image },
  };
  const v = text(vo);
  if (v) facts.vo = v;
  return facts;
}

// --- Glance properties -----------------------------------------------------------------------------------

/** The property that identifies a connector-managed image (the connector never goes by name). */
export const IDENTIFIER_PROPERTY = 'vmcatcher_event_dc_identifier';
/** The list's sha512 of the image: which version a Glance image holds. */
export const SHA512_PROPERTY = 'vmcatcher_event_sl_checksum_sha512';
/** The sha512 of the bytes uploaded when they are not the list's (decompressed, extracted or converted). */
export const CONVERTED_SHA512_PROPERTY = 'vmcatcher_converted_sha512';
/** What the content was and what was done to it (`gzip+qcow2`, `convert qcow2 → raw`). */
export const SOURCE_FORMAT_PROPERTY = 'vmcatcher_source_format';
export const INGEST_STEPS_PROPERTY = 'vmcatcher_ingest_steps';

/** Every property the connector sets from the list (those absent from the desired set are removed). */
export const LIST_PROPERTY_KEYS = [
  IDENTIFIER_PROPERTY,
  'vmcatcher_event_il_dc_identifier',
  SHA512_PROPERTY,
  'vmcatcher_event_hv_size',
  'vmcatcher_event_hv_version',
  'vmcatcher_event_hv_format',
  'vmcatcher_event_hv_hypervisor',
  'vmcatcher_event_dc_title',
  'vmcatcher_event_dc_description',
  'vmcatcher_event_ad_mpuri',
  'vmcatcher_event_sl_os',
  'vmcatcher_event_sl_osversion',
  'vmcatcher_event_sl_arch',
  'vmcatcher_event_vo',
  'os_distro',
  'os_version',
  'architecture',
  'APPLIANCE_ATTRIBUTES',
] as const;

/** Image keys passed through as Glance hints (`hw_firmware_type`, `ad:hw_disk_bus` → `hw_disk_bus`, `gpu_*`). */
const HINT = /^(?:hv:|ad:)?((?:hw|gpu)_[a-z0-9_]+)$/;
/** True for a property the connector owns because it is a hint it may have set. */
export function isHintProperty(key: string): boolean {
  return /^(?:hw|gpu)_[a-z0-9_]+$/.test(key);
}

const DISTROS: [RegExp, string][] = [
  [/ubuntu/, 'ubuntu'],
  [/debian/, 'debian'],
  [/centos/, 'centos'],
  [/alma/, 'almalinux'],
  [/rocky/, 'rocky'],
  [/scientific|^sl\b|^slc\b/, 'scientific'],
  [/fedora/, 'fedora'],
  [/red ?hat|^rhel\b/, 'rhel'],
  [/opensuse/, 'opensuse'],
  [/\bsles\b|suse linux enterprise/, 'sles'],
  [/freebsd/, 'freebsd'],
  [/netbsd/, 'netbsd'],
  [/openbsd/, 'openbsd'],
  [/windows/, 'windows'],
  [/oracle/, 'ol'],
  [/gentoo/, 'gentoo'],
  [/\barch\b/, 'arch'],
  [/coreos/, 'coreos'],
  [/cirros/, 'cirros'],
  [/mandriva/, 'mandriva'],
];

/** Glance's `os_distro` (its canonical lower-case names) from `sl:osname`, `sl:os` or `sl:osversion`. */
export function osDistro(image: Record<string, unknown>): string | undefined {
  const candidates = [image['sl:osname'], image['sl:os'], image['sl:osversion']].map((v) =>
    text(v)?.toLowerCase(),
  );
  for (const c of candidates) {
    if (!c) continue;
    for (const [re, name] of DISTROS) if (re.test(c)) return name;
  }
  const fallback = candidates[0] ?? candidates[1];
  return fallback ? fallback.replace(/[^a-z0-9]+/g, '') || undefined : undefined;
}

/** Glance's `os_version`: the version number in `sl:osversion` (`SL 6.4` → `6.4`), else the text. */
export function osVersion(image: Record<string, unknown>): string | undefined {
  const v = text(image['sl:osversion']);
  if (!v) return undefined;
  return /\d+(?:\.\d+)*/.exec(v)?.[0] ?? v;
}

/** Glance's `architecture` (libvirt names) from `sl:arch`. */
export function architecture(image: Record<string, unknown>): string | undefined {
  const a = text(image['sl:arch'])?.toLowerCase().trim();
  if (!a) return undefined;
  if (/^(x86_64|amd64|x64|x86-64)$/.test(a)) return 'x86_64';
  if (/^(i[3-6]86|x86|ia32)$/.test(a)) return 'i686';
  if (/^(aarch64|arm64)$/.test(a)) return 'aarch64';
  if (/^(ppc64le|ppc64el)$/.test(a)) return 'ppc64le';
  return a.replace(/[^a-z0-9_]+/g, '');
}

/**
 * `min_ram` in MiB from `hv:ram_minimum`. AppDB publishes MiB; the format book says bytes, so a value too large
 * to be MiB (over 1 TiB worth) is read as bytes.
 */
export function minRamMiB(image: Record<string, unknown>): number {
  const n = Number(text(image['hv:ram_minimum']));
  if (!Number.isFinite(n) || n <= 0) return 0;
  return n > 1024 * 1024 ? Math.ceil(n / (1024 * 1024)) : Math.ceil(n);
}

/** `min_disk` in GiB from the virtual size in bytes. */
export function minDiskGiB(virtualSize: number): number {
  return virtualSize > 0 ? Math.ceil(virtualSize / 1024 ** 3) : 0;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** The image name in Glance: the title (Glance allows 255 characters). */
export function imageName(facts: ImageFacts, prefix = ''): string {
  return `${prefix}${text(facts.image['dc:title']) ?? facts.identifier}`.slice(0, 255);
}

/**
 * The properties a managed image carries, from the list only (what a metadata-only change updates).
 * Empty values are left out, so a key the list dropped is removed from Glance.
 */
export function listProperties(facts: ImageFacts): Record<string, string> {
  const img = facts.image;
  const props: Record<string, string | undefined> = {
    [IDENTIFIER_PROPERTY]: facts.identifier,
    vmcatcher_event_il_dc_identifier: facts.subscription || undefined,
    [SHA512_PROPERTY]: facts.sha512,
    vmcatcher_event_hv_size: String(facts.size),
    vmcatcher_event_hv_version: text(img['hv:version']),
    vmcatcher_event_hv_format: text(img['hv:format']),
    vmcatcher_event_hv_hypervisor: text(img['hv:hypervisor']),
    vmcatcher_event_dc_title: text(img['dc:title']),
    vmcatcher_event_dc_description: text(img['dc:description']),
    vmcatcher_event_ad_mpuri: text(img['ad:mpuri']),
    vmcatcher_event_sl_os: text(img['sl:os']),
    vmcatcher_event_sl_osversion: text(img['sl:osversion']),
    vmcatcher_event_sl_arch: text(img['sl:arch']),
    vmcatcher_event_vo: facts.vo,
    os_distro: osDistro(img),
    os_version: osVersion(img),
    architecture: architecture(img),
    APPLIANCE_ATTRIBUTES: JSON.stringify(sortKeys(img)),
  };
  for (const [k, v] of Object.entries(img)) {
    const m = HINT.exec(k);
    if (m && text(v) !== undefined) props[m[1]] = text(v);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) if (v !== undefined) out[k] = v;
  return out;
}
