// File names in the cache directories. An ordinary identifier (a UUID) is its own file name, as in the originals;
// anything that could escape a directory, hide, or collide with the cache's own files is encoded.
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { utcStamp } from '@hepix/common';

/** The file every cache directory keeps its index in (reference §3.4). */
export const INDEX_FILE = 'cache.index';
/** Beside the cache directory's index: the signed list of its entries, once per `msgHash`. */
export const MESSAGES_DIR = 'cache.index.messages';
/** Temporary files of this library start with this prefix; they are never taken for foreign files. */
export const TEMP_PREFIX = '.hepix-cache-';
/**
 * Separates a file name from the number that makes it unique (`<uuid>+1`): no identifier is ever encoded to a
 * name containing it, so a second copy (the same identifier in another subscription) can never take the name of
 * another image.
 */
const UNIQUE_SEPARATOR = '+';

const SAFE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const MAX_NAME = 200; // leaves room for `+n` and `.<timestamp>.n` within NAME_MAX (255)
// The default partial and expired directories live inside the cache directory under these names.
const RESERVED = new Set(['partial', 'expired']);

function percent(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * The file name of an image in the cache and partial directories. Ordinary identifiers (UUIDs) are used
 * unchanged, as the originals did; anything else is percent-encoded so that it can never name another directory
 * (`../../etc/passwd` → `%2E%2E%2F%2E%2E%2Fetc%2Fpasswd`), a hidden file, `cache.index` or anything starting with
 * it, or the default `partial`/`expired` directories (`partial` → `%70artial`). Over-long names are replaced by a
 * digest. Distinct identifiers give distinct names.
 */
export function imageFileName(identifier: string): string {
  let name: string;
  if (SAFE.test(identifier) && !identifier.startsWith(INDEX_FILE)) {
    // The first byte encoded keeps the rest readable and cannot be the encoding of anything else (a `p` is
    // never encoded otherwise).
    name = RESERVED.has(identifier)
      ? `${percent(identifier.charCodeAt(0))}${identifier.slice(1)}`
      : identifier;
  } else {
    name = '';
    for (const byte of Buffer.from(identifier, 'utf8')) {
      const c = String.fromCharCode(byte);
      name += /[A-Za-z0-9_-]/.test(c) ? c : percent(byte);
    }
    if (name === '') name = '%';
  }
  if (name.length > MAX_NAME) name = `sha256-${createHash('sha256').update(identifier).digest('hex')}`;
  return name;
}

/** `base`, or `base+1`, `base+2`, … : the first name `taken` does not refuse. */
export function uniqueName(base: string, taken: (name: string) => boolean): string {
  if (!taken(base)) return base;
  for (let n = 1; ; n++) {
    const name = `${base}${UNIQUE_SEPARATOR}${n}`;
    if (!taken(name)) return name;
  }
}

/** `dir/name`, refusing any name that would resolve outside `dir` (a second line of defence). */
export function inside(dir: string, name: string): string {
  const full = resolve(dir, name);
  if (
    name === '' ||
    basename(name) !== name ||
    name === '.' ||
    name === '..' ||
    dirname(full) !== resolve(dir)
  ) {
    throw new Error(`unsafe file name ${JSON.stringify(name)}`);
  }
  return join(dir, name);
}

/** `YYYY-mm-dd_HH-MM-SS` in UTC (the originals used local time, which is ambiguous across DST changes). */
export function expiryTimestamp(at: Date): string {
  return utcStamp(at);
}

const STAMP = /\.(\d{4})-(\d\d)-(\d\d)_(\d\d)-(\d\d)-(\d\d)(?:\.(\d+))?$/;

/** The time an expired copy was made, read from its name (`<name>.<stamp>[.n]`); undefined if it has none. */
export function expiredAt(expiredName: string): { time: number; n: number } | undefined {
  const m = STAMP.exec(expiredName);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  return { time: Date.UTC(y, mo - 1, d, h, mi, s), n: Number(m[7] ?? 0) };
}
