// The site policy in the cache: refused images are never downloaded, cached images a policy change refuses are
// expired with the reason in the events, deprecated images under refuse and warn, the list age, and mirrors
// (`sl:locations`) tried after hv:uri. Lists signed with openssl, images served from loopback, a real store.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { DEFAULT_POLICY, parsePolicy, type SitePolicy } from '@hepix/site-policy';
import { type ImageServer, makePki, startImageServer, type TestPki as Pki } from '@hepix/test-support';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  applyPolicy,
  createImageCache,
  type ImageCacheOptions,
  readIndex,
  STATE_DEPRECATED,
} from '../src/index.js';
import { imageData, prepareStore, publish, sha512, type TestImage } from './helpers.js';

const SUB = '5e1f0c3a-7d44-4a0b-9f1e-2c3d4e5f6a7b';
const noSleep = async () => {};

let server: ImageServer;
let mirror: ImageServer;
let pki: Pki;
let root: string;
let work: string;
let store: Store;
let eventLog: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-policy-'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
  mirror = await startImageServer();
});
afterAll(async () => {
  await server.close();
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  work = await mkdtemp(join(root, 'case-'));
  eventLog = join(work, 'events.log');
  for (const s of [server, mirror]) {
    s.images.clear();
    s.requests.length = 0;
    s.redirects.clear();
    s.range = true;
  }
});
afterEach(async () => {
  await store?.close();
});

function served(on: ImageServer, data: Buffer, extra: { body?: Buffer; rate?: number } = {}): string {
  const path = `/images/${randomUUID()}.img`;
  on.images.set(path, { data, ...extra });
  return `${on.url}${path}`;
}

function image(identifier: string, size: number, extra: Record<string, unknown> = {}): TestImage {
  const data = imageData(size);
  return { identifier, data, uri: served(server, data), extra };
}

function cacheFor(policy: SitePolicy | undefined, extra: Partial<ImageCacheOptions> = {}) {
  const logs: [string, string, Record<string, unknown> | undefined][] = [];
  const cache = createImageCache({
    store,
    dirs: { cache: join(work, 'cache') },
    eventCommand: `printf '%s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" "$VMCATCHER_EVENT_REASON" >> '${eventLog}'`,
    log: (level, msg, fields) => logs.push([level, msg, fields]),
    sleep: noSleep,
    ...(policy ? { policy } : {}),
    ...extra,
  });
  return { cache, logs };
}

async function events(): Promise<string[]> {
  try {
    return (await readFile(eventLog, 'utf8')).split('\n').filter((l) => l && !l.startsWith('Process'));
  } catch {
    return [];
  }
}

async function files(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter(
      (n) => !n.startsWith('cache.index') && n !== 'partial' && n !== 'expired',
    );
  } catch {
    return [];
  }
}

const policy = (text: string) => parsePolicy(text, { source: 'test.cfg' });

