// Publishing to the real RabbitMQ: confirmed, persistent messages with the event id as message-id, in a durable
// exchange; and the failures a site meets (wrong password, no broker, no queue bound, a closed publisher).
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { connectPublisher, type EventPublisher } from '../src/index.js';
import { amqpUrl, declareQueue, deleteQueue, expectCode, takeAll, uniqueName } from './helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  while (cleanup.length) await cleanup.pop()!().catch(() => {});
});
async function publisherOn(exchange: string, extra: Partial<Parameters<typeof connectPublisher>[0]> = {}) {
  const p = await connectPublisher({ url: amqpUrl(), exchange, ...extra });
  cleanup.push(() => p.close());
  return p;
}

describe('connectPublisher', () => {
  it('publishes persistent, confirmed messages: message-id = id, type, seq header, JSON body, routing key = type', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(amqpUrl(), exchange, queue);
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const p = await publisherOn(exchange);
    expect(p.exchange).toBe(exchange);
    await p.publish({
      id: 'ev-1',
      type: 'AvailablePostfix',
      payload: { type: 'AvailablePostfix', n: 1 },
      seq: 7,
    });
    await p.publish({ id: 'ev-2', type: 'ExpirePrefix', payload: ['x'] }, { routingKey: 'site.a.expire' });
    // Confirmed means the broker has it: it is in the queue now, without waiting.
    expect(await takeAll(amqpUrl(), queue)).toEqual([
      {
        id: 'ev-1',
        type: 'AvailablePostfix',
        seq: 7,
        body: { type: 'AvailablePostfix', n: 1 },
        persistent: true,
        routingKey: 'AvailablePostfix',
      },
      {
        id: 'ev-2',
        type: 'ExpirePrefix',
        seq: undefined,
        body: ['x'],
        persistent: true,
        routingKey: 'site.a.expire',
      },
    ]);
  });

  it('declares a durable queue of its own when asked, so events are kept before any consumer exists', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const p = await publisherOn(exchange, { queue: { name: queue } });
    await p.publishBatch([
      { message: { id: 'a', type: 'AvailablePrefix', payload: 1 } },
      { message: { id: 'b', type: 'AvailablePostfix', payload: 2 } },
    ]);
    expect((await takeAll(amqpUrl(), queue)).map((m) => m.id)).toEqual(['a', 'b']);
  });

  it('a message no queue is bound for is ERR_EVENTBUS_UNROUTABLE (the broker would drop it), with the confirmed count', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(amqpUrl(), exchange, queue, 'bound.#');
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const p = await publisherOn(exchange);
    const e = await expectCode(
      p.publishBatch([
        { message: { id: 'r-1', type: 'T', payload: 1 }, routingKey: 'bound.one' },
        { message: { id: 'r-2', type: 'T', payload: 2 }, routingKey: 'nowhere' },
        { message: { id: 'r-3', type: 'T', payload: 3 }, routingKey: 'bound.three' },
      ]),
      'ERR_EVENTBUS_UNROUTABLE',
    );
    expect(e).toMatchObject({ confirmed: 1, eventId: 'r-2' });
    // Without `mandatory` the broker drops it, as plain AMQP does.
    const lossy = await publisherOn(exchange, { mandatory: false });
    await lossy.publish({ id: 'r-4', type: 'T', payload: 4 }, { routingKey: 'nowhere' });
    expect((await takeAll(amqpUrl(), queue)).map((m) => m.id)).toEqual(['r-1', 'r-3']);
  });

  it('a wrong password is ERR_EVENTBUS_AUTH, a broker that is not there ERR_EVENTBUS_CONNECT, a bad URL ERR_EVENTBUS_CONFIG', async () => {
    const wrong = new URL(amqpUrl());
    wrong.password = 'wrong';
    const auth = await expectCode(
      connectPublisher({ url: wrong.toString(), exchange: 'x' }),
      'ERR_EVENTBUS_AUTH',
    );
    expect(String(auth.url)).not.toContain('wrong');
    expect(auth.message).not.toContain('wrong');
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const none = await expectCode(
      connectPublisher({ url: `amqp://u:secret@127.0.0.1:${port}`, exchange: 'x' }),
      'ERR_EVENTBUS_CONNECT',
    );
    expect(none.message).not.toContain('secret');
    await expectCode(connectPublisher({ url: 'http://127.0.0.1/', exchange: 'x' }), 'ERR_EVENTBUS_CONFIG');
    await expectCode(connectPublisher({ url: amqpUrl(), exchange: '' }), 'ERR_EVENTBUS_CONFIG');
  });

  it('an exchange or queue that exists with other settings is ERR_EVENTBUS_REFUSED', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(amqpUrl(), exchange, queue);
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const e = await expectCode(
      connectPublisher({ url: amqpUrl(), exchange, exchangeType: 'fanout' }),
      'ERR_EVENTBUS_REFUSED',
    );
    expect(e.detail).toBe('406');
    await expectCode(
      connectPublisher({
        url: amqpUrl(),
        exchange,
        queue: { name: queue, arguments: { 'x-max-length': 5 } },
      }),
      'ERR_EVENTBUS_REFUSED',
    );
  });

  it('a lazy publisher connects on the first publish; a broker that is down fails it with ERR_EVENTBUS_CONNECT and confirmed 0', async () => {
    const lazy = await connectPublisher({ url: 'amqp://u:p@127.0.0.1:1', exchange: 'x', lazy: true });
    const e = await expectCode(lazy.publish({ id: 'l-1', type: 'T', payload: 1 }), 'ERR_EVENTBUS_CONNECT');
    expect(e.confirmed).toBe(0);
    await lazy.close();
  });

  it('refuses bad events before sending anything, and everything after close', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(amqpUrl(), exchange, queue);
    cleanup.push(() => deleteQueue(amqpUrl(), queue));
    const p: EventPublisher = await connectPublisher({ url: amqpUrl(), exchange });
    await expectCode(
      p.publishBatch([
        { message: { id: 'ok', type: 'T', payload: 1 } },
        { message: { id: 'bad', type: 'T', payload: undefined } },
      ]),
      'ERR_EVENTBUS_INVALID',
    );
    await expectCode(
      p.publish({ id: 'k', type: 'T', payload: 1 }, { routingKey: '' }),
      'ERR_EVENTBUS_INVALID',
    );
    expect(await takeAll(amqpUrl(), queue)).toEqual([]);
    await p.close();
    await expectCode(p.publish({ id: 'after', type: 'T', payload: 1 }), 'ERR_EVENTBUS_CLOSED');
  });
});
