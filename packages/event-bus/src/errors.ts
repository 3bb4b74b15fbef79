import { assignDefined, HepixError } from '@hepix/common';

/** Every code of {@link EventBusError}, for a CLI's exit table. */
export const EVENT_BUS_ERROR_CODES = [
  /** The broker URL is not an `amqp://` or `amqps://` URL, or an option is unusable. */
  'ERR_EVENTBUS_CONFIG',
  /** The broker cannot be reached, or the connection was lost before the broker confirmed (retryable). */
  'ERR_EVENTBUS_CONNECT',
  /** The broker refused the user, the password or the virtual host (not retryable). */
  'ERR_EVENTBUS_AUTH',
  /** The broker did not confirm in time (retryable: the connection is dropped and made again). */
  'ERR_EVENTBUS_TIMEOUT',
  /** The broker refused a message (a nack, or the exchange or queue refused by the broker: `detail`). */
  'ERR_EVENTBUS_REFUSED',
  /** No queue is bound for the message's routing key, so the broker would have dropped it (retryable). */
  'ERR_EVENTBUS_UNROUTABLE',
  /** The caller's signal stopped the operation. */
  'ERR_EVENTBUS_ABORTED',
  /** The publisher or consumer was closed. */
  'ERR_EVENTBUS_CLOSED',
  /** Bad input: an event without type, a payload that is not JSON, a bad id or routing key. */
  'ERR_EVENTBUS_INVALID',
  /** An event with this id is already in the outbox. */
  'ERR_EVENTBUS_DUPLICATE',
  /** The outbox's database failed (`cause`: the driver's error). */
  'ERR_EVENTBUS_STORE',
  /** Anything unexpected (a bug; `cause`). */
  'ERR_EVENTBUS_INTERNAL',
] as const;

export type EventBusErrorCode = (typeof EVENT_BUS_ERROR_CODES)[number];

export interface EventBusErrorContext {
  /** The broker URL, without password. */
  url?: string;
  /** The event concerned. */
  eventId?: string;
  /** For a failed batch: how many of its first messages the broker had confirmed before the failure. */
  confirmed?: number;
  /** For a failed drain: how many events it had published before the failure. */
  published?: number;
  /** The broker's or the socket's own word (`ACCESS_REFUSED`, `ECONNREFUSED`, …). */
  detail?: string;
  cause?: unknown;
}

/** The one error class of `@hepix/event-bus`. */
export class EventBusError extends HepixError<EventBusErrorCode> {
  override readonly name = 'EventBusError';
  readonly url?: string;
  readonly eventId?: string;
  readonly confirmed?: number;
  readonly published?: number;
  readonly detail?: string;

  constructor(code: EventBusErrorCode, message: string, context: EventBusErrorContext = {}) {
    super(code, message, { cause: context.cause });
    assignDefined<EventBusError>(this, {
      url: context.url,
      eventId: context.eventId,
      confirmed: context.confirmed,
      published: context.published,
      detail: context.detail,
    });
  }
}

/** Codes after which trying again later may succeed (the broker is down, restarting or slow). */
export const RETRYABLE_CODES: ReadonlySet<EventBusErrorCode> = new Set([
  'ERR_EVENTBUS_CONNECT',
  'ERR_EVENTBUS_TIMEOUT',
  'ERR_EVENTBUS_UNROUTABLE',
]);
