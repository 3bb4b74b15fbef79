// The site policy (@hepix/site-policy) applied to what the store holds: the store knows nothing of the policy
// file, so availability under a policy is the store's state bit 2 AND the policy's decision, evaluated when it
// is asked for (a policy change counts at the next command, with nothing to migrate).
import type { ImageInstance, Store, StoredImageListSummary, SubscribedImage } from '@hepix/imagelist-store';
import {
  DEFAULT_POLICY,
  deprecationOf,
  evaluatePolicy,
  type PolicyDecision,
  type PolicyListFacts,
  type SitePolicy,
} from '@hepix/site-policy';

/** State value of an image whose latest entry carries `sl:deprecated` (beside 1 = cache and 2 = available). */
export const STATE_DEPRECATED = 4;

/** The policy's facts of a stored list: its signer and `dc:date:created`. */
export function storedListFacts(list: StoredImageListSummary, identifier?: string): PolicyListFacts {
  return {
    signer: { subject: list.signer.subject, issuer: list.signer.issuer },
    created: list.created,
    ...(identifier !== undefined ? { identifier } : {}),
  };
}

/** The decision of the policy on one stored image instance of one stored list. */
export function evaluateStoredImage(
  policy: SitePolicy,
  instance: ImageInstance,
  list: StoredImageListSummary,
  options: { now?: Date | (() => Date); subscription?: string } = {},
): PolicyDecision {
  return evaluatePolicy(policy, instance.image, storedListFacts(list, options.subscription), {
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
}

/** An image as `vmcatcher_image -l` shows it under a policy. */
export interface PolicyImageState extends SubscribedImage {
  /** The store's state with bit 2 cleared when the policy refuses the image, and 4 added when deprecated. */
  state: number;
  /** The store's own state bits (1 cache, 2 available). */
  storeState: number;
  /** The `sl:deprecated` reason of the latest entry. */
  deprecated?: string;
  /** The decision, for an image whose latest entry belongs to its subscription's latest list. */
  policy?: PolicyDecision;
}

/**
 * The images with their state under `policy` (default: {@link DEFAULT_POLICY}): an image the policy refuses
 * is not available (bit 2 cleared), a deprecated one carries 4. Reads each subscription's latest list once.
 */
export async function applyPolicy(
  store: Store,
  images: readonly SubscribedImage[],
  options: { policy?: SitePolicy; now?: Date | (() => Date) } = {},
): Promise<PolicyImageState[]> {
  const policy = options.policy ?? DEFAULT_POLICY;
  const lists = new Map<string, StoredImageListSummary | undefined>();
  const needed = new Set(images.filter((i) => i.latest).map((i) => i.subscription));
  if (needed.size) {
    for (const s of await store.subscriber.listSubscriptions())
      if (needed.has(s.identifier)) lists.set(s.identifier, s.latest);
  }
  return images.map((image) => {
    const out: PolicyImageState = { ...image, storeState: image.state };
    const latest = image.latest;
    if (!latest) return out;
    const deprecated = deprecationOf(latest.image);
    if (deprecated !== undefined) {
      out.deprecated = deprecated;
      out.state |= STATE_DEPRECATED;
    }
    const list = lists.get(image.subscription);
    if (list && list.id === latest.imageListId) {
      out.policy = evaluateStoredImage(policy, latest, list, {
        subscription: image.subscription,
        ...(options.now !== undefined ? { now: options.now } : {}),
      });
      if (out.policy.decision === 'refuse') out.state &= ~2;
    }
    return out;
  });
}

/** The detail of the rule that refused (for a log line or `--json`). */
export function refusalDetail(decision: PolicyDecision): string {
  return decision.reasons.find((r) => r.rule === decision.refusedBy)?.detail ?? '';
}
