#!/usr/bin/env node
// Throughput of drainOutbox with batches of 1, 10 and 100 events (every event confirmed by the broker before it
// is marked), ratios against batches of 1 measured in the same run: a batch puts its messages on the wire
// before waiting for their confirms, so the broker's disk syncs are shared.
//
//   pnpm --filter @hepix/event-bus bench        (HEPIX_BENCH_EVENTS to change the count, default 1000)
//
// Starts scripts/start-rabbitmq.sh unless TEST_AMQP_URL is set. The outbox is a SQLite file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@hepix/imagelist-store';
import amqp from 'amqplib';
import { connectPublisher, drainOutbox, outboxExtension } from '../dist/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const count = Number(process.env.HEPIX_BENCH_EVENTS ?? 1000);
let url = process.env.TEST_AMQP_URL;
if (!url) {
  const out = execFileSync('bash', [`${here}../../../scripts/start-rabbitmq.sh`], { encoding: 'utf8' });
  url = /^TEST_AMQP_URL=(.+)$/m.exec(out)?.[1]?.trim();
}
const exchange = `bench-${process.pid}`;
const queue = `bench-${process.pid}`;
const conn = await amqp.connect(url);
const ch = await conn.createChannel();
await ch.assertExchange(exchange, 'topic', { durable: true });
await ch.assertQueue(queue, { durable: true });
await ch.bindQueue(queue, exchange, '#');

const dir = mkdtempSync(join(tmpdir(), 'hepix-bench-drain-'));
const publisher = await connectPublisher({ url, exchange });
const results = [];
try {
  for (const batch of [1, 10, 100]) {
    const store = await openStore(`sqlite:///${join(dir, `outbox-${batch}.db`)}`, {
      extensions: [outboxExtension],
    });
    await store.transaction(async ({ extension }) => {
      const o = extension(outboxExtension);
      for (let i = 0; i < count; i++)
        await o.enqueue({ type: 'AvailablePostfix', payload: { i, image: `img-${i}` } });
    });
    const outbox = store.extension(outboxExtension);
    const started = process.hrtime.bigint();
    const r = await drainOutbox(outbox, publisher, { batch });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await store.close();
    await ch.purgeQueue(queue);
    if (r.published !== count) throw new Error(`batch ${batch}: published ${r.published}`);
    results.push({ batch, seconds });
  }
} finally {
  await publisher.close();
  await ch.deleteQueue(queue);
  await ch.deleteExchange(exchange);
  await conn.close();
  rmSync(dir, { recursive: true, force: true });
}
const ref = results[0].seconds;
console.log(`${count} events drained into RabbitMQ on 127.0.0.1 (confirmed, persistent, durable queue)`);
for (const r of results) {
  console.log(
    `batch=${String(r.batch).padEnd(3)}  ${r.seconds.toFixed(2)} s  ${(count / r.seconds).toFixed(0)} events/s  ratio vs batch 1 ${(ref / r.seconds).toFixed(2)}`,
  );
}
