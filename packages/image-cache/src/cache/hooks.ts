import type { CacheIndexEntry } from './index-file.js';

/** What every image hook receives. */
export interface ImageHookEvent {
  /** The run's session id (also `VMCATCHER_EVENT_UUID_SESSION`). */
  session: string;
  identifier: string;
  /** Flat image and list metadata, as in a `cache.index` entry (without the signed `message`). */
  metadata: CacheIndexEntry;
  /** The image file's basename in `directory` (for `image:expire:after`, the name in the expired directory). */
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

export type ExpireReason =
  /** No longer subscribed, available, in the newest list, or its sha512/size changed. */
  | 'not-endorsed'
  /** The list it came from has expired. */
  | 'list-expired'
  /** `check` found the cached file corrupt. */
  | 'corrupt';

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
  /** Images that could not be cached, with the error code. */
  failed: { identifier: string; code: string; message: string }[];
  /** Files in the cache directories that the cache did not create (left alone). */
  foreign: string[];
}

export async function callHooks<E>(hooks: Hooks<E> | undefined, event: E): Promise<void> {
  if (!hooks) return;
  for (const hook of Array.isArray(hooks) ? hooks : [hooks]) await hook(event);
}
