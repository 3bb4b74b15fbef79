// Step 4: expire what is cached and no longer endorsed: ExpirePrefix → move to `expired/<file>.<UTC stamp>` →
// ExpirePostfix, each event with the reason (`metadata.reason`, `VMCATCHER_EVENT_REASON`).
import { randomUUID } from 'node:crypto';
import { utcStamp } from '@hepix/common';
import {
  entryFilename,
  entryImage,
  entrySubscription,
  eventMetadata,
  PENDING_FIELD,
  sameImage,
  slotKey,
  withFields,
} from '../entries.js';
import { asCacheError, ImageCacheError } from '../errors.js';
import type { ExpireReason } from '../hooks.js';
import type { CacheIndexEntry } from '../index-file.js';
import { candidateFor } from './candidates.js';
import type { RunContext } from './context.js';
import { pendingEvent } from './pending.js';

export async function expireStep(ctx: RunContext): Promise<void> {
  for (const [key, entry] of ctx.indexes.cache.list()) {
    const c = candidateFor(ctx, key, entry);
    if (c && sameImage(entry, c.latest)) {
      await keepIfPresent(ctx, key, entry);
      continue;
    }
    await expireEntry(ctx, key, entry, await expiryReason(ctx, key, entry));
  }
}

/** An endorsed entry stays, if its file is still there and still the regular file the cache made. */
async function keepIfPresent(ctx: RunContext, key: string, entry: CacheIndexEntry): Promise<void> {
  const id = entryImage(key, entry);
  const log = ctx.about(id, entrySubscription(entry));
  const filename = entryFilename(key, entry);
  const f = await ctx.storage.stat('cache', filename);
  if (f?.kind === 'file') return;
  if (!f) {
    // Removed behind our back: forget it, so the download step fetches it again.
    log('warn', `cached file ${filename} is missing; it will be downloaded again`);
  } else {
    const path = ctx.storage.path('cache', filename);
    log(
      'error',
      `${path} is a ${f.kind}, not the file the cache made; left alone, the image is cached again`,
    );
    recordFailure(
      ctx,
      id,
      entrySubscription(entry),
      new ImageCacheError('ERR_CACHE_UNSAFE_FILE', `${path} is a ${f.kind}`, { path, found: f.kind }),
    );
  }
  ctx.indexes.cache.delete(key);
  await ctx.indexes.save();
}

export function recordFailure(
  ctx: RunContext,
  identifier: string,
  subscription: string | undefined,
  err: ImageCacheError,
): void {
  // One report per planted file, whichever step meets it first.
  if (err.code === 'ERR_CACHE_UNSAFE_FILE' && err.path !== undefined) {
    if (ctx.unsafeReported.has(err.path)) return;
    ctx.unsafeReported.add(err.path);
  }
  ctx.summary.failed.push({
    identifier,
    ...(subscription ? { subscription } : {}),
    code: err.code,
    message: err.message,
    ...(err.reason ? { reason: err.reason } : {}),
  });
  ctx.record({
    image: identifier,
    ...(subscription ? { subscription } : {}),
    action: 'failed',
    code: err.code,
    message: err.message,
  });
}

/** Why an entry that is no longer a candidate (or no longer with these bytes) leaves the cache. */
async function expiryReason(ctx: RunContext, key: string, entry: CacheIndexEntry): Promise<ExpireReason> {
  const id = entryImage(key, entry);
  const c = candidateFor(ctx, key, entry);
  if (c) return 'withdrawn'; // still a candidate, with other bytes: the newest list replaced it
  const subscription = entrySubscription(entry);
  if (subscription === undefined) return 'not-endorsed';
  if (ctx.listExpired.has(subscription)) return 'expired';
  const refused = ctx.policyRefused.get(slotKey(subscription, id));
  if (refused) return refused.expiryReason ?? 'policy';
  const sub = await ctx.store.subscriber.getSubscription(subscription);
  if (!sub) return 'not-endorsed';
  const latest = sub.latest;
  if (latest && (latest.expired || latest.expires.getTime() <= ctx.now().getTime())) return 'expired';
  if (!sub.authorised) return 'not-endorsed';
  const def = (await ctx.store.subscriber.getImages(id)).find((d) => d.subscription === subscription);
  if (!def?.cache) return 'not-endorsed';
  // Subscribed, on an authorised subscription with a current list, and still not available: the newest list
  // no longer has it.
  return 'withdrawn';
}

