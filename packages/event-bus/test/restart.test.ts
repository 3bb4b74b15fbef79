// A broker of its own (scripts/start-rabbitmq.sh in a state directory of its own, so no other test sees it go)
// stopped in the middle of a drain and started again: every event is delivered once it is back, in order, none
// lost; a duplicate, if any, carries the same id, and the consumer drops it. Then the same broker blocking its
// publishers (a memory alarm): confirms time out, and the drain gets through once the alarm is lifted.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectPublisher, consume, drainOutbox, outboxExtension, type ReceivedEvent } from '../src/index.js';
import { declareQueue, dialects, expectCode, takeAll, testStore, uniqueName, until } from './helpers.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../../scripts/start-rabbitmq.sh', import.meta.url));
const state = mkdtempSync(join(tmpdir(), 'hepix-rabbitmq-restart-'));
const env = { ...process.env, HEPIX_RABBITMQ_DIR: state };
let url = '';

async function broker(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [script, ...args], { env, encoding: 'utf8' });
  return stdout;
}

beforeAll(async () => {
  const out = await broker();
  url = /^TEST_AMQP_URL=(.+)$/m.exec(out)?.[1]?.trim() ?? '';
  expect(url).toMatch(/^amqp:\/\/hepix:[0-9a-f]+@127\.0\.0\.1:\d+$/);
});
afterAll(async () => {
  await broker('stop').catch(() => {});
  rmSync(state, { recursive: true, force: true });
});

it('delivers every event in order after a broker restart in the middle of a drain', async () => {
  const t = await testStore(dialects().at(-1)!);
  try {
    const outbox = t.store.extension(outboxExtension);
    await t.store.transaction(async ({ extension }) => {
      const o = extension(outboxExtension);
      for (let i = 0; i < 1000; i++)
        await o.enqueue({ id: `r-${i}`, type: 'AvailablePostfix', payload: { i } });
    });
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(url, exchange, queue);

    const handled: ReceivedEvent[] = [];
    const consumer = await consume({
      url,
      exchange,
      queue,
      retryDelayMs: 200,
      handler: async (e) => void handled.push(e),
    });
    const publisher = await connectPublisher({ url, exchange });
    let restart: Promise<void> | undefined;
    let handledAtStop = -1;
    let marked = 0;
    const failures: string[] = [];
    const result = await drainOutbox(outbox, publisher, {
      batch: 50,
      retryDelayMs: 200,
      maxRetryDelayMs: 1000,
      log: (level, _message, fields) => {
        if (level === 'warn' && fields?.code) failures.push(fields.code);
      },
      onPublished: (events) => {
        marked += events.length;
        // A third of the way in, the broker goes away, stays away for a while, and comes back on the same port.
        if (restart || marked < 300) return;
        handledAtStop = handled.length;
        restart = (async () => {
          await broker('stop');
          await new Promise((r) => setTimeout(r, 1500));
          await broker();
        })();
      },
    }).finally(() => publisher.close());
    await restart;

    expect(result.published).toBe(1000);
    // The drain had to wait for the broker: it did not finish before the restart.
    expect(result.retries).toBeGreaterThan(0);
    expect(new Set(failures)).toEqual(new Set(['ERR_EVENTBUS_CONNECT']));
    expect(handledAtStop).toBeLessThan(1000);
    expect(await outbox.counts()).toEqual({ pending: 0, published: 1000 });

    await until(() => handled.length >= 1000);
    await consumer.close();
    // Exactly the 1000 events, each once, in seq order.
    expect(handled.map((e) => e.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `r-${i}`));
    const seqs = handled.map((e) => e.seq!);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1])).toBe(true);
    expect(consumer.stats.handled).toBe(1000);
    expect(consumer.stats.failures).toBe(0);
  } finally {
    await t.dispose();
  }
});

it('a broker that stops confirming (publishers blocked by a memory alarm) is ERR_EVENTBUS_TIMEOUT; the drain gets through once it is lifted', async () => {
  const t = await testStore('sqlite');
  try {
    const outbox = t.store.extension(outboxExtension);
    await outbox.enqueue({ id: 'blocked-1', type: 'AvailablePostfix', payload: { n: 1 } });
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    await declareQueue(url, exchange, queue);
    const publisher = await connectPublisher({ url, exchange, confirmTimeoutMs: 1500 });
    try {
      await broker('ctl', 'set_vm_memory_high_watermark', '0');
      const e = await expectCode(
        publisher.publish({ id: 'direct-1', type: 'T', payload: 1 }),
        'ERR_EVENTBUS_TIMEOUT',
      );
      expect(e.confirmed).toBe(0);
      // The drain retries while the broker is silent, and gets through once the alarm is lifted.
      const drained = drainOutbox(outbox, publisher, { retryDelayMs: 200, maxRetryDelayMs: 500 });
      await until(async () => (await outbox.counts()).pending === 1);
      await new Promise((r) => setTimeout(r, 2000));
      await broker('ctl', 'set_vm_memory_high_watermark', '0.4');
      const r = await drained;
      expect(r.published).toBe(1);
      expect(await outbox.counts()).toEqual({ pending: 0, published: 1 });
    } finally {
      await broker('ctl', 'set_vm_memory_high_watermark', '0.4').catch(() => {});
      await publisher.close();
    }
    // The event arrived, perhaps more than once, always with its id. What the blocked connection had written is
    // read once the alarm is lifted, so the timed-out direct publish may arrive too: unconfirmed is not "lost",
    // only "not known to be delivered".
    const ids = (await takeAll(url, queue)).map((m) => m.id);
    expect(ids).toContain('blocked-1');
    expect(ids.every((id) => id === 'blocked-1' || id === 'direct-1')).toBe(true);
  } finally {
    await t.dispose();
  }
});
