// The three indexes of a run in memory, and their writing: once per change, atomically, only what changed.
// The signed list of the cache index's entries is kept once per msgHash beside it (`cache.index.messages/`),
// not in every entry: the originals embedded the whole list in each entry and rewrote the index after each
// image, which made a 60 MB list with ten images a 500 MB index (reference §3.4, issue "cache.index growth").
import type { Logger } from '@hepix/common';
import { entryFilename, entryImage, entrySubscription } from '../entries.js';
import { type CacheIndexEntry, parseIndex, serializeIndex } from '../index-file.js';
import { INDEX_FILE, uniqueName } from '../names.js';
import type { CacheArea, CacheStorage } from '../storage.js';
import { Mutex } from './context.js';

const SHA512_HEX = /^[0-9a-f]{128}$/;

export class AreaIndex {
  readonly #entries: Map<string, CacheIndexEntry>;
  /** Written at the next save: changed, or missing on disk (every directory gets its index, as the originals). */
  dirty: boolean;

  constructor(
    readonly area: CacheArea,
    entries: Map<string, CacheIndexEntry>,
    existed: boolean,
  ) {
    this.#entries = entries;
    this.dirty = !existed;
  }

  get size(): number {
    return this.#entries.size;
  }
  get(key: string): CacheIndexEntry | undefined {
    return this.#entries.get(key);
  }
  has(key: string): boolean {
    return this.#entries.has(key);
  }
  set(key: string, entry: CacheIndexEntry): void {
    this.#entries.set(key, entry);
    this.dirty = true;
  }
  delete(key: string): boolean {
    const had = this.#entries.delete(key);
    if (had) this.dirty = true;
    return had;
  }
  /** A snapshot, safe to iterate while the index changes. */
  list(): [string, CacheIndexEntry][] {
    return [...this.#entries];
  }
  map(): ReadonlyMap<string, CacheIndexEntry> {
    return this.#entries;
  }
  /** The entry of one image of one subscription (entries without a subscription match by identifier). */
  find(subscription: string, identifier: string): [string, CacheIndexEntry] | undefined {
    let loose: [string, CacheIndexEntry] | undefined;
    for (const [key, entry] of this.#entries) {
      if (entryImage(key, entry) !== identifier) continue;
      const s = entrySubscription(entry);
      if (s === subscription) return [key, entry];
      if (s === undefined) loose ??= [key, entry];
    }
    return loose;
  }
  /** File names the entries use. */
  filenames(): Set<string> {
    return new Set([...this.#entries].map(([k, e]) => entryFilename(k, e)));
  }
  /** Takes the entries (and the need to be written) of a fresh read of the same area. */
  replaceWith(fresh: AreaIndex): void {
    this.#entries.clear();
    for (const [k, e] of fresh.#entries) this.#entries.set(k, e);
    this.dirty = fresh.dirty;
  }
  /** A key for a new entry of `identifier`: the identifier itself unless another entry has it. */
  newKey(identifier: string): string {
    return uniqueName(identifier, (k) => this.#entries.has(k));
  }
}

export class Indexes {
  readonly #mutex = new Mutex();
  /** Message files on disk, and ones to write before the cache index that refers to them. */
  readonly #messages: Set<string>;
  readonly #pending = new Map<string, Uint8Array>();

  constructor(
    private readonly storage: CacheStorage,
    readonly cache: AreaIndex,
    readonly partial: AreaIndex,
    readonly expired: AreaIndex,
    messages: Iterable<string>,
  ) {
    this.#messages = new Set(messages);
  }

  area(area: CacheArea): AreaIndex {
    return this[area];
  }

  hasMessage(hash: string): boolean {
    return this.#messages.has(hash) || this.#pending.has(hash);
  }

  /** Keeps a signed list beside the cache index (written with the next save). */
  addMessage(hash: string, data: Uint8Array): void {
    if (SHA512_HEX.test(hash) && !this.hasMessage(hash)) this.#pending.set(hash, data);
  }

  /**
   * Writes what changed: messages first, then the cache index, the expired index and the partial index (a crash
   * in between leaves at worst a stale partial entry, which the next run cleans up). Saves run one at a time.
   */
  save(): Promise<void> {
    return this.#mutex.run(async () => {
      for (const [hash, data] of [...this.#pending]) {
        await this.storage.writeMessage(hash, data);
        this.#messages.add(hash);
        this.#pending.delete(hash);
      }
      for (const index of [this.cache, this.expired, this.partial]) {
        if (!index.dirty) continue;
        index.dirty = false;
        try {
          await this.storage.writeIndex(index.area, serializeIndex(index.map()));
        } catch (err) {
          index.dirty = true;
          throw err;
        }
      }
    });
  }

  /**
   * Reads the three indexes again (with several workers on one cache, under the store lock): another worker's
   * changes since this run read them are kept, and the next save writes on top of them. Lists not yet written
   * stay pending.
   */
  async reload(log: Logger): Promise<void> {
    const fresh = await loadIndexes(this.storage, log);
    await this.#mutex.run(async () => {
      for (const area of ['cache', 'partial', 'expired'] as const) this[area].replaceWith(fresh[area]);
      this.#messages.clear();
      for (const hash of fresh.#messages) this.#messages.add(hash);
      for (const [hash, data] of fresh.#pending) if (!this.#pending.has(hash)) this.#pending.set(hash, data);
    });
  }

  /** Removes the messages no cache entry refers to any more. */
  async removeUnusedMessages(): Promise<void> {
    const used = new Set(this.cache.list().map(([, e]) => String(e.msgHash ?? '')));
    for (const hash of [...this.#messages]) {
      if (used.has(hash)) continue;
      await this.storage.removeMessage(hash);
      this.#messages.delete(hash);
    }
  }
}

/**
 * Reads the three indexes. Entries that embed the signed list (`message`, as the originals write them) lose it:
 * the cache index's lists move beside it, once per msgHash, at the first save.
 */
export async function loadIndexes(storage: CacheStorage, log: Logger): Promise<Indexes> {
  const areas = {} as Record<CacheArea, AreaIndex>;
  const lists = new Map<string, Uint8Array>();
  for (const area of ['cache', 'partial', 'expired'] as const) {
    const text = await storage.readIndex(area);
    const entries = parseIndex(text ?? '', storage.path(area, INDEX_FILE));
    let embedded = 0;
    for (const [key, entry] of entries) {
      if (!Object.hasOwn(entry, 'message')) continue;
      const hash = String(entry.msgHash ?? '');
      if (
        area === 'cache' &&
        SHA512_HEX.test(hash) &&
        typeof entry.message === 'string' &&
        entry.message !== ''
      )
        lists.set(hash, Buffer.from(entry.message, 'utf8'));
      entries.set(key, Object.fromEntries(Object.entries(entry).filter(([k]) => k !== 'message')));
      embedded++;
    }
    areas[area] = new AreaIndex(area, entries, text !== undefined);
    if (embedded) {
      areas[area].dirty = true;
      log(
        'info',
        `${storage.path(area, INDEX_FILE)}: ${embedded} entries carried the signed list; it is kept once per list now`,
        {
          name: 'cache',
        },
      );
    }
  }
  const indexes = new Indexes(
    storage,
    areas.cache,
    areas.partial,
    areas.expired,
    await storage.listMessages(),
  );
  for (const [hash, data] of lists) indexes.addMessage(hash, data);
  return indexes;
}
