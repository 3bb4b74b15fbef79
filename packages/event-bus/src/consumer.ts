// A small consumer: one durable queue bound to the exchange, one message at a time (so the handler sees the
// events in the order of the queue), acknowledged after the handler has finished, and a second delivery of an id
// it has already handled is dropped (acknowledged without calling the handler). A lost connection is made again.
import { delay, type Logger } from '@hepix/common';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { EventBusError } from './errors.js';
import { checkAmqpUrl, connectError, redactAmqpUrl, setupError } from './url.js';

export interface ReceivedEvent {
  id: string;
  type: string;
  payload: unknown;
  /** The outbox sequence number (header `x-hepix-seq`), when the publisher sent one. */
  seq?: number;
  routingKey: string;
  /** The broker delivered this message before (to this or another consumer) without an acknowledgement. */
  redelivered: boolean;
}

export interface ConsumeOptions {
  url: string;
  exchange: string;
  exchangeType?: 'topic' | 'direct' | 'fanout' | 'headers';
  /** A durable queue (declared) bound to the exchange with `bindingKey` (default `#`: every event). */
  queue: string;
  bindingKey?: string;
  /** Arguments of the queue when it is declared (`{ 'x-queue-type': 'quorum' }`); they must match an existing queue's. */
  queueArguments?: Record<string, unknown>;
  /** Runs for each new event; the message is acknowledged once it resolves. A throw requeues the message. */
  handler: (event: ReceivedEvent) => Promise<void>;
  /** How many handled ids are remembered to drop duplicates (default 10 000). */
  rememberIds?: number;
  /** Wait before a failed message is requeued, and first wait before reconnecting (default 1000 ms). */
  retryDelayMs?: number;
  /** Stops the consumer, as `close()` does (after the event in progress). */
  signal?: AbortSignal;
  log?: Logger;
}

export interface Consumer {
  /** Counts so far: events handled, duplicates dropped, handler failures, malformed messages rejected. */
  readonly stats: { handled: number; duplicates: number; failures: number; rejected: number };
  /** Resolves when the consumer has stopped (after `close()` or the signal). */
  readonly done: Promise<void>;
  /**
   * Stops taking events; the one in progress finishes and is acknowledged (or requeued if its handler throws)
   * before the connection closes. Resolves once stopped.
   */
  close(): Promise<void>;
}

