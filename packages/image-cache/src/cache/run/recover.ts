// Step 1 (after loading the indexes): undo what an interrupted run left half done. A commit records the name it
// moves a verified file to (`vmcatcher:target`) in the partial entry before the move, so that whatever moment
// a run died at, the next one finds the file and makes it available again with both events.
import { entryFilename, entryImage, entrySubscription, withFields } from '../entries.js';
import { ImageCacheError } from '../errors.js';
import type { RunContext } from './context.js';
import { settleExpiries } from './pending.js';

/** The partial entry's field naming the cache file a commit in progress moves to. */
export const TARGET_FIELD = 'vmcatcher:target';

export async function recover(ctx: RunContext): Promise<void> {
  const { storage, indexes } = ctx;
  const removed = await storage.removeTemporaries();
  if (removed) ctx.log('info', `removed ${removed} temporary files of an interrupted run`, { name: 'cache' });

  for (const [key, entry] of indexes.partial.list()) {
    const target = entry[TARGET_FIELD];
    if (typeof target !== 'string' || target === '') continue;
    const image = entryImage(key, entry);
    const subscription = entrySubscription(entry);
    const log = ctx.about(image, subscription);
    const name = entryFilename(key, entry);
    const cached = indexes.cache.find(subscription ?? '', image);
    const committed = cached !== undefined && entryFilename(cached[0], cached[1]) === target;
    const [partialFile, cacheFile] = [
      await storage.stat('partial', name),
      await storage.stat('cache', target),
    ];
    try {
      if (committed) {
        // The cache index was written: only the partial side is left over.
        if (partialFile?.kind === 'file') await storage.remove('partial', name);
        indexes.partial.delete(key);
      } else if (
        cacheFile?.kind === 'file' &&
        partialFile?.kind === 'file' &&
        cacheFile.id === partialFile.id
      ) {
        // Killed between link and unlink: the cache name is ours, the partial one is the file.
        await storage.remove('cache', target);
        indexes.partial.set(key, withFields(entry, { [TARGET_FIELD]: undefined }));
      } else if (cacheFile?.kind === 'file' && !partialFile) {
        log('info', 'recovering a file moved into the cache by an interrupted run');
        await storage.move('cache', target, 'partial', name);
        indexes.partial.set(key, withFields(entry, { [TARGET_FIELD]: undefined }));
      } else {
        indexes.partial.set(key, withFields(entry, { [TARGET_FIELD]: undefined }));
      }
    } catch (err) {
      if (!(err instanceof ImageCacheError && err.code === 'ERR_CACHE_UNSAFE_FILE')) throw err;
      log('warn', err.message);
      indexes.partial.set(key, withFields(entry, { [TARGET_FIELD]: undefined }));
    }
  }
  await settleExpiries(ctx);
  await indexes.save();
}
