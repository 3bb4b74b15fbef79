// Publishing with publisher confirms into a durable exchange. A publish resolves only once the broker has
// confirmed the message (for a persistent message to a durable queue: written to disk), so the caller can mark
// it published. A lost connection fails what was not confirmed; the next publish connects again.
import type { Logger } from '@hepix/common';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { EventBusError } from './errors.js';
import { checkAmqpUrl, connectError, redactAmqpUrl, setupError } from './url.js';

/** An event as it travels: `id` becomes the AMQP message-id, `payload` the JSON body. */
export interface BusEvent {
  /** Unique per event; consumers drop a second delivery of the same id. */
  id: string;
  /** The event type (`AvailablePostfix`, …); the default routing key. */
  type: string;
  /** The JSON body (for vmcatcher: the same JSON as the event command's standard input). */
  payload: unknown;
  /** The outbox sequence number, sent as the header `x-hepix-seq`. */
  seq?: number;
  /** When the event was recorded (ISO 8601), sent as the message timestamp. */
  created?: string;
}

export interface PublisherOptions {
  /** `amqp://user:password@host:5672/vhost` (or `amqps://`, with the system's CAs). */
  url: string;
  /** The exchange, declared durable (default type `topic`). */
  exchange: string;
  exchangeType?: 'topic' | 'direct' | 'fanout' | 'headers';
  /**
   * Also declare this durable queue, bound to the exchange with `bindingKey` (default `#`), so that events are
   * kept even before the first consumer exists; `arguments` are the queue's (`{ 'x-queue-type': 'quorum' }`).
   */
  queue?: { name: string; bindingKey?: string; arguments?: Record<string, unknown> };
  /**
   * Refuse a message no queue is bound for (`ERR_EVENTBUS_UNROUTABLE`) instead of letting the broker drop it
   * (default true: loss-free needs a queue).
   */
  mandatory?: boolean;
  /** Time to connect (default 10 000 ms) and to wait for a confirm (default 30 000 ms). */
  connectTimeoutMs?: number;
  confirmTimeoutMs?: number;
  /** Connect on the first publish rather than now (default false: a bad URL or password fails at once). */
  lazy?: boolean;
  log?: Logger;
}

export interface PublishItem {
  message: BusEvent;
  /** Default: the message's type. */
  routingKey?: string;
}

export interface EventPublisher {
  readonly exchange: string;
  /** Publishes one persistent message; resolves on the broker's confirm. */
  publish(message: BusEvent, options?: { routingKey?: string }): Promise<void>;
  /**
   * Publishes the messages in order on one channel and resolves once all are confirmed. On a failure it rejects
   * with an EventBusError whose `confirmed` counts the first messages that were confirmed: the rest must be sent
   * again (a message sent again carries the same id).
   */
  publishBatch(items: readonly PublishItem[]): Promise<void>;
  close(): Promise<void>;
}

const ROUTING_KEY = /^[\u0021-\u007e]{1,255}$/;

/** Validates an event before it is sent or stored (`ERR_EVENTBUS_INVALID`). */
export function encodeEvent(message: BusEvent): Buffer {
  if (!message || typeof message.id !== 'string' || !/^[\u0021-\u007e]{1,200}$/.test(message.id)) {
    throw new EventBusError('ERR_EVENTBUS_INVALID', 'an event needs an id of printable ASCII (at most 200)');
  }
  if (typeof message.type !== 'string' || !ROUTING_KEY.test(message.type)) {
    throw new EventBusError('ERR_EVENTBUS_INVALID', `event ${message.id}: the type must be printable ASCII`, {
      eventId: message.id,
    });
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(message.payload);
  } catch (cause) {
    throw new EventBusError('ERR_EVENTBUS_INVALID', `event ${message.id}: the payload is not JSON`, {
      eventId: message.id,
      cause,
    });
  }
  if (json === undefined) {
    throw new EventBusError('ERR_EVENTBUS_INVALID', `event ${message.id}: the payload is not JSON`, {
      eventId: message.id,
    });
  }
  return Buffer.from(json);
}

