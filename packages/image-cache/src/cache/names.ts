import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';

/** The file every cache directory keeps its index in (reference §3.4). */
export const INDEX_FILE = 'cache.index';
/** Temporary files of this library start with this prefix; they are never taken for foreign files. */
export const TEMP_PREFIX = '.hepix-cache-';

const SAFE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const MAX_NAME = 200; // leaves room for `.<timestamp>` within NAME_MAX (255)

/**
 * The file name of an image in the cache and partial directories. Ordinary identifiers (UUIDs) are used
 * unchanged, as the originals did; anything else is percent-encoded so that it can never name another directory
 * (`../../etc/passwd` → `%2E%2E%2F%2E%2E%2Fetc%2Fpasswd`), a hidden file or `cache.index`. Over-long names are replaced
 * by a digest.
 */
export function imageFileName(identifier: string): string {
  let name: string;
  if (SAFE.test(identifier) && identifier !== INDEX_FILE) {
    name = identifier;
  } else {
    name = '';
    for (const byte of Buffer.from(identifier, 'utf8')) {
      const c = String.fromCharCode(byte);
      name += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    if (name === '') name = '%';
  }
  if (name.length > MAX_NAME) name = `sha256-${createHash('sha256').update(identifier).digest('hex')}`;
  return name;
}

/** `dir/name`, refusing any name that would resolve outside `dir` (a second line of defence). */
export function inside(dir: string, name: string): string {
  const full = resolve(dir, name);
  if (basename(name) !== name || name === '.' || name === '..' || dirname(full) !== resolve(dir)) {
    throw new Error(`unsafe file name ${JSON.stringify(name)}`);
  }
  return join(dir, name);
}

/** `YYYY-mm-dd_HH-MM-SS` in UTC (the originals used local time, which is ambiguous across DST changes). */
export function expiryTimestamp(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${at.getUTCFullYear()}-${p(at.getUTCMonth() + 1)}-${p(at.getUTCDate())}_` +
    `${p(at.getUTCHours())}-${p(at.getUTCMinutes())}-${p(at.getUTCSeconds())}`
  );
}
