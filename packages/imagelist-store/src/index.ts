// Public API of @hepix/imagelist-store: named re-exports only.
export type {
  FailedEvent,
  ImageInstance,
  ImportResult,
  Metadata,
  OpenStoreOptions,
  Principal,
  PublisherEndorser,
  PublisherImage,
  PublisherImageList,
  PublisherRepository,
  RecordImageListInput,
  RecordImageListResult,
  Store,
  StoredImageList,
  StoredImageListSummary,
  SubscribedImage,
  SubscriberEndorser,
  SubscriberRepository,
  Subscription,
  SubscriptionLink,
  TrustAnchorMode,
  UpdateMode,
} from './api.js';
export type { StoreErrorCode, StoreErrorContext } from './errors.js';
export { StoreError } from './errors.js';
export type { StoreExtension, StoreExtensionContext } from './extension.js';
export type { DialectName } from './migrations.js';
export type { LegacyVmcasterImportResult, LegacyVmcatcherImportResult } from './legacy.js';
export { importLegacyVmcasterDb, importLegacyVmcatcherDb } from './legacy.js';
export { openStore, usingStore } from './store.js';
export type { ParsedStoreUrl } from './url.js';
export { parseStoreUrl, redactUrl } from './url.js';
