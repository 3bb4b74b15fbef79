export {
  type CacheDirectories,
  type CacheRunActions,
  type CacheRunOptions,
  createImageCache,
  DEFAULT_CLAIM_LEASE_MS,
  DEFAULT_EXPIRED_KEEP,
  DEFAULT_MAX_EVENT_ATTEMPTS,
  type ImageCache,
  type ImageCacheOptions,
} from './cache.js';
export type { Candidate } from './entries.js';
export {
  asCacheError,
  CACHE_ERROR_CODES,
  type CacheErrorCode,
  type FoundKind,
  IMAGE_CACHE_ERROR_CODES,
  ImageCacheError,
  type ImageCacheErrorCode,
  type ImageCacheErrorContext,
  type VerifyReason,
} from './errors.js';
export {
  type CacheHooks,
  type CacheRunFailure,
  type CacheRunSummary,
  EXPIRE_REASONS,
  type ExpireReason,
  type ImageHookEvent,
  type ImageNewHookEvent,
  type ProcessHookEvent,
  type ProgressHookEvent,
  type VerifyFailedHookEvent,
} from './hooks.js';
export {
  type CacheIndex,
  type CacheIndexEntry,
  parseIndex,
  readIndex,
  serializeIndex,
  writeIndex,
} from './index-file.js';
export { expiryTimestamp, imageFileName, INDEX_FILE, MESSAGES_DIR } from './names.js';
export type { RetryEventsOptions, RetryEventsResult } from './run/retry-events.js';
export {
  CACHE_AREAS,
  type CacheArea,
  type CacheStorage,
  createDirectoryStorage,
  type DirectoryStorageOptions,
  type PartialFile,
  type StoredFile,
} from './storage.js';
export { type DownloadOptions, imageSource, imageTrust } from './transfer.js';
