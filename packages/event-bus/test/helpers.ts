// The broker and databases of the tests: the RabbitMQ of scripts/start-rabbitmq.sh, SQLite (a temp file) and the
// PostgreSQL of scripts/start-postgres.sh (a fresh database per test), and a raw amqplib channel for what the
// tests look at behind the package's back.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import amqp from 'amqplib';
import pg from 'pg';
import { inject } from 'vitest';
import { outboxExtension } from '../src/index.js';

export function amqpUrl(): string {
  const url = process.env.TEST_AMQP_URL || inject('TEST_AMQP_URL');
  if (!url) throw new Error('TEST_AMQP_URL is not set and RabbitMQ could not be started');
  return url;
}

export type DialectName = 'sqlite' | 'postgres';

export function dialects(): DialectName[] {
  if (process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true') return ['sqlite'];
  return ['sqlite', 'postgres'];
}

export interface TestStore {
  store: Store;
  url: string;
  dispose(): Promise<void>;
}

/** A new store with the outbox extension, on a fresh SQLite file or PostgreSQL database. */
export async function testStore(dialect: DialectName): Promise<TestStore> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'hepix-eventbus-'));
    const url = `sqlite:///${join(dir, 'store.db')}`;
    const store = await openStore(url, { extensions: [outboxExtension] });
    return {
      store,
      url,
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const admin = process.env.TEST_POSTGRES_URL || inject('TEST_POSTGRES_URL');
  if (!admin) throw new Error('TEST_POSTGRES_URL is not set and PostgreSQL could not be started');
  const name = `hepix_eventbus_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`create database ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const store = await openStore(u.toString(), { extensions: [outboxExtension] });
  return {
    store,
    url: u.toString(),
    dispose: async () => {
      await store.close();
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export interface RawMessage {
  id: string;
  type: string;
  seq?: number;
  body: unknown;
  persistent: boolean;
  routingKey: string;
}

/** Declares a durable queue bound to `exchange` (declared durable topic) before anything is published. */
export async function declareQueue(
  url: string,
  exchange: string,
  queue: string,
  bindingKey = '#',
): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, bindingKey);
  } finally {
    await conn.close();
  }
}

/** Takes every message now in `queue` (basic.get until empty), acknowledging them. */
export async function takeAll(url: string, queue: string): Promise<RawMessage[]> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const out: RawMessage[] = [];
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (!m) break;
      const seq = m.properties.headers?.['x-hepix-seq'];
      out.push({
        id: m.properties.messageId,
        type: m.properties.type,
        seq: seq === undefined ? undefined : Number(seq),
        body: JSON.parse(m.content.toString('utf8')),
        persistent: m.properties.deliveryMode === 2,
        routingKey: m.fields.routingKey,
      });
    }
    return out;
  } finally {
    await conn.close();
  }
}

export async function deleteQueue(url: string, queue: string): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
  } finally {
    await conn.close();
  }
}

export async function expectCode(
  p: Promise<unknown> | (() => unknown),
  code: string,
): Promise<Error & Record<string, unknown>> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    const e = err as Error & Record<string, unknown>;
    if (e.code !== code)
      throw new Error(`expected ${code}, got ${String(e.code)}: ${e.message}`, { cause: e });
    return e;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/** Waits until `check()` is true, polling; the test's own timeout bounds it. */
export async function until(check: () => boolean | Promise<boolean>, everyMs = 50): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}
