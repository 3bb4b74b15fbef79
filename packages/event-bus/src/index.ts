// Public API of @hepix/event-bus: named re-exports only.
export { type Consumer, type ConsumeOptions, consume, type ReceivedEvent } from './consumer.js';
export { type DrainOptions, type DrainResult, drainOutbox } from './drain.js';
export {
  EVENT_BUS_ERROR_CODES,
  EventBusError,
  type EventBusErrorCode,
  type EventBusErrorContext,
  RETRYABLE_CODES,
} from './errors.js';
export { type EnqueueInput, type Outbox, type OutboxEvent, outboxExtension } from './outbox.js';
export {
  type BusEvent,
  connectPublisher,
  type EventPublisher,
  type PublisherOptions,
  type PublishItem,
} from './publisher.js';
export { redactAmqpUrl } from './url.js';
