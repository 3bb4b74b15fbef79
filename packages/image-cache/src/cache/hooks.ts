import type { ImageCacheErrorCode } from './errors.js';
import type { CacheIndexEntry } from './index-file.js';

/** What every image hook receives. */
export interface ImageHookEvent {
  /** The run's session id (also `VMCATCHER_EVENT_UUID_SESSION`). */
  session: string;
  identifier: string;
  /** The subscription (list `dc:identifier`) the image belongs to. */
  subscription: string;
  /** Flat image and list metadata, as in a `cache.index` entry (without the signed `message`). */
  metadata: CacheIndexEntry;
  /**
   * The image file's basename in its directory (for `image:expire:after`, the name in the expired directory). It
   * is `<identifier>` for an ordinary identifier, and `<identifier>+<n>` for the same identifier in a second
   * subscription: use it, never the identifier, to find the file.
   */
  filename: string;
  /** The absolute path of the file the step concerns. */
  path: string;
}

export interface ProcessHookEvent {
  session: string;
  dirs: { cache: string; partial: string; expired: string };
  actions: { download: boolean; check: boolean; expire: boolean };
}

export interface ImageNewHookEvent {
  session: string;
  identifier: string;
  /** The subscription (list) the new image appeared in. */
  subscription: string;
  /** The raw `hv:image` object. */
  image: Record<string, unknown>;
}

export interface VerifyFailedHookEvent {
  session: string;
  identifier: string;
  subscription: string;
  metadata: CacheIndexEntry;
  /** Where the mismatch was found: a fresh download or a cached file re-hashed by `check`. */
  stage: 'download' | 'check';
  reason: 'size' | 'sha512' | 'missing';
  expected: { size: number; sha512: string };
  actual?: { size: number; sha512?: string };
}

export interface ProgressHookEvent {
  session: string;
  identifier: string;
  subscription: string;
  bytes: number;
  total: number;
  /** Set when the transfer resumed a partial file. */
  resumedFrom?: number;
}

type Hook<E> = (event: E) => unknown | Promise<unknown>;
type Hooks<E> = Hook<E> | Hook<E>[];

/**
 * Awaited hooks for connector authors. A `…:before` hook that throws vetoes that step (the image is not made
 * available, not expired; `process:before` aborts the run); other hooks that throw are logged and ignored.
 */
export interface CacheHooks {
  'process:before'?: Hooks<ProcessHookEvent>;
  'process:after'?: Hooks<ProcessHookEvent & { result: CacheRunSummary }>;
  'image:available:before'?: Hooks<ImageHookEvent>;
  'image:available:after'?: Hooks<ImageHookEvent>;
  'image:expire:before'?: Hooks<ImageHookEvent & { reason: ExpireReason }>;
  'image:expire:after'?: Hooks<ImageHookEvent & { reason: ExpireReason }>;
  /**
   * `SubscriptionImageNew`, for connectors that keep all their hooks in one object; the cache never fires it
   * (subscription updates report new images through `createSubscriptions({ onNewImage })`).
   */
  'image:new'?: Hooks<ImageNewHookEvent>;
  'image:verify:failed'?: Hooks<VerifyFailedHookEvent>;
  progress?: Hooks<ProgressHookEvent>;
}

/**
 * Why an image left the cache (also `metadata.reason` and `VMCATCHER_EVENT_REASON` of ExpirePrefix and
 * ExpirePostfix). A later version may add reasons: treat an unknown one like `not-endorsed`.
 */
export type ExpireReason =
  /** No longer subscribed for caching, or its subscription was deleted, deauthorised or refused the image. */
  | 'not-endorsed'
  /** The list it came from has expired (`dc:date:expires` passed, or the list was marked expired). */
  | 'expired'
  /** The newest list no longer has the image with these bytes: removed, or replaced by another sha512/size. */
  | 'withdrawn'
  /** `check` found the cached file corrupt or missing. */
  | 'corrupt'
  /** The site policy refuses it now (an endorser, image, checksum, format or size rule). */
  | 'policy'
  /** Its entry carries `sl:deprecated` and the site policy refuses deprecated images (the default). */
  | 'deprecated';

/** Every expiry reason, in a stable order. */
export const EXPIRE_REASONS: readonly ExpireReason[] = [
  'not-endorsed',
  'expired',
  'withdrawn',
  'corrupt',
  'policy',
  'deprecated',
];

export interface CacheRunFailure {
  identifier: string;
  subscription?: string;
  code: ImageCacheErrorCode;
  message: string;
  /** `ERR_CACHE_VERIFY` / `ERR_CACHE_CORRUPT`: which check failed. */
  reason?: 'size' | 'sha512' | 'missing';
}

export interface CacheRunSummary {
  session: string;
  /** Identifiers made available in this run. */
  downloaded: string[];
  /** Identifiers moved to the expired directory. */
  expired: string[];
  /** Cached files re-hashed and found intact. */
  verified: string[];
  /** Steps a `before` hook vetoed. */
  vetoed: { identifier: string; step: 'available' | 'expire' }[];
  /** Images that could not be cached, or cached files found corrupt or unsafe, with the error code. */
  failed: CacheRunFailure[];
  /** Files in the cache directories that the cache did not create (left alone). */
  foreign: string[];
  /** Old expired copies removed by the retention rule (`expiredKeep`), as names in the expired directory. */
  pruned: string[];
  /** Events the event command failed for (recorded for `retryEvents`). */
  eventFailures: { type: string; identifier?: string; failedEventId?: number }[];
  /**
   * With several workers (`workers`): images this run left to the worker that had claimed them, or found
   * cached by another worker once it could look. Absent for a single worker.
   */
  claimedElsewhere?: { identifier: string; subscription: string }[];
}

export async function callHooks<E>(hooks: Hooks<E> | undefined, event: E): Promise<void> {
  if (!hooks) return;
  for (const hook of Array.isArray(hooks) ? hooks : [hooks]) await hook(event);
}
