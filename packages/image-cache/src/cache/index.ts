export { createImageCache } from './cache.js';
export type {
  CacheDirectories,
  CacheRunActions,
  ImageCache,
  ImageCacheOptions,
  RetryEventsResult,
} from './cache.js';
export type { DownloadOptions } from './download.js';
export { ImageCacheError } from './errors.js';
export type { ImageCacheErrorCode } from './errors.js';
export type {
  CacheHooks,
  CacheRunSummary,
  ExpireReason,
  ImageHookEvent,
  ImageNewHookEvent,
  ProcessHookEvent,
  ProgressHookEvent,
  VerifyFailedHookEvent,
} from './hooks.js';
export { readIndex, serializeIndex, writeIndex } from './index-file.js';
export type { CacheIndex, CacheIndexEntry } from './index-file.js';
export { expiryTimestamp, imageFileName } from './names.js';
