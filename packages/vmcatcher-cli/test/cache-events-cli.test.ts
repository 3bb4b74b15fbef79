// vmcatcher_cache --events amqp://… through the built bin, against a RabbitMQ of its own (scripts/start-rabbitmq.sh
// in a state directory of its own, so no other test sees it stop): every event of a run, the same JSON as the
// event command's standard input, published in order with confirms; a broker that is down for part of a run loses
// nothing, and what a run could not publish goes first at the next one.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Consumer, consume, outboxExtension, type ReceivedEvent } from '@hepix/event-bus';
import { openStore } from '@hepix/imagelist-store';
import { type ImageServer, makePki, type TestPki as Pki, startImageServer } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageData, prepareStore, publish, type TestImage } from '../../image-cache/test/helpers.js';

const dist = new URL('../dist/bin/', import.meta.url).pathname;
const script = fileURLToPath(new URL('../../../scripts/start-rabbitmq.sh', import.meta.url));
const SUB = 'c0ffee00-e7e7-4222-8333-444455556666';
const run = promisify(execFile);

let root: string;
let bin: string;
let pki: Pki;
let server: ImageServer;
let amqp = '';
let brokerEnv: NodeJS.ProcessEnv;

async function broker(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [script, ...args], { env: brokerEnv, encoding: 'utf8' });
  return stdout;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-events-'));
  brokerEnv = { ...process.env, HEPIX_RABBITMQ_DIR: join(root, 'rabbitmq') };
  bin = join(root, 'bin');
  await mkdir(bin);
  await chmod(join(dist, 'vmcatcher_cache.js'), 0o755);
  await symlink(join(dist, 'vmcatcher_cache.js'), join(bin, 'vmcatcher_cache'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
  amqp = /^TEST_AMQP_URL=(.+)$/m.exec(await broker())?.[1]?.trim() ?? '';
  expect(amqp).toMatch(/^amqp:\/\//);
}, 180_000);
afterAll(async () => {
  await server.close();
  await broker('stop').catch(() => {});
  await rm(root, { recursive: true, force: true });
});

function image(identifier: string): TestImage {
  const data = imageData(50_000);
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data });
  return { identifier, data, uri: `${server.url}${path}` };
}

function runCache(args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  const child = spawn('vmcatcher_cache', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}

/** A case: a store with a list of `n` images, an event command that appends its standard input to a file. */
async function setup(n: number) {
  const work = await mkdtemp(join(root, 'case-'));
  const ids = Array.from({ length: n }, () => randomUUID());
  const db = join(work, 'vmcatcher.db');
  const store = await prepareStore(db, SUB, ids);
  await publish(store, pki, work, SUB, ids.map(image));
  await store.close();
  const stdin = join(work, 'stdin.jsonl');
  const exchange = `ex-${randomUUID()}`;
  const queue = `q-${randomUUID()}`;
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: work,
    VMCATCHER_RDBMS: `sqlite:///${db}`,
    VMCATCHER_CACHE_EVENT: `cat >> '${stdin}'`,
  };
  const args = ['--events', amqp, '--events-exchange', exchange, '--events-queue', queue];
  const received: ReceivedEvent[] = [];
  const consumers: Consumer[] = [];
  const listen = async () => {
    consumers.push(
      await consume({ url: amqp, exchange, queue, handler: async (e) => void received.push(e) }),
    );
  };
  const commandEvents = async () =>
    (await readFile(stdin, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string });
  const pending = async () => {
    const s = await openStore(`sqlite:///${db}`, { extensions: [outboxExtension] });
    try {
      return (await s.extension(outboxExtension).counts()).pending;
    } finally {
      await s.close();
    }
  };
  return {
    work,
    ids,
    env,
    args,
    received,
    listen,
    commandEvents,
    pending,
    close: () => Promise.all(consumers.map((c) => c.close())),
  };
}

