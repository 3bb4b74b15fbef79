// Step 3: what the cache must hold: every image subscribed for caching and available from the newest list of an
// authorised subscription (state 3), keyed by subscription AND identifier, so the same identifier published by
// two endorsers is two images that never replace each other's file.
import type { TrustAnchorMode } from '@hepix/imagelist-store';
import { evaluateStoredImage, refusalDetail } from '../../policy.js';
import { type Candidate, entryImage, entrySubscription, sameImage, slotKey } from '../entries.js';
import type { CacheIndexEntry } from '../index-file.js';
import type { RunContext } from './context.js';

export async function loadCandidates(ctx: RunContext): Promise<void> {
  const { store } = ctx;
  const at = ctx.now();
  const anchors = new Map<string, TrustAnchorMode>(
    (await store.subscriber.listSubscriptions()).map((s) => [s.identifier, s.trustAnchor]),
  );
  const marked = new Set<number>();
  for (const c of await store.subscriber.listCacheCandidates()) {
    if (c.list.expired || c.list.expires.getTime() <= at.getTime()) {
      // Reference §6.7: an expired list must stop endorsing its images, whether or not it was re-fetched.
      ctx.listExpired.add(c.subscription);
      if (!c.list.expired && !marked.has(c.list.id)) {
        marked.add(c.list.id);
        await store.subscriber.markImageListExpired(c.list.id, at);
        ctx.log('info', `image list expired at ${c.list.expires.toISOString()}`, {
          subscription: c.subscription,
          name: 'cache',
        });
      }
      continue;
    }
    // The site policy: a refused image is not a candidate (never downloaded; cached, it is expired with the
    // decision's reason). Its warnings (deprecated under `warn`) are logged at every run.
    const verdict = evaluateStoredImage(ctx.settings.policy, c.latest, c.list, {
      now: at,
      subscription: c.subscription,
    });
    const about = ctx.about(c.identifier, c.subscription);
    for (const w of verdict.warnings) about('warn', w);
    if (verdict.decision === 'refuse') {
      ctx.policyRefused.set(slotKey(c.subscription, c.identifier), verdict);
      about('info', `refused by the site policy (${verdict.refusedBy}): ${refusalDetail(verdict)}`, {
        rule: verdict.refusedBy,
      });
      continue;
    }
    const candidate: Candidate = {
      subscription: c.subscription,
      identifier: c.identifier,
      latest: c.latest,
      list: c.list,
      trustAnchor: anchors.get(c.subscription) ?? 'browser',
    };
    ctx.candidates.set(slotKey(c.subscription, c.identifier), candidate);
    const same = ctx.byIdentifier.get(c.identifier) ?? [];
    same.push(candidate);
    ctx.byIdentifier.set(c.identifier, same);
  }
}

/**
 * The candidate an index entry belongs to. Entries name their subscription; one without (very old versions) is
 * matched by identifier, preferring the subscription that lists the same bytes.
 */
export function candidateFor(ctx: RunContext, key: string, entry: CacheIndexEntry): Candidate | undefined {
  const id = entryImage(key, entry);
  const subscription = entrySubscription(entry);
  if (subscription !== undefined) return ctx.candidates.get(slotKey(subscription, id));
  const same = ctx.byIdentifier.get(id) ?? [];
  return same.find((c) => sameImage(entry, c.latest)) ?? (same.length === 1 ? same[0] : undefined);
}
