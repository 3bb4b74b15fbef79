// Retention of expired copies: the originals let `expired/` grow forever (reference §6.12). The newest
// `expiredKeep` copies of each image (of each subscription) are kept; older ones are removed, oldest first.
// Only copies the expired index names are ever removed; anything else there is foreign and left alone.
import { entryFilename, entryImage, entrySubscription, PENDING_FIELD, slotKey } from '../entries.js';
import { ImageCacheError } from '../errors.js';
import { expiredAt } from '../names.js';
import type { RunContext } from './context.js';
import { recordFailure } from './expire.js';

export async function pruneExpired(ctx: RunContext): Promise<void> {
  const keep = ctx.settings.expiredKeep;
  if (!Number.isFinite(keep)) return;
  const { indexes, storage } = ctx;
  const groups = new Map<string, { key: string; filename: string; time: number; n: number }[]>();
  for (const [key, entry] of indexes.expired.list()) {
    const filename = entryFilename(key, entry);
    const slot = slotKey(entrySubscription(entry), entryImage(key, entry));
    const at = expiredAt(filename);
    const copies = groups.get(slot) ?? [];
    copies.push({ key, filename, time: at?.time ?? 0, n: at?.n ?? 0 });
    groups.set(slot, copies);
  }
  let changed = false;
  for (const copies of groups.values()) {
    if (copies.length <= keep) continue;
    copies.sort((a, b) => b.time - a.time || b.n - a.n || (a.filename < b.filename ? 1 : -1));
    for (const old of copies.slice(keep)) {
      const entry = indexes.expired.get(old.key);
      // Its ExpirePostfix is not sent yet (sendPending will): removing the entry would lose the event.
      if (entry && Object.hasOwn(entry, PENDING_FIELD)) continue;
      const image = entry ? entryImage(old.key, entry) : old.key;
      const subscription = entry ? entrySubscription(entry) : undefined;
      const log = ctx.about(image, subscription);
      try {
        await storage.remove('expired', old.filename);
        log('info', `removed the old expired copy ${old.filename} (keeping the newest ${keep})`);
        ctx.summary.pruned.push(old.filename);
      } catch (err) {
        if (!(err instanceof ImageCacheError && err.code === 'ERR_CACHE_UNSAFE_FILE')) throw err;
        log('error', `${err.message}; not removed`);
        recordFailure(ctx, image, subscription, err);
      }
      indexes.expired.delete(old.key);
      changed = true;
    }
  }
  if (changed) await indexes.save();
}
