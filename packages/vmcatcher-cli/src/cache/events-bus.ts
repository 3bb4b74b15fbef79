// `vmcatcher_cache --events amqp://…`: every event of a run goes into the store's outbox (@hepix/event-bus) as it
// happens, and the outbox is drained to RabbitMQ with publisher confirms at the end of the run, in order. A broker
// that is down or restarts loses nothing: what is not confirmed by the deadline stays in the outbox and goes
// first at the next run (the same event id, so a consumer drops a duplicate).
import { type Logger, messageOf } from '@hepix/common';
import {
  connectPublisher,
  drainOutbox,
  EventBusError,
  type Outbox,
  outboxExtension,
  redactAmqpUrl,
} from '@hepix/event-bus';
import type { AnyVmcatcherEvent } from '@hepix/image-cache';
import type { Store } from '@hepix/imagelist-store';
import { UsageError } from '../common/options.js';

export interface EventBusSettings {
  url: string;
  exchange: string;
  /** A durable queue declared and bound to every event, so that events are kept before any consumer; '' for none. */
  queue: string;
  /** How long the end of a run keeps trying to publish, in ms. */
  waitMs: number;
}

/** The lease that keeps one drain per outbox, whichever worker holds it. */
const DRAIN_LOCK = 'eventbus-outbox';

export function checkEventsUrl(url: string): void {
  if (!/^amqps?:\/\//.test(url))
    throw new UsageError(`--events takes an amqp:// or amqps:// URL: ${redactAmqpUrl(url)}`);
}

export const eventStoreOptions = { extensions: [outboxExtension] };

/** The cache's event sink: the event, as the event command receives it on standard input, into the outbox. */
export function outboxSink(store: Store): (event: AnyVmcatcherEvent) => Promise<void> {
  const outbox = store.extension(outboxExtension);
  return async (event) => {
    try {
      await outbox.enqueue({ ...(event.id ? { id: event.id } : {}), type: event.type, payload: event });
    } catch (err) {
      // The same event sent again by a run after an interrupted one: it is in the outbox already.
      if (!(err instanceof EventBusError && err.code === 'ERR_EVENTBUS_DUPLICATE')) throw err;
    }
  };
}

/**
 * Publishes every pending event, oldest first; returns how many are still pending (0 unless the broker could not
 * be reached by the deadline). Never throws for the broker: the events are safe in the outbox.
 */
export async function drainEvents(store: Store, settings: EventBusSettings, log: Logger): Promise<number> {
  const outbox: Outbox = store.extension(outboxExtension);
  if ((await outbox.counts()).pending === 0) return 0;
  let publisher: Awaited<ReturnType<typeof connectPublisher>> | undefined;
  try {
    publisher = await connectPublisher({
      url: settings.url,
      exchange: settings.exchange,
      ...(settings.queue ? { queue: { name: settings.queue, bindingKey: '#' } } : {}),
      lazy: true,
      log,
    });
    const p = publisher;
    const r = await store.withLock(
      DRAIN_LOCK,
      () => drainOutbox(outbox, p, { deadline: Date.now() + settings.waitMs, log }),
      { waitMs: settings.waitMs },
    );
    log('info', `published ${r.published} events to ${redactAmqpUrl(settings.url)}`, { name: 'events' });
  } catch (err) {
    if (err instanceof EventBusError && err.code === 'ERR_EVENTBUS_CONFIG') throw new UsageError(err.message);
    log('warn', `events not published yet (${messageOf(err)}); they stay queued for the next run`, {
      name: 'events',
      ...(err instanceof EventBusError ? { code: err.code } : {}),
    });
  } finally {
    await publisher?.close().catch(() => {});
  }
  return (await outbox.counts()).pending;
}
