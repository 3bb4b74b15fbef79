// Draining the outbox into the real RabbitMQ: 1000 events in order, each marked once confirmed; a consumer that
// acknowledges after its handler and drops a second delivery of an id; a handler failure requeues the event.
import { afterAll, describe, expect, it } from 'vitest';
import { connectPublisher, consume, drainOutbox, outboxExtension, type ReceivedEvent } from '../src/index.js';
import {
  amqpUrl,
  declareQueue,
  deleteQueue,
  dialects,
  expectCode,
  takeAll,
  testStore,
  uniqueName,
  until,
} from './helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  while (cleanup.length) await cleanup.pop()!().catch(() => {});
});

describe.each(dialects())('drainOutbox on %s', (dialect) => {
  it('publishes 1000 events in seq order and marks each once it is confirmed', async () => {
    const t = await testStore(dialect);
    cleanup.push(() => t.dispose());
    const outbox = t.store.extension(outboxExtension);
    await t.store.transaction(async ({ extension }) => {
      const o = extension(outboxExtension);
      for (let i = 0; i < 1000; i++)
        await o.enqueue({ id: `ev-${i}`, type: 'AvailablePostfix', payload: { i } });
    });
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(amqpUrl(), exchange, queue);
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const publisher = await connectPublisher({ url: amqpUrl(), exchange });
    cleanup.push(() => publisher.close());
    const batches: number[] = [];
    const r = await drainOutbox(outbox, publisher, {
      batch: 128,
      onPublished: (evs) => batches.push(evs.length),
    });
    expect(r).toEqual({ published: 1000, retries: 0 });
    expect(batches).toEqual([128, 128, 128, 128, 128, 128, 128, 104]);
    expect(await outbox.counts()).toEqual({ pending: 0, published: 1000 });
    const got = await takeAll(amqpUrl(), queue);
    expect(got.map((m) => m.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `ev-${i}`));
    expect(got.map((m) => (m.body as { i: number }).i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const seqs = got.map((m) => m.seq!);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1])).toBe(true);
    // Nothing left: a second drain publishes nothing.
    expect(await drainOutbox(outbox, publisher)).toEqual({ published: 0, retries: 0 });
    expect(await takeAll(amqpUrl(), queue)).toEqual([]);
  });
});

describe('drainOutbox failures', () => {
  it('no queue bound: retries until the deadline, then ERR_EVENTBUS_UNROUTABLE with nothing marked', async () => {
    const t = await testStore('sqlite');
    cleanup.push(() => t.dispose());
    const outbox = t.store.extension(outboxExtension);
    for (let i = 0; i < 3; i++) await outbox.enqueue({ id: `u-${i}`, type: 'T', payload: i });
    const publisher = await connectPublisher({ url: amqpUrl(), exchange: uniqueName('ex') });
    cleanup.push(() => publisher.close());
    const e = await expectCode(
      drainOutbox(outbox, publisher, { retryDelayMs: 20, deadline: Date.now() + 200 }),
      'ERR_EVENTBUS_UNROUTABLE',
    );
    expect(e.published).toBe(0);
    expect(await outbox.counts()).toEqual({ pending: 3, published: 0 });
  });

  it('a signal stops the drain with ERR_EVENTBUS_ABORTED and keeps what is pending', async () => {
    const t = await testStore('sqlite');
    cleanup.push(() => t.dispose());
    const outbox = t.store.extension(outboxExtension);
    await outbox.enqueue({ id: 'a-1', type: 'T', payload: 1 });
    const publisher = await connectPublisher({ url: 'amqp://u:p@127.0.0.1:1', exchange: 'x', lazy: true });
    const ac = new AbortController();
    const drained = drainOutbox(outbox, publisher, { retryDelayMs: 50, signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const e = await expectCode(drained, 'ERR_EVENTBUS_ABORTED');
    expect(e.published).toBe(0);
    expect(await outbox.counts()).toEqual({ pending: 1, published: 0 });
    await expectCode(drainOutbox(outbox, publisher, { batch: 0 }), 'ERR_EVENTBUS_INVALID');
  });
});

describe('consume', () => {
  it('works on a quorum queue declared by the publisher, and refuses a queue declared otherwise', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const quorum = { 'x-queue-type': 'quorum' };
    const publisher = await connectPublisher({
      url: amqpUrl(),
      exchange,
      queue: { name: queue, arguments: quorum },
    });
    cleanup.push(() => publisher.close());
    await publisher.publish({ id: 'q-1', type: 'AvailablePostfix', payload: { q: 1 } });
    await expectCode(
      consume({
        url: amqpUrl(),
        exchange,
        queue,
        queueArguments: { 'x-queue-type': 'classic' },
        handler: async () => {},
      }),
      'ERR_EVENTBUS_REFUSED',
    );
    const seen: string[] = [];
    const consumer = await consume({
      url: amqpUrl(),
      exchange,
      queue,
      queueArguments: quorum,
      handler: async (e) => void seen.push(e.id),
    });
    cleanup.push(() => consumer.close());
    await until(() => seen.length === 1);
    expect(seen).toEqual(['q-1']);
  });

  it('hands each event to the handler once, in order, acks after it, drops duplicates, requeues on failure', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const seen: ReceivedEvent[] = [];
    let failOnce = true;
    const consumer = await consume({
      url: amqpUrl(),
      exchange,
      queue,
      retryDelayMs: 20,
      handler: async (e) => {
        if (e.id === 'c-3' && failOnce) {
          failOnce = false;
          throw new Error('the command failed');
        }
        seen.push(e);
      },
    });
    cleanup.push(() => consumer.close());
    const publisher = await connectPublisher({ url: amqpUrl(), exchange });
    cleanup.push(() => publisher.close());
    const ev = (i: number) => ({ id: `c-${i}`, type: 'AvailablePostfix', payload: { i }, seq: i });
    await publisher.publishBatch([1, 2, 2, 3, 4, 1, 5].map((i) => ({ message: ev(i) })));
    await until(() => seen.length === 5 && consumer.stats.duplicates === 2);
    expect(seen.map((e) => e.id)).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-5']);
    expect(seen[0]).toEqual({
      id: 'c-1',
      type: 'AvailablePostfix',
      payload: { i: 1 },
      seq: 1,
      routingKey: 'AvailablePostfix',
      redelivered: false,
    });
    // c-3 failed once, was requeued and came back, marked redelivered.
    expect(seen[2].redelivered).toBe(true);
    expect(consumer.stats).toEqual({ handled: 5, duplicates: 2, failures: 1, rejected: 0 });
    await consumer.close();
    await consumer.done;
    // Everything was acknowledged: the queue is empty.
    expect(await takeAll(amqpUrl(), queue)).toEqual([]);
  });

  it('close() lets the event in progress finish and acknowledges it; the next one stays on the queue', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const finished: string[] = [];
    const consumer = await consume({
      url: amqpUrl(),
      exchange,
      queue,
      handler: async (e) => {
        started();
        await new Promise((r) => setTimeout(r, 300));
        finished.push(e.id);
      },
    });
    const publisher = await connectPublisher({ url: amqpUrl(), exchange });
    cleanup.push(() => publisher.close());
    const ev = (i: number) => ({ id: `s-${i}`, type: 'AvailablePostfix', payload: { i } });
    await publisher.publishBatch([1, 2].map((i) => ({ message: ev(i) })));
    await running;
    await consumer.close();
    expect(finished).toEqual(['s-1']);
    expect(consumer.stats.handled).toBe(1);
    expect((await takeAll(amqpUrl(), queue)).map((m) => m.id)).toEqual(['s-2']);
  });
});