/** Expires one cache entry with its hooks and events; false when a hook vetoed it or it could not be moved. */
export function expireEntry(
  ctx: RunContext,
  key: string,
  entry: CacheIndexEntry,
  reason: ExpireReason,
): Promise<boolean> {
  return ctx.serial.run(async () => {
    const { storage, indexes, events } = ctx;
    const id = entryImage(key, entry);
    const subscription = entrySubscription(entry);
    const log = ctx.about(id, subscription);
    const filename = entryFilename(key, entry);
    const path = storage.path('cache', filename);
    const metadata = eventMetadata(entry, { filename, reason });
    const hookEvent = {
      session: ctx.session,
      identifier: id,
      subscription: subscription ?? '',
      metadata,
      filename,
      path,
      reason,
    };
    if (!(await events.before('image:expire:before', hookEvent, log))) {
      ctx.summary.vetoed.push({ identifier: id, step: 'expire' });
      return false;
    }
    await events.fire('ExpirePrefix', metadata);

    const stamp = utcStamp(ctx.now());
    let expiredName = `${filename}.${stamp}`;
    for (let n = 1; indexes.expired.has(expiredName) || (await storage.stat('expired', expiredName)); n++)
      expiredName = `${filename}.${stamp}.${n}`;
    // Indexed in expired/ before the move, so a crash in between never leaves an unindexed file there; with the
    // ExpirePostfix to send, which the next run finishes or undoes (settleExpiries) and sends (sendPending).
    const eventId = randomUUID();
    const expiredEntry = withFields(entry, { filename: expiredName, DownLoadTrys: undefined });
    indexes.expired.set(
      expiredName,
      events.sent
        ? withFields(expiredEntry, {
            [PENDING_FIELD]: pendingEvent('ExpirePostfix', eventId, { key, filename, reason }),
          })
        : expiredEntry,
    );
    await indexes.save();
    let moved: 'moved' | 'missing';
    try {
      moved = await storage.move('cache', filename, 'expired', expiredName);
    } catch (err) {
      const e = asCacheError(err, { image: id, ...(subscription ? { subscription } : {}) });
      indexes.expired.delete(expiredName);
      if (e.code !== 'ERR_CACHE_UNSAFE_FILE') {
        await indexes.save();
        throw e;
      }
      // A link or other file where the cache file was: not ours any more, never moved or followed.
      log('error', `${e.message}; not expired`);
      recordFailure(ctx, id, subscription, e);
      if (e.path === path) indexes.cache.delete(key);
      await indexes.save();
      return false;
    }
    if (moved === 'missing') {
      log('warn', `cached file ${path} is missing; dropping its entry`);
      // An entry with an event to send stays until it is sent.
      if (!events.sent) indexes.expired.delete(expiredName);
    }
    indexes.cache.delete(key);
    await indexes.save();
    const after = moved === 'moved' ? expiredName : filename;
    const afterMetadata = eventMetadata(metadata, { filename: after });
    if ((await events.send('ExpirePostfix', afterMetadata, eventId)).queued && events.sent) {
      if (moved === 'moved') indexes.expired.set(expiredName, expiredEntry);
      else indexes.expired.delete(expiredName);
      await indexes.save();
    }
    await events.after(
      'image:expire:after',
      {
        ...hookEvent,
        metadata: afterMetadata,
        filename: after,
        path: moved === 'moved' ? storage.path('expired', expiredName) : path,
      },
      log,
    );
    ctx.summary.expired.push(id);
    ctx.record({ image: id, subscription, action: 'expired', message: reason });
    log(
      'info',
      `expired (${reason})${moved === 'moved' ? ` to ${storage.path('expired', expiredName)}` : ''}`,
    );
    return true;
  });
}
