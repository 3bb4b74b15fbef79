export { runEventCommand } from './command.js';
export { deliverEvent, describeFailure } from './deliver.js';
export type { DeliverEventResult } from './deliver.js';
export type { EventCommandResult, RunEventCommandOptions } from './command.js';
export {
  CONFIG_VARIABLE_NAMES,
  EVENT_VARIABLE_NAMES,
  eventEnvironment,
  MAX_EVENT_VALUE_BYTES,
  TRUNCATED_VARIABLE,
  TRUNCATION_MARKER,
} from './environment.js';
export { LEGACY_EVENT_TYPES } from './types.js';
export type {
  AnyVmcatcherEvent,
  EventDirectories,
  EventLogger,
  EventLogLevel,
  ExtendedEventType,
  ExtendedVmcatcherEvent,
  LegacyEventType,
  VmcatcherEvent,
} from './types.js';
