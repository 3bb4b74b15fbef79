// Events for the administrator's event command (reference §3.5).
export {
  CONFIG_VARIABLE_NAMES,
  EVENT_VARIABLE_NAMES,
  LEGACY_EVENT_TYPES,
  eventEnvironment,
  runEventCommand,
} from './events/index.js';
export type {
  EventCommandResult,
  EventDirectories,
  EventLogger,
  EventLogLevel,
  LegacyEventType,
  RunEventCommandOptions,
  VmcatcherEvent,
} from './events/index.js';
