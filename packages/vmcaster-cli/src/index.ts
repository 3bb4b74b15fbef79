// @hepix/vmcaster-cli: the publisher's domain logic, usable without the command line.
export {
  type Compression,
  compressFile,
  compressionForFormat,
  type Digest,
  DigestTap,
  detectCompression,
  detectFileCompression,
  digestFile,
} from './compression.js';
export {
  isVmcasterError,
  VmcasterError,
  type VmcasterErrorCode,
  type VmcasterErrorOptions,
} from './errors.js';
export { type ExecuteContext, execute, type LogLevel, type Output } from './execute.js';
export { EXIT, exitCodeFor } from './exit-codes.js';
export {
  downloadImageList,
  extractUnverifiedContent,
  type FetchOptions,
  fetchList,
  type ImportOutcome,
  importJsonImageList,
  importSignedImageList,
  openSignedList,
  type VerifiedContent,
  type VerifyOptions,
} from './import.js';
export { legacyFlags, parseLegacyArgs } from './legacy.js';
export { type CliIo, HELP, runCli } from './main.js';
export { parseModernArgs } from './modern.js';
export {
  checkSigningCertificate,
  exportImageList,
  type PreparedImageList,
  type PrepareOptions,
  prepareImageList,
  previewImageList,
  publishImageList,
  type PublishImageListOptions,
  type PublishImageListResult,
  type Signer,
  type SignerIdentity,
  strictIssues,
} from './publish.js';
export type { Action, Entity, GlobalOptions, Request } from './request.js';
export {
  DEFAULT_CA_DIR,
  DEFAULT_DATABASE,
  DEFAULT_LIFETIME_DAYS,
  findConfigFile,
  parseLifetime,
  resolveSettings,
  SYSTEM_CONFIG_FILE,
  type Settings,
  type SettingsInput,
} from './settings.js';
export { type LoadSignerOptions, loadSigner, mapKeyError } from './signer.js';
export {
  newImageUri,
  nextVersion,
  type UploadImageOptions,
  type UploadImageResult,
  type UploadPhase,
  type UploadTarget,
  uploadImage,
  uploadTimestamp,
} from './upload-image.js';
