// Events of a run: the administrator's event command (the originals' …Prefix/…Postfix, reference §3.5) and the
// in-process hooks around each step. A failing event command never vetoes a step: the failure is recorded in
// the store for `retryEvents` and counted in the summary, so the run can end with a status of its own.
import { randomUUID } from 'node:crypto';
import type { Logger } from '@hepix/common';
import type { Store } from '@hepix/imagelist-store';
import { deliverEvent } from '../../events/deliver.js';
import type { AnyVmcatcherEvent, ExtendedEventType, LegacyEventType } from '../../events/types.js';
import type { CacheIndexEntry } from '../index-file.js';
import { type CacheHooks, type CacheRunSummary, callHooks } from '../hooks.js';
import type { CacheArea } from '../storage.js';
import type { Settings } from './context.js';

type HookName = Exclude<keyof CacheHooks, 'progress' | 'image:new'>;
type HookEvent<N extends HookName> = Parameters<
  Extract<NonNullable<CacheHooks[N]>, (e: never) => unknown>
>[0];

export class RunEvents {
  constructor(
    private readonly store: Store,
    private readonly settings: Settings,
    private readonly log: Logger,
    readonly session: string,
    private readonly locations: Readonly<Record<CacheArea, string>>,
    private readonly summary: CacheRunSummary,
  ) {}

  /** True when events leave the run (an event command or a sink): then a Postfix is recorded until sent. */
  get sent(): boolean {
    return this.settings.eventCommand !== undefined || this.settings.eventSink !== undefined;
  }

  event(
    type: LegacyEventType | ExtendedEventType,
    metadata?: CacheIndexEntry,
    id: string = randomUUID(),
  ): AnyVmcatcherEvent {
    return {
      type,
      id,
      session: this.session,
      ...(metadata ? { metadata } : {}),
      dirs: { ...this.locations },
      database: this.store.url,
    } as AnyVmcatcherEvent;
  }

  /** Runs the event command for one event (if there is one); false when it failed. */
  async fire(
    type: LegacyEventType | ExtendedEventType,
    metadata?: CacheIndexEntry,
    id?: string,
  ): Promise<boolean> {
    const r = await this.send(type, metadata, id);
    return r.delivered && r.queued;
  }

  /**
   * Sends one event to the sink and the event command. `queued`: the sink took it (or there is none);
   * `delivered`: the command succeeded (or there is none). A failed command is recorded for `retryEvents`.
   */
  async send(
    type: LegacyEventType | ExtendedEventType,
    metadata?: CacheIndexEntry,
    id: string = randomUUID(),
  ): Promise<{ queued: boolean; delivered: boolean }> {
    const { eventCommand, eventTimeoutMs, eventKillGraceMs, eventEnv, eventSink } = this.settings;
    const event = this.event(type, metadata, id);
    const queued = eventSink ? await this.sink(eventSink, event) : true;
    if (!eventCommand) return { queued, delivered: true };
    const r = await deliverEvent(this.store, eventCommand, event, {
      timeoutMs: eventTimeoutMs,
      ...(eventKillGraceMs === undefined ? {} : { killGraceMs: eventKillGraceMs }),
      ...(eventEnv === undefined ? {} : { env: eventEnv }),
      log: this.log,
    });
    if (!r.delivered) {
      const identifier = metadata?.['dc:identifier'];
      this.summary.eventFailures.push({
        type,
        ...(typeof identifier === 'string' ? { identifier } : {}),
        ...(r.failedEventId === undefined ? {} : { failedEventId: r.failedEventId }),
      });
    }
    return { queued, delivered: r.delivered };
  }

  /** Hands the event to the sink; a failure is logged and counted like a failed event command. */
  private async sink(
    sink: (event: AnyVmcatcherEvent) => Promise<void>,
    event: AnyVmcatcherEvent,
  ): Promise<boolean> {
    try {
      await sink(event);
      return true;
    } catch (err) {
      this.log(
        'error',
        `the ${event.type} event could not be queued: ${(err as Error)?.message ?? String(err)}`,
      );
      const id = event.metadata?.['dc:identifier'];
      this.summary.eventFailures.push({
        type: event.type,
        ...(typeof id === 'string' ? { identifier: id } : {}),
      });
      return false;
    }
  }

  /** A library event type, sent to the command only when the caller asked for it. */
  async fireExtended(type: ExtendedEventType, metadata: CacheIndexEntry): Promise<void> {
    if (this.settings.commandEvents.includes(type)) await this.fire(type, metadata);
  }

  /** A `…:before` hook: false when it vetoed (threw). */
  async before<N extends HookName>(name: N, event: HookEvent<N>, log: Logger): Promise<boolean> {
    try {
      await callHooks(this.settings.hooks[name] as never, event);
      return true;
    } catch (err) {
      log('warn', `vetoed by the ${name} hook: ${(err as Error)?.message ?? String(err)}`);
      return false;
    }
  }

  /** Any other hook: a throw is logged and ignored. */
  async after<N extends HookName>(name: N, event: HookEvent<N>, log: Logger): Promise<void> {
    try {
      await callHooks(this.settings.hooks[name] as never, event);
    } catch (err) {
      log('warn', `the ${name} hook failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}
