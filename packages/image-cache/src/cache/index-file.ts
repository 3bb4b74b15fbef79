import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageCacheError } from './errors.js';
import { INDEX_FILE, TEMP_PREFIX } from './names.js';

/** One `cache.index` entry (reference §3.4): flat metadata plus `filename`. */
export type CacheIndexEntry = Record<string, unknown> & { filename?: string };
export type CacheIndex = Record<string, CacheIndexEntry>;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** Serialised like Python's `json.dumps(sort_keys=True, indent=4)`, which the originals wrote. */
export function serializeIndex(index: CacheIndex): string {
  return JSON.stringify(sortKeys(index), null, 4);
}

export async function readIndex(dir: string): Promise<CacheIndex> {
  const path = join(dir, INDEX_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ImageCacheError('ERR_CACHE_INDEX', `cannot read ${path}`, { path, cause: err });
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ImageCacheError('ERR_CACHE_INDEX', `${path} is not valid JSON`, { path, cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ImageCacheError('ERR_CACHE_INDEX', `${path} is not a JSON object`, { path });
  }
  const index: CacheIndex = {};
  for (const [key, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (entry !== null && typeof entry === 'object' && !Array.isArray(entry))
      index[key] = entry as CacheIndexEntry;
  }
  return index;
}

/** Writes `cache.index` atomically: a temporary file in the same directory, fsync, rename. */
export async function writeIndex(dir: string, index: CacheIndex): Promise<void> {
  const tmp = join(dir, `${TEMP_PREFIX}index-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(serializeIndex(index));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, join(dir, INDEX_FILE));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
