// Public API of @hepix/object-store: named re-exports only.
export {
  OBJECT_STORE_ERROR_CODES,
  ObjectStoreError,
  type ObjectStoreErrorCode,
  type ObjectStoreErrorContext,
} from './errors.js';
export { checkSha512, expiredKey, imageKey, type ParsedObjectUrl, parseObjectUrl } from './keys.js';
export {
  createObjectStore,
  type GetOptions,
  type ListedObject,
  type PendingUpload,
  type ObjectHead,
  type ObjectStore,
  type ObjectStoreCredentials,
  type ObjectStoreOptions,
} from './store.js';
export type { PutStreamOptions, PutStreamResult, UploadProgress } from './upload.js';
export { type PutVerifiedOptions, type PutVerifiedResult, putVerified } from './verified.js';