describe('refused images', { timeout: 60_000 }, () => {
  it('a deny-listed checksum is never downloaded; the others are', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const denied = image(a, 10_000);
    const allowed = image(b, 10_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, pki, work, SUB, [denied, allowed]);
    const { cache, logs } = cacheFor(policy(`[checksums]\ndeny = ${sha512(denied.data)}\n`));
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([b]);
    expect(summary.failed).toEqual([]);
    expect(server.requests.map((r) => r.path)).toEqual([new URL(allowed.uri).pathname]);
    expect(await files(join(work, 'cache'))).toEqual([b]);
    expect(logs.some(([, m, f]) => f?.image === a && /checksums\.deny/.test(m))).toBe(true);
  });

  it('a policy change expires a cached image with reason policy in ExpirePrefix and ExpirePostfix', async () => {
    const id = randomUUID();
    const img = image(id, 20_000, { 'hv:format': 'qcow2' });
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    expect((await cacheFor(undefined).cache.run()).downloaded).toEqual([id]);
    const reasons: string[] = [];
    const { cache } = cacheFor(policy('[limits]\nformats = raw ova\n'), {
      hooks: { 'image:expire:after': (e) => void reasons.push(e.reason) },
    });
    const summary = await cache.run();
    expect(summary.expired).toEqual([id]);
    expect(reasons).toEqual(['policy']);
    expect(await events()).toEqual([
      `AvailablePrefix ${id} `,
      `AvailablePostfix ${id} `,
      `ExpirePrefix ${id} policy`,
      `ExpirePostfix ${id} policy`,
    ]);
    expect(await files(join(work, 'cache'))).toEqual([]);
    const expired = await readIndex(join(work, 'cache', 'expired'));
    expect(Object.keys(expired)).toHaveLength(1);
    // Still refused: not downloaded again, nothing more expired.
    const again = await cache.run();
    expect(again.downloaded).toEqual([]);
    expect(again.expired).toEqual([]);
  });

  it('max-list-age expires the images of an old list with reason expired, and downloads nothing', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const first = image(a, 5_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
    const created = new Date(Date.now() - 40 * 86_400_000);
    await publish(store, pki, work, SUB, [first], { created });
    expect((await cacheFor(undefined).cache.run()).downloaded).toEqual([a]);
    await publish(store, pki, work, SUB, [first, image(b, 5_000)], { created });
    server.requests.length = 0;
    const summary = await cacheFor(policy('[limits]\nmax-list-age = 30d\n')).cache.run();
    expect(summary.downloaded).toEqual([]);
    expect(summary.expired).toEqual([a]);
    expect(server.requests).toEqual([]);
    expect(await events()).toContain(`ExpirePrefix ${a} expired`);
  });
});

describe('deprecated images', { timeout: 60_000 }, () => {
  it('are refused by default: not downloaded, and expired with reason deprecated once deprecated', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const kept = image(a, 8_000);
    const old = image(b, 8_000, { 'sl:deprecated': 'use the other image' });
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, pki, work, SUB, [kept, old]);
    expect((await cacheFor(undefined).cache.run()).downloaded).toEqual([a]);
    // The endorser deprecates the cached one too.
    await publish(store, pki, work, SUB, [{ ...kept, extra: { 'sl:deprecated': '' } }, old]);
    const summary = await cacheFor(DEFAULT_POLICY).cache.run();
    expect(summary.expired).toEqual([a]);
    expect(await events()).toContain(`ExpirePostfix ${a} deprecated`);
    const states = await applyPolicy(store, await store.subscriber.listImages());
    expect(states.map((s) => [s.identifier, s.state, s.storeState, s.deprecated])).toEqual(
      [
        [a, 1 | STATE_DEPRECATED, 3, '(no reason given)'],
        [b, 1 | STATE_DEPRECATED, 3, 'use the other image'],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
  });

  it('under deprecated = warn are cached, with a warning at every run', async () => {
    const id = randomUUID();
    const img = image(id, 8_000, { 'sl:deprecated': 'superseded by 2.0' });
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const warn = policy('[limits]\ndeprecated = warn\n');
    for (const expected of [[id], []]) {
      const { cache, logs } = cacheFor(warn);
      const summary = await cache.run();
      expect(summary.downloaded).toEqual(expected);
      expect(summary.expired).toEqual([]);
      expect(logs.filter(([l, m]) => l === 'warn' && /superseded by 2\.0/.test(m))).toHaveLength(1);
    }
    const [state] = await applyPolicy(store, await store.subscriber.listImages(), { policy: warn });
    expect(state.state).toBe(3 | STATE_DEPRECATED);
    expect(state.policy?.decision).toBe('allow');
  });
});

