import type { SubscriptionErrorCode } from '../subscriptions/codes.js';

export type ImageCacheErrorCode =
  /** The subscription engine's codes (src/subscriptions/codes.ts). */
  | SubscriptionErrorCode
  /** A cache directory is missing, not a directory, or not writable. */
  | 'ERR_CACHE_DIRECTORY'
  /** A `cache.index` file is not a JSON object. */
  | 'ERR_CACHE_INDEX'
  /** The transfer failed (network, HTTP status, unknown scheme) after every retry. */
  | 'ERR_CACHE_DOWNLOAD'
  /** The downloaded bytes do not match `hv:size` or `sl:checksum:sha512`. */
  | 'ERR_CACHE_VERIFY'
  /** The partial directory has less free space than the image needs. */
  | 'ERR_CACHE_NO_SPACE'
  /** A `before` hook threw, so the step it guards was not done. */
  | 'ERR_CACHE_VETOED'
  /** The image failed too often for the same list and is left until a new list arrives. */
  | 'ERR_CACHE_GAVE_UP';

/** The base error of `@hepix/image-cache`'s cache: a stable `code`, the image concerned, and the `cause`. */
export class ImageCacheError extends Error {
  override readonly name = 'ImageCacheError';
  readonly code: ImageCacheErrorCode;
  /** The image's `dc:identifier`, when the error concerns one image. */
  readonly identifier?: string;
  /** The file or directory concerned. */
  readonly path?: string;
  /** The URL concerned. */
  readonly uri?: string;
  /** HTTP status, when the server answered with an error. */
  readonly status?: number;

  constructor(
    code: ImageCacheErrorCode,
    message: string,
    options: { identifier?: string; path?: string; uri?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.identifier !== undefined) this.identifier = options.identifier;
    if (options.path !== undefined) this.path = options.path;
    if (options.uri !== undefined) this.uri = options.uri;
    if (options.status !== undefined) this.status = options.status;
  }
}
