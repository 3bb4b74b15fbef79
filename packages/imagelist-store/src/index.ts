// Public API of @hepix/imagelist-store: named re-exports only.
export type {
  CreateStoreOptions,
  FailedEvent,
  ImageInstance,
  ImportPlan,
  ImportPlanEndorser,
  ImportPlanImage,
  ImportPlanList,
  ImportResult,
  ImportSubject,
  LegacyMigration,
  ListWithdrawal,
  Metadata,
  OpenStoreOptions,
  Principal,
  PublisherEndorser,
  PublisherImage,
  PublisherImageList,
  PublisherImageListContents,
  PublisherRepository,
  RecordImageListInput,
  RecordImageListResult,
  RunItem,
  RunItemInput,
  RunOutcome,
  RunRecord,
  RunRecorder,
  RunTool,
  RunTotal,
  Store,
  StoredImageList,
  StoredImageListSummary,
  StoreRepositories,
  SubscribedImage,
  SubscriberEndorser,
  SubscriberRepository,
  Subscription,
  SubscriptionLink,
  TrustAnchorMode,
  UpdateMode,
} from './api.js';
export type { ClaimHeartbeat, ClaimOptions, WorkClaim, WorkClaims } from './claims.js';
export type {
  BulkColumn,
  DialectDdl,
  DialectName,
  DialectSql,
  SqlValueType,
  StoreDialect,
  TableInfo,
} from './dialect.js';
export type { StoreErrorCode, StoreErrorContext } from './errors.js';
export { STORE_ERROR_CODES, StoreError } from './errors.js';
export type { StoreExtension, StoreExtensionContext } from './extension.js';
export type { Lease, LeaseHolder, LeaseTimings, Locker, LockerOptions } from './lease.js';
export { createLeaseLocker, describeHolder, resolveLeaseTimings } from './lease.js';
export type {
  LegacyImportOptions,
  LegacyImportResult,
  LegacyTool,
  LegacyVmcasterImportResult,
  LegacyVmcatcherImportResult,
} from './legacy/index.js';
export { importLegacyDb, importLegacyVmcasterDb, importLegacyVmcatcherDb } from './legacy/index.js';
export { createStore, openStore, usingStore } from './store.js';
export { DEFAULT_RUN_HISTORY, RUN_OUTCOMES, RUN_TOOLS } from './subscriber/runs.js';
export type { ParsedStoreUrl } from './url.js';
export { parseStoreUrl, redactUrl } from './url.js';
