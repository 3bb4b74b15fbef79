// Step 7: make a verified download available: `image:available:before` (may veto) → AvailablePrefix → move into
// the cache under a name no other image has → cache index → AvailablePostfix → `image:available:after`.
import { randomUUID } from 'node:crypto';
import type { StoredImageList } from '@hepix/imagelist-store';
import { type Candidate, eventMetadata, indexEntry, PENDING_FIELD, withFields } from '../entries.js';
import { ImageCacheError } from '../errors.js';
import { imageFileName, uniqueName } from '../names.js';
import type { RunContext } from './context.js';
import { pendingEvent } from './pending.js';
import { TARGET_FIELD } from './recover.js';

/** The cache entry's field holding the object URL of an `s3://` cache (`VMCATCHER_EVENT_CACHE_URL`). */
const CACHE_URL_FIELD = 'vmcatcher:cache.url';

export function commitAvailable(
  ctx: RunContext,
  c: Candidate,
  partialKey: string,
  partialName: string,
  list: StoredImageList | undefined,
): Promise<void> {
  return ctx.critical(ctx.serial, async () => {
    const { indexes, storage, events } = ctx;
    const id = c.identifier;
    const log = ctx.about(id, c.subscription);
    const partialEntry = indexes.partial.get(partialKey);
    // The usual name (the identifier) unless another image (the same identifier of another subscription) or a
    // foreign file has it.
    const used = indexes.cache.filenames();
    let name = uniqueName(imageFileName(id), (n) => used.has(n));
    while (await storage.stat('cache', name)) {
      used.add(name);
      name = uniqueName(imageFileName(id), (n) => used.has(n));
    }
    const msgHash = list?.dataHash ?? c.list.dataHash;
    const entry = withFields(indexEntry(c, list?.metadata, msgHash, name), {
      DownLoadTrys: partialEntry?.DownLoadTrys,
      [CACHE_URL_FIELD]: storage.objectUrl?.(c.latest.sha512.toLowerCase()),
    });
    const metadata = eventMetadata(entry);
    const path = storage.path('cache', name);
    const hookEvent = {
      session: ctx.session,
      identifier: id,
      subscription: c.subscription,
      metadata,
      filename: name,
      path,
    };
    if (!(await events.before('image:available:before', hookEvent, log))) {
      ctx.summary.vetoed.push({ identifier: id, step: 'available' });
      return;
    }
    await events.fire('AvailablePrefix', metadata);
    if (partialEntry) indexes.partial.set(partialKey, withFields(partialEntry, { [TARGET_FIELD]: name }));
    await indexes.save();
    try {
      const moved = await storage.move('partial', partialName, 'cache', name);
      if (moved === 'missing')
        throw new ImageCacheError(
          'ERR_CACHE_INTERNAL',
          `the verified file ${partialName} disappeared before it was moved`,
          {
            image: id,
            subscription: c.subscription,
            path: storage.path('partial', partialName),
          },
        );
    } catch (err) {
      if (partialEntry) indexes.partial.set(partialKey, partialEntry);
      await indexes.save();
      throw err;
    }
    if (list) indexes.addMessage(msgHash, list.data);
    const key = indexes.cache.newKey(id);
    // The AvailablePostfix to send is written with the entry: a run interrupted before sending it leaves it for
    // the next run (sendPending), so the event is never lost.
    const eventId = randomUUID();
    indexes.cache.set(
      key,
      events.sent ? withFields(entry, { [PENDING_FIELD]: pendingEvent('AvailablePostfix', eventId) }) : entry,
    );
    indexes.partial.delete(partialKey);
    await indexes.save();
    if ((await events.send('AvailablePostfix', metadata, eventId)).queued && events.sent) {
      indexes.cache.set(key, entry);
      await indexes.save();
    }
    await events.after('image:available:after', hookEvent, log);
    ctx.summary.downloaded.push(id);
    ctx.record({ image: id, subscription: c.subscription, action: 'downloaded' });
    log('info', `cached as ${path}`);
  });
}
