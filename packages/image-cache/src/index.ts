// Subscriptions (list retrieval, verification, updates): src/subscriptions, src/fetch.
export {
  fetchImageList,
  type FetchedList,
  type FetchListOptions,
  type FetchLogger,
  ListFetcher,
  type ListFetcherOptions,
  type ParsedListUrl,
  parseListUrl,
  redactUrl,
  type TlsTrustMode,
} from './fetch/index.js';
export {
  type CrlPolicy,
  checkDates,
  createSubscriptions,
  imageInstances,
  type NewImageEvent,
  SUBSCRIPTION_STATUS,
  type SubscribeOptions,
  type SubscribeResult,
  SubscriptionError,
  type SubscriptionErrorCode,
  type SubscriptionErrorContext,
  type SubscriptionLogger,
  type Subscriptions,
  type SubscriptionsOptions,
  type SubscriptionUpdateResult,
  statusSeverity,
  type UpdateOptions,
  type UpdateOutcome,
  type UpdateResult,
  type UpdateSelection,
  type VerifiedImageList,
  verifyImageList,
  worstStatus,
} from './subscriptions/index.js';

// Events for the administrator's event command (reference §3.5).
export {
  CONFIG_VARIABLE_NAMES,
  EVENT_VARIABLE_NAMES,
  LEGACY_EVENT_TYPES,
  eventEnvironment,
  runEventCommand,
} from './events/index.js';
export type {
  AnyVmcatcherEvent,
  EventCommandResult,
  EventDirectories,
  EventLogger,
  EventLogLevel,
  ExtendedEventType,
  ExtendedVmcatcherEvent,
  LegacyEventType,
  RunEventCommandOptions,
  VmcatcherEvent,
} from './events/index.js';

// The image cache (vmcatcher_cache).
export {
  createImageCache,
  expiryTimestamp,
  ImageCacheError,
  imageFileName,
  readIndex,
  serializeIndex,
  writeIndex,
} from './cache/index.js';
export type {
  CacheDirectories,
  CacheHooks,
  CacheIndex,
  CacheIndexEntry,
  CacheRunActions,
  CacheRunSummary,
  DownloadOptions,
  ExpireReason,
  ImageCache,
  ImageCacheErrorCode,
  ImageCacheOptions,
  ImageHookEvent,
  ImageNewHookEvent,
  ProcessHookEvent,
  ProgressHookEvent,
  RetryEventsResult,
  VerifyFailedHookEvent,
} from './cache/index.js';
