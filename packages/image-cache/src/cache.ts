// `@hepix/image-cache/cache`: the image cache alone, for a process that runs the cache and nothing else
// (`vmcatcher_cache`). It loads neither the S/MIME and X.509 stack nor the list client and schema of the
// subscriptions, nor the S3 SDK (createS3Storage stays in the main entry): each of them costs a CLI start
// tens of MiB of RSS and hundreds of ms of CPU (README, Performance).
export {
  type CacheDirectories,
  type CacheHooks,
  type CacheRunActions,
  type CacheRunOptions,
  type CacheRunSummary,
  type CacheStorage,
  createDirectoryStorage,
  createImageCache,
  DEFAULT_CLAIM_LEASE_MS,
  DEFAULT_EXPIRED_KEEP,
  DEFAULT_MAX_EVENT_ATTEMPTS,
  type ImageCache,
  type ImageCacheErrorCode,
  type ImageCacheOptions,
  type ProgressHookEvent,
} from './cache/index.js';
export { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MIN_RATE_BYTES_PER_S } from './deadlines.js';
export { WORK_CHANNEL } from './work-channel.js';
