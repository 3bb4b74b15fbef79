// Public API of @hepix/imagelist-publisher: named re-exports only.
export {
  type Compression,
  compressFile,
  compressionForFormat,
  type Digest,
  detectCompression,
  detectFileCompression,
} from './compression.js';
export {
  ARRAY_KEYS,
  exportImageList,
  imageListDocument,
  importImageList,
  importPlan,
  importWins,
  INTEGER_KEYS,
  publishedImage,
  storedValue,
} from './document.js';
export {
  internal,
  PUBLISHER_ERROR_CODES,
  PublisherError,
  type PublisherErrorCode,
  type PublisherErrorContext,
} from './errors.js';
export {
  addImageLocation,
  deprecateImage,
  imageLocations,
  removeImageLocation,
  undeprecateImage,
} from './images.js';
export {
  type DownloadOptions,
  downloadImageList,
  extractUnverifiedContent,
  type ImportOutcome,
  importJsonImageList,
  importSignedImageList,
  openSignedImageList,
  type VerifyOptions,
} from './import.js';
export {
  checkSigningCertificate,
  EMPTY_ALLOWED,
  type PreparedImageList,
  type PrepareOptions,
  prepareImageList,
  previewImageList,
  publishImageList,
  type PublishImageListOptions,
  type PublishImageListResult,
  type SignerIdentity,
  strictIssues,
} from './publish.js';
export { isPkcs12Path, keyError, type LoadSignerOptions, loadSigner, type Signer } from './signer.js';
export { type TargetSource, type UploadKind, type UploadTarget, uploadFailure } from './target.js';
export {
  newImageUri,
  type UploadImageOptions,
  type UploadImageResult,
  type UploadPhase,
  uploadImage,
} from './upload-image.js';
export { nextVersion } from './versions.js';
