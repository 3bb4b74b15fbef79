import type { Logger, LogLevel } from '@hepix/common';
/** The event types the original vmcatcher sends to its event command (reference §3.5), spelled exactly. */
export type LegacyEventType =
  | 'ProcessPrefix'
  | 'ProcessPostfix'
  | 'AvailablePrefix'
  | 'AvailablePostfix'
  | 'ExpirePrefix'
  | 'ExpirePostfix'
  | 'SubscriptionImageNew';

/** Every legacy event type, in the order a cache run can send them. */
export const LEGACY_EVENT_TYPES: readonly LegacyEventType[] = [
  'ProcessPrefix',
  'ExpirePrefix',
  'ExpirePostfix',
  'AvailablePrefix',
  'AvailablePostfix',
  'ProcessPostfix',
  'SubscriptionImageNew',
];

/**
 * Event types that are new in this library. They reach an event command only when the caller asks for them
 * (`commandEvents`), so handlers written for the originals never see them.
 */
export type ExtendedEventType = 'ImageVerifyFailed' | 'ImageProgress';

/** The cache directories as the event command sees them (`VMCATCHER_CACHE_DIR_*`). */
export interface EventDirectories {
  cache?: string;
  partial?: string;
  expired?: string;
}

/**
 * One event for an administrator's event command. `metadata` is flat, with the keys of a `cache.index` entry
 * (reference §3.4): `dc:identifier`, `hv:uri`, `sl:checksum:sha512`, `hv:size`, `hv:image.hv:format`,
 * `hv:image.ad:mpuri`, `hv:imagelist.dc:identifier`, `hv:imagelist.ad:vo`, `filename`, …
 */
export interface VmcatcherEvent {
  type: LegacyEventType;
  /**
   * The event's own id (a UUID, `VMCATCHER_EVENT_UUID`). An AvailablePostfix or ExpirePostfix that a run was
   * interrupted before sending is sent by the next run with the same id, so that consumers can drop a duplicate.
   * Absent in events recorded by versions before it.
   */
  id?: string;
  /** The run's session id (`VMCATCHER_EVENT_UUID_SESSION`). */
  session: string;
  metadata?: Record<string, unknown>;
  dirs?: EventDirectories;
  /** The database URL (`VMCATCHER_RDBMS`), without a password. */
  database?: string;
}

/** The one logger type of every package (`@hepix/common`). */
export type EventLogLevel = LogLevel;
export type EventLogger = Logger;

/** An event of a type new in this library (see `ExtendedEventType`). */
export interface ExtendedVmcatcherEvent extends Omit<VmcatcherEvent, 'type'> {
  type: ExtendedEventType;
}

/** Anything an event command can receive. */
export type AnyVmcatcherEvent = VmcatcherEvent | ExtendedVmcatcherEvent;
