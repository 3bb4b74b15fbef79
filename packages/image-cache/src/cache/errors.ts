// The one error class of @hepix/image-cache, on HepixError of @hepix/common. Programs branch on `code` and on the
// typed fields (`reason` of a verify failure, `found` of an unsafe file), never on the message. No exit statuses
// here: the CLIs map codes to them.
import { assignDefined, HepixError } from '@hepix/common';
import { SUBSCRIPTION_ERROR_CODES } from '../subscriptions/codes.js';

/** The codes of the image cache (`vmcatcher_cache`). */
export const CACHE_ERROR_CODES = [
  /** A cache directory is missing (with `createDirectories: false`), not a directory, or not writable. */
  'ERR_CACHE_DIRECTORY',
  /** A `cache.index` file cannot be read or is not a JSON object. */
  'ERR_CACHE_INDEX',
  /** The transfer failed after every retry (network, HTTP status). */
  'ERR_CACHE_DOWNLOAD',
  /** The transfer ran past its overall deadline (size / minimum rate + fetch timeout) on every attempt. */
  'ERR_CACHE_DEADLINE',
  /** The https image server was not authenticated under the subscription's trust anchor. */
  'ERR_CACHE_TLS',
  /** No usable trust material: `igtf` without a CA directory, or an empty or unreadable one. */
  'ERR_CACHE_TRUST',
  /** A redirect refused by the policy (https to http, another scheme, too many). */
  'ERR_CACHE_REDIRECT',
  /** An image URI that is not http or https (`file:` unless allowed), or not a URI at all. */
  'ERR_CACHE_URI_REFUSED',
  /** The downloaded bytes do not match `hv:size` or `sl:checksum:sha512` (`reason`). */
  'ERR_CACHE_VERIFY',
  /** `check` found a cached file that no longer matches its list, or is missing (`reason`); it was expired. */
  'ERR_CACHE_CORRUPT',
  /** Not enough free space for the download, or the disk filled up while writing. */
  'ERR_CACHE_NO_SPACE',
  /** A symbolic link or other non-regular file where the cache reads or writes (`found`): refused, left alone. */
  'ERR_CACHE_UNSAFE_FILE',
  /** The image failed too often for the same signed list and is left until a new list arrives. */
  'ERR_CACHE_GAVE_UP',
  /** A `before` hook threw, so the step it guards was not done (`process:before`: the run). */
  'ERR_CACHE_VETOED',
  /** The event command failed or timed out for an event (recorded for `retryEvents`). */
  'ERR_CACHE_EVENT',
  /** The object store of an `s3://` cache failed or refused a request (`uri`; the object store's error is the `cause`). */
  'ERR_CACHE_OBJECT_STORE',
  /** Anything the cache did not foresee (a bug, a failing disk): the original error is the `cause`. */
  'ERR_CACHE_INTERNAL',
] as const;

/** Every code an {@link ImageCacheError} can carry: the cache's and the subscription engine's. */
export const IMAGE_CACHE_ERROR_CODES = [...CACHE_ERROR_CODES, ...SUBSCRIPTION_ERROR_CODES] as const;

export type CacheErrorCode = (typeof CACHE_ERROR_CODES)[number];
export type ImageCacheErrorCode = (typeof IMAGE_CACHE_ERROR_CODES)[number];

/** Why bytes did not match their list. */
export type VerifyReason = 'size' | 'sha512';

/** What was found where the cache expected its own regular file, or nothing. */
export type FoundKind = 'symlink' | 'directory' | 'fifo' | 'socket' | 'device' | 'file' | 'other';

export interface ImageCacheErrorContext {
  /** The image's `dc:identifier`. */
  image?: string;
  /** The subscription (list `dc:identifier`) the image belongs to. */
  subscription?: string;
  /** The file or directory concerned. */
  path?: string;
  /** The URL concerned, without credentials. */
  uri?: string;
  /** HTTP status, when the server answered with an error. */
  httpStatus?: number;
  /** `ERR_CACHE_VERIFY`: which check failed; `ERR_CACHE_CORRUPT` also `missing`. */
  reason?: VerifyReason | 'missing';
  /** `ERR_CACHE_UNSAFE_FILE`: what was found at `path`. */
  found?: FoundKind;
  /** `ERR_CACHE_NO_SPACE`: bytes needed and bytes free (when known). */
  needed?: number;
  free?: number;
  cause?: unknown;
}

/** The error class of `@hepix/image-cache`: a stable `code`, what it concerns, and the `cause`. */
export class ImageCacheError extends HepixError<ImageCacheErrorCode> {
  override readonly name = 'ImageCacheError';
  readonly image?: string;
  readonly subscription?: string;
  readonly path?: string;
  readonly uri?: string;
  readonly httpStatus?: number;
  readonly reason?: VerifyReason | 'missing';
  readonly found?: FoundKind;
  readonly needed?: number;
  readonly free?: number;

  constructor(code: ImageCacheErrorCode, message: string, context: ImageCacheErrorContext = {}) {
    const { cause, ...fields } = context;
    super(code, message, { cause });
    assignDefined<ImageCacheError>(this, fields);
  }
}

/** `err` as an ImageCacheError: itself, or `ERR_CACHE_INTERNAL` with it as the cause (never a misleading code). */
export function asCacheError(err: unknown, context: ImageCacheErrorContext = {}): ImageCacheError {
  if (err instanceof ImageCacheError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ImageCacheError('ERR_CACHE_INTERNAL', `internal error: ${message}`, { ...context, cause: err });
}
