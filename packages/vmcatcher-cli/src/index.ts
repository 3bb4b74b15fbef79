// Programmatic entry points of the vmcatcher tools (each returns the exit code).

export { registerSubcommand, runVmcatcher } from './commands/dispatch.js';
export { runEndorserCommand } from './commands/endorser.js';
export { runHistoryCommand } from './commands/history.js';
export { runImageCommand } from './commands/image.js';
export { runImportLegacyCommand } from './commands/import-legacy.js';
export { runStatusCommand } from './commands/status.js';
export { runSubscribeCommand } from './commands/subscribe.js';
export { type CliIo, exitCodeFor, type OutputFormat } from './common/context.js';
