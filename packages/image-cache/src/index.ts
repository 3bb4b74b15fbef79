// Subscriptions (updates on @hepix/imagelist-client, re-validation of stored lists): src/subscriptions.
export {
  checkStoredList,
  createSubscriptions,
  imageInstances,
  type ListFetchOptions,
  type NewImageEvent,
  type RevalidateOptions,
  revalidateStoredLists,
  type StoredListCheck,
  SUBSCRIPTION_ERROR_CODES,
  type SubscribeOptions,
  type SubscribeResult,
  type SubscriptionErrorCode,
  type Subscriptions,
  type SubscriptionsOptions,
  type SubscriptionUpdateError,
  type SubscriptionUpdateResult,
  type UpdateOptions,
  type UpdateOutcome,
  type UpdateResult,
  type UpdateSelection,
  withdrawalCode,
} from './subscriptions/index.js';

// Transfer limits shared by list fetches and image downloads (--fetch-timeout, --min-rate).
export {
  belowMinRate,
  DEFAULT_FETCH_TIMEOUT_SECONDS,
  DEFAULT_MIN_RATE_BYTES_PER_SECOND,
  DEFAULT_RATE_WINDOW_SECONDS,
  type RateSample,
  type RateWatch,
  type TransferLimits,
  transferDeadline,
  transferLimits,
  watchRate,
} from './deadlines.js';

// Events for the administrator's event command (reference §3.5).
export {
  CONFIG_VARIABLE_NAMES,
  deliverEvent,
  describeFailure,
  EVENT_VARIABLE_NAMES,
  LEGACY_EVENT_TYPES,
  eventEnvironment,
  runEventCommand,
} from './events/index.js';
export type {
  AnyVmcatcherEvent,
  DeliverEventResult,
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
