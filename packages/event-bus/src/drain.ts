// Draining the outbox: pending events are published in seq order, a batch at a time on one channel, and marked
// published only once the broker has confirmed them. A broker that is down, or restarts mid-batch, costs a
// retry: the confirmed prefix of the batch is marked, the rest is sent again from its first unconfirmed event,
// so nothing is lost and nothing overtakes an earlier event. An event sent twice has the same id both times.
import { delay, type Logger } from '@hepix/common';
import { EventBusError, RETRYABLE_CODES } from './errors.js';
import type { Outbox, OutboxEvent } from './outbox.js';
import type { EventPublisher } from './publisher.js';

export interface DrainOptions {
  /** Events per batch (default 100). */
  batch?: number;
  /** Stops the drain between two batches or during a wait (`ERR_EVENTBUS_ABORTED`, with `published`). */
  signal?: AbortSignal;
  /**
   * Give up retrying after this absolute time (epoch ms): the last failure is thrown, with `published`. Default:
   * retry until the outbox is empty or the signal fires.
   */
  deadline?: number;
  /** First wait after a failure (default 500 ms), doubled up to `maxRetryDelayMs` (default 30 000). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** The routing key of an event (default: its type). */
  routingKey?: (event: OutboxEvent) => string;
  /** Called after each batch that the broker confirmed (all or part of it), with the events marked. */
  onPublished?: (events: readonly OutboxEvent[]) => void;
  log?: Logger;
}

export interface DrainResult {
  /** Events confirmed and marked published by this drain. */
  published: number;
  /** Failures that were retried. */
  retries: number;
}

/**
 * Publishes every pending event of `outbox`, in order, and returns once none is left. Run one drain per outbox at
 * a time (e.g. inside `store.withLock('eventbus-outbox', …)`): two drains would each publish the same events.
 */
export async function drainOutbox(
  outbox: Outbox,
  publisher: EventPublisher,
  options: DrainOptions = {},
): Promise<DrainResult> {
  const { signal, log, deadline, onPublished } = options;
  const batch = options.batch ?? 100;
  const firstDelay = options.retryDelayMs ?? 500;
  const maxDelay = options.maxRetryDelayMs ?? 30_000;
  if (!(Number.isSafeInteger(batch) && batch >= 1)) {
    throw new EventBusError('ERR_EVENTBUS_INVALID', `invalid batch size ${batch}`);
  }
  let published = 0;
  let retries = 0;
  let wait = firstDelay;
  const aborted = () =>
    new EventBusError('ERR_EVENTBUS_ABORTED', `the drain was stopped after ${published} events`, {
      published,
      cause: signal?.reason,
    });

  for (;;) {
    if (signal?.aborted) throw aborted();
    const events = await outbox.pending(batch);
    if (events.length === 0) return { published, retries };
    let confirmed = events.length;
    let failure: EventBusError | undefined;
    try {
      await publisher.publishBatch(events.map((e) => ({ message: e, routingKey: options.routingKey?.(e) })));
    } catch (err) {
      if (!(err instanceof EventBusError)) throw err;
      failure = err;
      confirmed = Math.min(err.confirmed ?? 0, events.length);
    }
    if (confirmed > 0) {
      const done = events.slice(0, confirmed);
      await outbox.markPublished(done.map((e) => e.id));
      published += confirmed;
      log?.('debug', `published ${confirmed} events (up to seq ${done[done.length - 1].seq})`, {
        name: 'event-bus',
        published,
      });
      onPublished?.(done);
    }
    if (!failure) {
      wait = firstDelay;
      continue;
    }
    if (!RETRYABLE_CODES.has(failure.code)) {
      throw new EventBusError(failure.code, failure.message, {
        url: failure.url,
        eventId: failure.eventId,
        detail: failure.detail,
        published,
        cause: failure,
      });
    }
    if (deadline !== undefined && Date.now() + wait > deadline) {
      throw new EventBusError(failure.code, `${failure.message}; gave up with events still pending`, {
        url: failure.url,
        eventId: failure.eventId,
        published,
        cause: failure,
      });
    }
    retries++;
    log?.(
      'warn',
      `publishing events failed (${failure.code}), trying again in ${wait} ms: ${failure.message}`,
      {
        name: 'event-bus',
        code: failure.code,
      },
    );
    try {
      await delay(wait, signal);
    } catch {
      throw aborted();
    }
    wait = Math.min(maxDelay, wait * 2);
  }
}
