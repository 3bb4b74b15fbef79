export { formatImageListDate, parseImageListDate } from './dates.js';
export {
  IMAGELIST_ERROR_CODES,
  ImageListDateError,
  ImageListError,
  type ImageListErrorCode,
  type ImageListInvalidReason,
  ImageListSerializeError,
  ImageListValidationError,
  ImageListVersionError,
  MAX_ISSUES,
  type ValidationIssue,
} from './errors.js';
export {
  IMAGE_LIST_SCHEMA_ID,
  imageListSchema,
  REQUIRED_ENDORSER_KEYS,
  REQUIRED_IMAGE_KEYS,
  REQUIRED_IMAGELIST_KEYS,
} from './schema.js';
export { serializeImageList } from './serialize.js';
export type {
  Endorser,
  EndorserX509,
  Image,
  ImageEntry,
  ImageList,
  ImageListBody,
  IntegerLike,
  ValidationMode,
} from './types.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DEPTH,
  imageSize,
  listEndorsers,
  MAX_DROPPED_DETAILS,
  MAX_ENDORSERS,
  type ValidateOptions,
  type ValidationResult,
  validateImageList,
  validateImageListDetailed,
} from './validate.js';
export { bumpVersion, compareVersions } from './versions.js';
