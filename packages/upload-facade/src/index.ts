export { commandBackend, GSIDCAP_PRESET } from './backends/command.js';
export type { AppDbResult } from './backends/egiappdb.js';
export { appDbActions, appDbEndpoint, egiAppDbBackend } from './backends/egiappdb.js';
export { davUrl, httpBackend } from './backends/http.js';
export { localBackend } from './backends/local.js';
export { builtinBackends } from './backends/registry.js';
export type { SshTarget } from './backends/ssh.js';
export { parseSshTarget, sshBackend } from './backends/ssh.js';
export type { UploadConfig, UploadConfigSection } from './config.js';
export { loadUploadConfig, parseUploadConfig } from './config.js';
export type { UploadErrorCode, UploadErrorContext } from './errors.js';
export { isUploadError, UploadError } from './errors.js';
export type { ResolvedTarget, UploadDiagnostic, UploadFacade, UploadFacadeOptions } from './facade.js';
export { createUploadFacade, UPLOAD_DIAGNOSTICS_CHANNEL } from './facade.js';
export { pythonSub } from './mapping.js';
export type {
  BackendCapabilities,
  BackendFactory,
  BackendFactoryOptions,
  LogLevel,
  OpOptions,
  PutOptions,
  TargetStat,
  UploadBackend,
  UploadLogger,
  UploadProgress,
  UploadSource,
} from './types.js';
