// Step 5 (`check`, vmcatcher_cache -s): re-hash every cached file; a corrupt or missing one is expired WITH its
// events (the originals deleted it silently, reference §6.12) and reported as `ERR_CACHE_CORRUPT`.
import {
  entryFilename,
  entryImage,
  entrySha512,
  entrySize,
  entrySubscription,
  eventMetadata,
} from '../entries.js';
import { asCacheError, ImageCacheError } from '../errors.js';
import type { VerifyFailedHookEvent } from '../hooks.js';
import type { RunContext } from './context.js';
import { expireEntry, recordFailure } from './expire.js';

export async function checkStep(ctx: RunContext): Promise<void> {
  const { storage, indexes } = ctx;
  for (const [key, entry] of indexes.cache.list()) {
    const id = entryImage(key, entry);
    const subscription = entrySubscription(entry);
    const about = { image: id, ...(subscription ? { subscription } : {}) };
    const log = ctx.about(id, subscription);
    const filename = entryFilename(key, entry);
    const expected = { size: entrySize(entry), sha512: entrySha512(entry) };
    let actual: { size: number; sha512: string } | undefined;
    try {
      actual = await storage.hash('cache', filename);
    } catch (err) {
      const e = asCacheError(err, about);
      if (e.code !== 'ERR_CACHE_UNSAFE_FILE') throw e;
      log('error', `${e.message}; left alone, the image is cached again`);
      recordFailure(ctx, id, subscription, e);
      indexes.cache.delete(key);
      await indexes.save();
      continue;
    }
    if (actual && actual.size === expected.size && actual.sha512 === expected.sha512) {
      ctx.summary.verified.push(id);
      continue;
    }
    const reason = !actual ? 'missing' : actual.size !== expected.size ? 'size' : 'sha512';
    const path = storage.path('cache', filename);
    log(
      'error',
      reason === 'missing' ? `cached file ${path} is missing` : `cached file ${path} is corrupt (${reason})`,
    );
    await verifyFailed(ctx, {
      identifier: id,
      subscription: subscription ?? '',
      metadata: eventMetadata(entry, { filename }),
      stage: 'check',
      reason,
      expected,
      ...(actual ? { actual } : {}),
    });
    recordFailure(
      ctx,
      id,
      subscription,
      new ImageCacheError(
        'ERR_CACHE_CORRUPT',
        reason === 'missing'
          ? `cached file ${path} is missing`
          : `cached file ${path} does not match its list (${reason})`,
        { ...about, path, reason },
      ),
    );
    await expireEntry(ctx, key, entry, 'corrupt');
  }
}

/** The `image:verify:failed` hook and, when asked for, the `ImageVerifyFailed` event. */
export async function verifyFailed(
  ctx: RunContext,
  event: Omit<VerifyFailedHookEvent, 'session'>,
): Promise<void> {
  const log = ctx.about(event.identifier, event.subscription || undefined);
  await ctx.events.after('image:verify:failed', { session: ctx.session, ...event }, log);
  await ctx.events.fireExtended(
    'ImageVerifyFailed',
    eventMetadata(event.metadata, {
      'vmcatcher:verify.stage': event.stage,
      'vmcatcher:verify.reason': event.reason,
    }),
  );
}