/** Consumes events from `queue` until closed. Resolves once the first connection is up (`ERR_EVENTBUS_CONNECT`, `…_AUTH` otherwise). */
export async function consume(options: ConsumeOptions): Promise<Consumer> {
  checkAmqpUrl(options.url);
  const { url, exchange, queue, handler, log, signal } = options;
  const shown = redactAmqpUrl(url);
  const remember = options.rememberIds ?? 10_000;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const seen = new Set<string>(); // insertion order: the oldest id is evicted first
  const stats = { handled: 0, duplicates: 0, failures: 0, rejected: 0 };
  const stop = new AbortController();
  // The current channel and the event being handled (and settled) on it: close() waits for that event, then
  // closes the channel before the connection, so that its acknowledgement reaches the broker first.
  let consuming: { channel: Channel; inFlight: Promise<void> } | undefined;
  let stopped: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });

  const remembered = (id: string) => {
    seen.add(id);
    while (seen.size > remember) seen.delete(seen.values().next().value as string);
  };

  const handle = async (channel: Channel, msg: ConsumeMessage) => {
    const id = msg.properties.messageId;
    const type = msg.properties.type;
    let payload: unknown;
    try {
      payload = JSON.parse(msg.content.toString('utf8'));
    } catch {
      payload = undefined;
    }
    if (typeof id !== 'string' || typeof type !== 'string' || payload === undefined) {
      stats.rejected++;
      log?.(
        'warn',
        `rejecting a message without id, type or JSON body (routing key ${msg.fields.routingKey})`,
        {
          name: 'event-bus',
        },
      );
      // Not requeued: it would come back forever. A dead-letter exchange on the queue keeps it.
      channel.nack(msg, false, false);
      return;
    }
    if (seen.has(id)) {
      stats.duplicates++;
      log?.('debug', `dropping a second delivery of event ${id}`, { name: 'event-bus', event: id });
      channel.ack(msg);
      return;
    }
    const seqHeader = msg.properties.headers?.['x-hepix-seq'];
    const event: ReceivedEvent = {
      id,
      type,
      payload,
      routingKey: msg.fields.routingKey,
      redelivered: msg.fields.redelivered,
      ...(seqHeader === undefined ? {} : { seq: Number(seqHeader) }),
    };
    try {
      await handler(event);
    } catch (err) {
      stats.failures++;
      log?.(
        'error',
        `the handler failed for event ${id} (${type}); it is requeued: ${(err as Error).message}`,
        {
          name: 'event-bus',
          event: id,
        },
      );
      await delay(retryDelayMs, stop.signal).catch(() => {});
      channel.nack(msg, false, true);
      return;
    }
    remembered(id);
    stats.handled++;
    channel.ack(msg);
  };

  const open = async (): Promise<ChannelModel> => {
    let m: ChannelModel;
    // Loaded at the first connection, as in the publisher.
    const { default: amqp } = await import('amqplib');
    try {
      m = await amqp.connect(url, { timeout: 10_000 });
    } catch (err) {
      throw connectError(err, url, 'connecting to');
    }
    // amqplib emits 'error' on a refusal by the broker as well as rejecting the call: listen from the start.
    m.on('error', (err: Error) =>
      log?.('warn', `broker connection error: ${err.message}`, { name: 'event-bus', uri: shown }),
    );
    try {
      const channel = await m.createChannel();
      channel.on('error', (err: Error) =>
        log?.('warn', `broker channel error: ${err.message}`, { name: 'event-bus', uri: shown }),
      );
      await channel.assertExchange(exchange, options.exchangeType ?? 'topic', { durable: true });
      await channel.assertQueue(queue, { durable: true, arguments: options.queueArguments });
      await channel.bindQueue(queue, exchange, options.bindingKey ?? '#');
      // One unacknowledged message at a time: handled in queue order.
      await channel.prefetch(1);
      let chain = Promise.resolve();
      const state = { channel, inFlight: chain };
      consuming = state;
      await channel.consume(queue, (msg) => {
        if (!msg) return; // cancelled by the broker (queue deleted): the close handler reconnects
        chain = chain
          // Once stopping, a message delivered meanwhile is left unacknowledged: the close requeues it.
          .then(() => (stop.signal.aborted ? undefined : handle(channel, msg)))
          .catch((err) => {
            // An ack on a channel that closed meanwhile: the broker delivers the message again.
            log?.('warn', `could not settle event ${msg.properties.messageId}: ${(err as Error).message}`, {
              name: 'event-bus',
            });
          });
        state.inFlight = chain;
      });
      log?.('info', `consuming ${queue} on ${shown}`, { name: 'event-bus', uri: shown });
      return m;
    } catch (err) {
      await m.close().catch(() => {});
      throw setupError(err, url, `setting up the consumer of ${queue} on`);
    }
  };

  const run = async (first: ChannelModel) => {
    let current: ChannelModel | undefined = first;
    let wait = retryDelayMs;
    while (!stop.signal.aborted) {
      if (current) {
        const m = current;
        await new Promise<void>((resolve) => {
          m.once('close', () => resolve());
          stop.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        current = undefined;
        if (stop.signal.aborted) {
          // The event in progress finishes and is acknowledged before the connection closes.
          const last = consuming;
          if (last) {
            await last.inFlight;
            await last.channel.close().catch(() => {});
          }
          await m.close().catch(() => {});
          break;
        }
        log?.('warn', `lost the connection to ${shown}; reconnecting`, { name: 'event-bus', uri: shown });
      }
      try {
        await delay(wait, stop.signal);
        current = await open();
        wait = retryDelayMs;
      } catch (err) {
        if (stop.signal.aborted) break;
        log?.('warn', `reconnecting to ${shown} failed: ${(err as Error).message}`, {
          name: 'event-bus',
          uri: shown,
        });
        wait = Math.min(30_000, wait * 2);
      }
    }
    stopped();
  };

  if (signal?.aborted)
    throw new EventBusError('ERR_EVENTBUS_ABORTED', 'the consumer was stopped before it started');
  const first = await open();
  signal?.addEventListener('abort', () => stop.abort(), { once: true });
  void run(first);
  return {
    stats,
    done,
    async close() {
      stop.abort();
      await done;
    },
  };
}
