// Public API of @hepix/common: named re-exports only.
export { chunks, delay, mapLimit, utcStamp } from './async.js';
export {
  assignDefined,
  errorCodeOf,
  HepixError,
  type HepixErrorOptions,
  isHepixError,
  messageOf,
} from './errors.js';
export {
  type AtomicWriteOptions,
  atomicWriteFile,
  type FileDigest,
  type HashFileOptions,
  hashFile,
  openExclusive,
  sameBytes,
  sha512Hex,
  syncDirectory,
} from './fs.js';
export {
  asctime,
  escapeControl,
  formatContext,
  formatJsonRecord,
  formatPythonRecord,
  formatUtcTime,
  LEVEL_NUMBERS,
  type LogFields,
  type Logger,
  type LogLevel,
  type LogRecord,
  noopLogger,
  PYTHON_LEVEL_NAMES,
  withFields,
} from './log.js';
export {
  type CompletionCommand,
  type CompletionOption,
  type ManOption,
  type ManPage,
  renderBashCompletion,
  renderManPage,
  renderZshCompletion,
  roffText,
} from './manual.js';
export {
  createProgressRenderer,
  formatBytes,
  formatDuration,
  type ProgressRenderer,
  type ProgressRendererOptions,
} from './progress.js';
