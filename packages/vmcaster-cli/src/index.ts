// @hepix/vmcaster-cli: the `vmcaster` command line. The publishing workflow is @hepix/imagelist-publisher;
// this package parses arguments, resolves settings, prompts and prints, and maps error codes to exit statuses.
export { CLI_ERROR_CODES, CliError, type CliErrorCode } from './errors.js';
export { type ExecuteContext, execute, type Output, type SigningSettings } from './execute.js';
export { type EveryCode, EXIT, type ExitStatus, exitCodeFor, STATUS, STATUS_MEANINGS } from './exit.js';
export { legacyFlags, parseLegacyArgs } from './legacy.js';
export { type CliLogger, createCliLogger, type LogFormat, parseLogFormat } from './log.js';
export { type CliIo, exitStatusHelp, HELP, runCli } from './main.js';
export { parseModernArgs } from './modern.js';
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