interface Connection {
  model: ChannelModel;
  channel: ConfirmChannel;
  /** Message ids the broker returned as unroutable (the confirm follows the return). */
  returned: Set<string>;
  lost?: EventBusError;
}

/** A publisher on a durable exchange, with confirms and reconnection on demand. */
export async function connectPublisher(options: PublisherOptions): Promise<EventPublisher> {
  checkAmqpUrl(options.url);
  if (!options.exchange || typeof options.exchange !== 'string') {
    throw new EventBusError('ERR_EVENTBUS_CONFIG', 'an exchange name is needed');
  }
  const { url, exchange, log } = options;
  const shown = redactAmqpUrl(url);
  const exchangeType = options.exchangeType ?? 'topic';
  const mandatory = options.mandatory ?? true;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000;
  let current: Connection | undefined;
  let connecting: Promise<Connection> | undefined;
  let closed = false;

  const open = async (): Promise<Connection> => {
    let model: ChannelModel | undefined;
    // Loaded at the first connection: a process that only writes the outbox never pays for amqplib.
    const { default: amqp } = await import('amqplib');
    try {
      model = await amqp.connect(url, { timeout: connectTimeoutMs });
    } catch (err) {
      throw connectError(err, url, 'connecting to');
    }
    // amqplib emits 'error' on a refusal by the broker as well as rejecting the call: listen from the start.
    model.on('error', (err: Error) =>
      log?.('warn', `broker connection error: ${err.message}`, { name: 'event-bus', uri: shown }),
    );
    try {
      const channel = await model.createConfirmChannel();
      channel.on('error', (err: Error) =>
        log?.('warn', `broker channel error: ${err.message}`, { name: 'event-bus', uri: shown }),
      );
      await channel.assertExchange(exchange, exchangeType, { durable: true });
      if (options.queue) {
        await channel.assertQueue(options.queue.name, { durable: true, arguments: options.queue.arguments });
        await channel.bindQueue(options.queue.name, exchange, options.queue.bindingKey ?? '#');
      }
      const conn: Connection = { model, channel, returned: new Set() };
      const drop = (err?: Error) => {
        if (current === conn) current = undefined;
        conn.lost ??= new EventBusError(
          'ERR_EVENTBUS_CONNECT',
          `the connection to ${shown} was lost${err ? `: ${err.message}` : ''}`,
          { url: shown, cause: err },
        );
      };
      model.on('close', drop);
      channel.on('close', drop);
      channel.on('return', (msg) => {
        const id = msg.properties.messageId;
        if (typeof id === 'string') conn.returned.add(id);
      });
      model.on('blocked', (reason: string) =>
        log?.('warn', `the broker blocks publishers: ${reason}`, { name: 'event-bus', uri: shown }),
      );
      log?.('info', `connected to ${shown}, exchange ${exchange}`, { name: 'event-bus', uri: shown });
      return conn;
    } catch (err) {
      await model.close().catch(() => {});
      throw setupError(err, url, `declaring exchange ${exchange} on`);
    }
  };

  const connection = (): Promise<Connection> => {
    if (closed)
      return Promise.reject(
        new EventBusError('ERR_EVENTBUS_CLOSED', 'the publisher is closed', { url: shown }),
      );
    if (current && !current.lost) return Promise.resolve(current);
    connecting ??= open().then(
      (c) => {
        connecting = undefined;
        if (closed) {
          void c.model.close().catch(() => {});
          throw new EventBusError('ERR_EVENTBUS_CLOSED', 'the publisher is closed', { url: shown });
        }
        current = c;
        return c;
      },
      (err) => {
        connecting = undefined;
        throw err;
      },
    );
    return connecting;
  };

  const publishBatch = async (items: readonly PublishItem[]): Promise<void> => {
    const bodies = items.map((it) => encodeEvent(it.message));
    for (const it of items) {
      const key = it.routingKey ?? it.message.type;
      if (!ROUTING_KEY.test(key)) {
        throw new EventBusError('ERR_EVENTBUS_INVALID', `invalid routing key '${key}'`, {
          eventId: it.message.id,
        });
      }
    }
    if (items.length === 0) return;
    let conn: Connection;
    try {
      conn = await connection();
    } catch (err) {
      throw err instanceof EventBusError
        ? new EventBusError(err.code, err.message, {
            url: err.url,
            detail: err.detail,
            confirmed: 0,
            cause: err.cause,
          })
        : err;
    }
    // Every message of the batch goes on this one channel, in order: if it dies, none of the rest is sent on
    // another, which could overtake the unconfirmed ones.
    const results = items.map(
      (it, i) =>
        new Promise<void>((resolve, reject) => {
          const { message } = it;
          const ok = conn.channel.publish(
            exchange,
            it.routingKey ?? message.type,
            bodies[i],
            {
              persistent: true,
              mandatory,
              messageId: message.id,
              type: message.type,
              contentType: 'application/json',
              appId: 'hepix-vmtools',
              timestamp: Math.floor((message.created ? Date.parse(message.created) : Date.now()) / 1000),
              headers: message.seq === undefined ? {} : { 'x-hepix-seq': message.seq },
            },
            (err) => {
              if (err) {
                // amqplib fails the callbacks from its own 'close' listener, before ours has recorded the loss:
                // decide after the listeners have run whether this was a lost connection or a nack.
                queueMicrotask(() =>
                  reject(
                    conn.lost ??
                      new EventBusError(
                        'ERR_EVENTBUS_REFUSED',
                        `the broker refused event ${message.id}: ${err.message}`,
                        {
                          url: shown,
                          eventId: message.id,
                          cause: err,
                        },
                      ),
                  ),
                );
              } else if (conn.returned.delete(message.id)) {
                reject(
                  new EventBusError(
                    'ERR_EVENTBUS_UNROUTABLE',
                    `no queue is bound to exchange ${exchange} for '${it.routingKey ?? message.type}' (event ${message.id})`,
                    { url: shown, eventId: message.id },
                  ),
                );
              } else {
                resolve();
              }
            },
          );
          void ok; // amqplib buffers past the high-water mark itself; confirms pace the caller anyway.
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new EventBusError(
            'ERR_EVENTBUS_TIMEOUT',
            `no confirm from ${shown} within ${confirmTimeoutMs} ms`,
            {
              url: shown,
            },
          ),
        );
      }, confirmTimeoutMs);
    });
    let confirmed = 0;
    try {
      for (const r of results) {
        await Promise.race([r, timeout]);
        confirmed++;
      }
    } catch (err) {
      for (const r of results) r.catch(() => {});
      const e = err as EventBusError;
      if (e.code === 'ERR_EVENTBUS_TIMEOUT') {
        // A silent broker: start over on a new connection.
        if (current === conn) current = undefined;
        conn.lost ??= e;
        void conn.model.close().catch(() => {});
      }
      throw new EventBusError(e.code ?? 'ERR_EVENTBUS_INTERNAL', e.message, {
        url: shown,
        eventId: items[confirmed]?.message.id,
        confirmed,
        detail: e.detail,
        cause: e.cause ?? err,
      });
    } finally {
      clearTimeout(timer);
    }
  };

  const publisher: EventPublisher = {
    exchange,
    publish: (message, opts = {}) => publishBatch([{ message, routingKey: opts.routingKey }]),
    publishBatch,
    async close() {
      if (closed) return;
      closed = true;
      const c = current ?? (await connecting?.catch(() => undefined));
      current = undefined;
      await c?.model.close().catch(() => {});
    },
  };
  if (!options.lazy) await connection();
  return publisher;
}
