// `cache.index`, as the originals write it and event handlers read it: one JSON object per directory, keyed by
// image identifier (expired copies: by file name), serialised like Python's json.dumps(sort_keys=True, indent=4).
// Entries are kept in Maps and written from null-prototype objects, so an identifier such as `__proto__` or
// `constructor` is an entry like any other.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile } from '@hepix/common';
import { ImageCacheError } from './errors.js';
import { INDEX_FILE, TEMP_PREFIX } from './names.js';

/** One `cache.index` entry (reference §3.4): flat metadata plus `filename`. */
export type CacheIndexEntry = Record<string, unknown> & { filename?: string };
/** A whole index as `readIndex` returns it: a null-prototype object, safe to index by any identifier. */
export type CacheIndex = Record<string, CacheIndexEntry>;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

function toObject(index: CacheIndex | ReadonlyMap<string, CacheIndexEntry>): Record<string, unknown> {
  if (!(index instanceof Map)) return index as Record<string, unknown>;
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, entry] of index) out[key] = entry;
  return out;
}

/** Serialised like Python's `json.dumps(sort_keys=True, indent=4)`, which the originals wrote. */
export function serializeIndex(index: CacheIndex | ReadonlyMap<string, CacheIndexEntry>): string {
  return JSON.stringify(sortKeys(toObject(index)), null, 4);
}

/**
 * Parses an index. Entries that are not objects are dropped (the originals never wrote any). The message of a
 * JSON syntax error is not repeated: it quotes the text, which must not reach a log.
 */
export function parseIndex(text: string, path: string): Map<string, CacheIndexEntry> {
  const index = new Map<string, CacheIndexEntry>();
  if (text.trim() === '') return index;
  let parsed: unknown;
  try {
    // JSON.parse defines every key as an own property: `__proto__` stays an ordinary key.
    parsed = JSON.parse(text);
  } catch {
    throw new ImageCacheError('ERR_CACHE_INDEX', `${path} is not valid JSON`, { path });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ImageCacheError('ERR_CACHE_INDEX', `${path} is not a JSON object`, { path });
  }
  for (const key of Object.keys(parsed)) {
    const entry = (parsed as Record<string, unknown>)[key];
    if (entry !== null && typeof entry === 'object' && !Array.isArray(entry))
      index.set(key, entry as CacheIndexEntry);
  }
  return index;
}

/** The index of a directory (empty when there is none), as a null-prototype object. */
export async function readIndex(dir: string): Promise<CacheIndex> {
  const path = join(dir, INDEX_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Object.create(null) as CacheIndex;
    throw new ImageCacheError('ERR_CACHE_INDEX', `cannot read ${path}`, { path, cause: err });
  }
  const out = Object.create(null) as CacheIndex;
  for (const [key, entry] of parseIndex(text, path)) out[key] = entry;
  return out;
}

/** Writes `cache.index` atomically (@hepix/common's atomicWriteFile: exclusive temporary file, fsync, rename). */
export async function writeIndex(
  dir: string,
  index: CacheIndex | ReadonlyMap<string, CacheIndexEntry>,
): Promise<void> {
  await atomicWriteFile(join(dir, INDEX_FILE), serializeIndex(index), {
    tempPrefix: `${TEMP_PREFIX}index-`,
  });
}
