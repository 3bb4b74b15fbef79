export { runEventCommand } from './command.js';
export type { EventCommandResult, RunEventCommandOptions } from './command.js';
export { CONFIG_VARIABLE_NAMES, EVENT_VARIABLE_NAMES, eventEnvironment } from './environment.js';
export { LEGACY_EVENT_TYPES } from './types.js';
export type {
  EventDirectories,
  EventLogger,
  EventLogLevel,
  LegacyEventType,
  VmcatcherEvent,
} from './types.js';