describe('vmcatcher_cache --events', () => {
  it('publishes every event, in order, with the JSON the event command receives', async () => {
    const c = await setup(3);
    const r = await runCache([...c.args, '--json'], c.env, c.work);
    expect(r.code).toBe(0);
    const sent = await c.commandEvents();
    expect(sent.map((e) => e.type)).toEqual([
      'ProcessPrefix',
      ...Array(3).fill(['AvailablePrefix', 'AvailablePostfix']).flat(),
      'ProcessPostfix',
    ]);
    // The queue was declared by the run: a consumer that comes later gets every event.
    await c.listen();
    await until(() => c.received.length >= sent.length);
    expect(c.received.map((e) => e.payload)).toEqual(sent);
    expect(c.received.map((e) => e.routingKey)).toEqual(sent.map((e) => e.type));
    expect(new Set(c.received.map((e) => e.id)).size).toBe(sent.length);
    expect(await c.pending()).toBe(0);
    await c.close();
  });

  it('loses nothing when the broker is down for part of a run, and sends what is left first at the next run', async () => {
    const c = await setup(2);
    await broker('stop');
    // A run while the broker is away, that gives up publishing after 1 s: its events stay in the outbox.
    const first = await runCache([...c.args, '--events-wait', '1'], c.env, c.work);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/events not published yet/);
    const sentFirst = await c.commandEvents();
    expect(sentFirst).toHaveLength(6);
    expect(await c.pending()).toBe(6);

    // A second run (nothing new: ProcessPrefix and ProcessPostfix) while the broker is still away; it comes back
    // while the run waits to publish.
    const second = runCache([...c.args, '--events-wait', '120'], c.env, c.work);
    await until(async () => (await c.commandEvents()).length >= 8);
    await broker();
    const r = await second;
    expect(r.code).toBe(0);
    const sent = await c.commandEvents();
    await c.listen();
    await until(() => c.received.length >= sent.length);
    // Every event of both runs, in the order they happened; duplicates (if any) carry the same id.
    const unique = c.received.filter((e, i) => c.received.findIndex((x) => x.id === e.id) === i);
    expect(unique.map((e) => e.payload)).toEqual(sent);
    expect(await c.pending()).toBe(0);
    await c.close();
  });

  it('a run killed just after an image became available: the next run sends its AvailablePostfix again, with its id, and the queue gets it once', async () => {
    const c = await setup(1);
    // The event command kills vmcatcher_cache (its parent) at the first AvailablePostfix: the image is cached,
    // the event is in the outbox and the index still says it is to send.
    const killed = join(c.work, 'killed');
    c.env.VMCATCHER_CACHE_EVENT = `${c.env.VMCATCHER_CACHE_EVENT}; if [ "$VMCATCHER_EVENT_TYPE" = AvailablePostfix ] && [ ! -e '${killed}' ]; then : > '${killed}'; kill -9 $PPID; fi`;
    const first = await runCache(c.args, c.env, c.work);
    expect(first.code).toBeNull();
    const before = (await c.commandEvents()) as { type: string; id: string }[];
    expect(before.map((e) => e.type)).toEqual(['ProcessPrefix', 'AvailablePrefix', 'AvailablePostfix']);
    const eventId = before[2].id;
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);

    const second = await runCache([...c.args, '--json'], c.env, c.work);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ downloaded: [] });
    const after = (await c.commandEvents()).slice(3) as { type: string; id: string }[];
    expect(after.map((e) => e.type)).toEqual(['ProcessPrefix', 'AvailablePostfix', 'ProcessPostfix']);
    expect(after[1].id).toBe(eventId);
    await c.listen();
    await until(() => c.received.length >= 5);
    expect(c.received.map((e) => e.type)).toEqual([
      'ProcessPrefix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPrefix',
      'ProcessPostfix',
    ]);
    expect(c.received[2].id).toBe(eventId);
    expect(await c.pending()).toBe(0);
    await c.close();
  });
});