describe('mirrors (sl:locations)', { timeout: 60_000 }, () => {
  it('hv:uri answering 404 is followed by the first mirror that serves the bytes', async () => {
    const id = randomUUID();
    const data = imageData(50_000);
    const good = served(mirror, data);
    const img: TestImage = {
      identifier: id,
      data,
      uri: `${server.url}/images/missing.img`,
      extra: { 'sl:locations': [good] },
    };
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache, logs } = cacheFor(undefined);
    const summary = await cache.run();
    expect(summary.failed).toEqual([]);
    expect(summary.downloaded).toEqual([id]);
    expect(server.requests.map((r) => r.status)).toEqual([404]);
    expect(mirror.requests.map((r) => r.status)).toEqual([200]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(data));
    expect(
      logs.some(([l, m]) => l === 'warn' && /location 1 of 2 failed \(ERR_CACHE_DOWNLOAD\)/.test(m)),
    ).toBe(true);
  });

  it('a hanging hv:uri is abandoned at its deadline and the mirror resumes the partial file', async () => {
    const id = randomUUID();
    const data = imageData(300_000);
    // 64 KiB at once, then one chunk per minute: the deadline (0.5 s + size at 1 MB/s) ends it.
    const slow = served(server, data, { rate: 1_000 });
    const good = served(mirror, data);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [
      { identifier: id, data, uri: slow, extra: { 'sl:locations': [good] } },
    ]);
    const { cache, logs } = cacheFor(undefined, { download: { fetchTimeoutMs: 500, minRate: 1_000_000 } });
    const summary = await cache.run();
    expect(summary.failed).toEqual([]);
    expect(summary.downloaded).toEqual([id]);
    expect(logs.some(([, m]) => /location 1 of 2 failed \(ERR_CACHE_DEADLINE\)/.test(m))).toBe(true);
    // The mirror was asked for the rest only.
    expect(mirror.requests).toHaveLength(1);
    expect(mirror.requests[0]).toMatchObject({ status: 206 });
    expect(mirror.requests[0].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(data));
  });

  it('a mirror serving wrong bytes is skipped (ImageVerifyFailed) and the next one used', async () => {
    const id = randomUUID();
    const data = imageData(40_000);
    const wrong = Buffer.from(data);
    wrong[1000] ^= 0xff;
    const img: TestImage = {
      identifier: id,
      data,
      uri: `${server.url}/images/gone.img`,
      extra: { 'sl:locations': [served(mirror, data, { body: wrong }), served(server, data)] },
    };
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const verify: string[] = [];
    const { cache } = cacheFor(undefined, {
      hooks: { 'image:verify:failed': (e) => void verify.push(`${e.stage} ${e.reason}`) },
    });
    const summary = await cache.run();
    expect(summary.failed).toEqual([]);
    expect(summary.downloaded).toEqual([id]);
    expect(verify).toEqual(['download sha512']);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(data));
  });

  it('when every location fails the last failure is reported and nothing is cached', async () => {
    const id = randomUUID();
    const data = imageData(20_000);
    const wrong = imageData(20_000);
    const img: TestImage = {
      identifier: id,
      data,
      uri: `${server.url}/images/gone.img`,
      extra: { 'sl:locations': [served(mirror, data, { body: wrong })] },
    };
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const summary = await cacheFor(undefined).cache.run();
    expect(summary.downloaded).toEqual([]);
    expect(summary.failed).toMatchObject([{ identifier: id, code: 'ERR_CACHE_VERIFY', reason: 'sha512' }]);
    expect(await files(join(work, 'cache'))).toEqual([]);
  });

  it('a mirror with a refused scheme is skipped; the same rules apply to every location', async () => {
    const id = randomUUID();
    const data = imageData(10_000);
    const img: TestImage = {
      identifier: id,
      data,
      uri: `${server.url}/images/gone.img`,
      extra: { 'sl:locations': ['ftp://127.0.0.1/x.img', served(mirror, data)] },
    };
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache, logs } = cacheFor(undefined);
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([id]);
    expect(logs.some(([, m]) => /location ftp:\/\/127\.0\.0\.1\/x\.img skipped/.test(m))).toBe(true);
  });
});
