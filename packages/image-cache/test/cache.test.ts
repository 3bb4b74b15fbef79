import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CacheHooks,
  deliverEvent,
  createImageCache,
  type ImageCacheOptions,
  imageFileName,
  readIndex,
} from '../src/index.js';
import { type ImageServer, makePki, startImageServer, type TestPki as Pki } from '@hepix/test-support';
import { imageData, prepareStore, publish, sha512, type TestImage } from './helpers.js';

const SUB = 'a9c9a5a8-3c5e-4b7e-9b51-5b8f0b2e1c10';
const noSleep = async () => {};

let server: ImageServer;
let pki: Pki;
let root: string;
let work: string;
let store: Store;
let eventLog: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  work = await mkdtemp(join(root, 'case-'));
  eventLog = join(work, 'events.log');
  server.images.clear();
  server.requests.length = 0;
  server.redirects.clear();
  server.range = true;
});
afterEach(async () => {
  await store?.close();
});

function image(identifier: string, size: number): TestImage {
  const data = imageData(size);
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data });
  return { identifier, data, uri: `${server.url}${path}` };
}

function cacheFor(extra: Partial<ImageCacheOptions> = {}) {
  const logs: [string, string][] = [];
  const cache = createImageCache({
    store,
    dirs: { cache: join(work, 'cache') },
    eventCommand: `printf '%s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" "$VMCATCHER_EVENT_FILENAME" >> '${eventLog}'`,
    log: (level, msg) => logs.push([level, msg]),
    sleep: noSleep,
    ...extra,
  });
  return { cache, logs };
}

async function events(): Promise<string[]> {
  try {
    return (await readFile(eventLog, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Every regular file below dir, relative. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      out.push(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

describe('download', () => {
  it('caches an image with AvailablePrefix then AvailablePostfix and a compatible cache.index', async () => {
    const id = '0c1a4ee4-7c48-4c9b-8a8e-6f3c0a1b2c3d';
    const img = image(id, 300_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img], { vo: 'dteam' });
    const order: string[] = [];
    const hooks: CacheHooks = {
      'process:before': () => void order.push('process:before'),
      'image:available:before': (e) => void order.push(`available:before ${e.identifier} ${e.filename}`),
      'image:available:after': (e) => void order.push(`available:after ${e.identifier}`),
      'process:after': (e) => void order.push(`process:after ${e.result.downloaded.join(',')}`),
    };
    const { cache } = cacheFor({ hooks });
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([id]);
    expect(summary.failed).toEqual([]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    expect(await events()).toEqual([
      'ProcessPrefix  ',
      `AvailablePrefix ${id} ${id}`,
      `AvailablePostfix ${id} ${id}`,
      'ProcessPostfix  ',
    ]);
    expect(order).toEqual([
      'process:before',
      `available:before ${id} ${id}`,
      `available:after ${id}`,
      `process:after ${id}`,
    ]);
    const index = await readIndex(join(work, 'cache'));
    const entry = index[id];
    expect(entry).toMatchObject({
      'dc:identifier': id,
      uuid: id,
      'hv:uri': img.uri,
      uri: img.uri,
      'sl:checksum:sha512': sha512(img.data),
      sha512: sha512(img.data),
      'hv:size': 300_000,
      size: 300_000,
      'hv:imagelist.dc:identifier': SUB,
      'hv:imagelist.ad:vo': 'dteam',
      'hv:image.hv:format': 'raw',
      'hv:image.ad:mpuri': `https://mp.example/${id}`,
      'dc:title': `title of ${id}`,
      'sl:arch': 'x86_64',
      filename: id,
    });
    // The signed list is kept once beside the index, by its sha512, not in every entry.
    expect(entry.message).toBeUndefined();
    expect(entry.msgHash).toMatch(/^[0-9a-f]{128}$/);
    const message = await readFile(join(work, 'cache', 'cache.index.messages', String(entry.msgHash)));
    expect(message.toString('utf8')).toContain('application/x-pkcs7-signature');
    expect(sha512(message)).toBe(entry.msgHash);
    // Written like json.dumps(sort_keys=True, indent=4).
    const text = await readFile(join(work, 'cache', 'cache.index'), 'utf8');
    expect(text.startsWith(`{\n    "${id}": {\n        "DownLoadTrys"`)).toBe(true);
    // Nothing left in partial, a second run does nothing.
    expect(await readIndex(join(work, 'cache', 'partial'))).toEqual({});
    const again = await cache.run();
    expect(again.downloaded).toEqual([]);
    expect(again.expired).toEqual([]);
  });

  it('never lets a corrupt image into the cache: wrong sha512, wrong size, truncated', async () => {
    const ids = [
      '11111111-0000-4000-8000-000000000001',
      '11111111-0000-4000-8000-000000000002',
      '11111111-0000-4000-8000-000000000003',
    ];
    const wrongSha = image(ids[0], 100_000);
    server.images.get(new URL(wrongSha.uri).pathname)!.body = Buffer.concat([
      wrongSha.data.subarray(0, 99_999),
      Buffer.from('x'),
    ]);
    const tooBig = image(ids[1], 100_000);
    server.images.get(new URL(tooBig.uri).pathname)!.body = Buffer.concat([
      tooBig.data,
      Buffer.from('extra'),
    ]);
    const truncated = image(ids[2], 100_000);
    server.images.get(new URL(truncated.uri).pathname)!.body = truncated.data.subarray(0, 60_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, [wrongSha, tooBig, truncated]);
    const failures: string[] = [];
    const { cache } = cacheFor({
      hooks: { 'image:verify:failed': (e) => void failures.push(`${e.identifier} ${e.stage} ${e.reason}`) },
    });
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([]);
    expect(summary.failed.map((f) => [f.identifier, f.code]).sort()).toEqual([
      [ids[0], 'ERR_CACHE_VERIFY'],
      [ids[1], 'ERR_CACHE_VERIFY'],
      [ids[2], 'ERR_CACHE_VERIFY'],
    ]);
    expect(failures.sort()).toEqual([
      `${ids[0]} download sha512`,
      `${ids[1]} download size`,
      `${ids[2]} download size`,
    ]);
    expect(await tree(join(work, 'cache'))).toEqual([
      'cache.index',
      'expired/cache.index',
      'partial/cache.index',
    ]);
    expect(await readIndex(join(work, 'cache'))).toEqual({});
    expect(await events()).toEqual(['ProcessPrefix  ', 'ProcessPostfix  ']);
  });

  it('resumes from the partial file with Range when the server drops the connection', async () => {
    const id = '22222222-0000-4000-8000-000000000001';
    const img = image(id, 4 * 1024 * 1024);
    const served = server.images.get(new URL(img.uri).pathname)!;
    served.dropAfter = 1024 * 1024 + 17;
    served.dropTimes = 2;
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const progress: number[] = [];
    const { cache } = cacheFor({ hooks: { progress: (p) => void progress.push(p.bytes) } });
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([id]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    const reqs = server.requests.filter((r) => r.path === new URL(img.uri).pathname);
    // Every byte received before the drop was kept: each retry asks for exactly the rest.
    expect(reqs.map((r) => [r.status, r.range])).toEqual([
      [200, undefined],
      [206, `bytes=${1024 * 1024 + 17}-`],
      [206, `bytes=${2 * (1024 * 1024 + 17)}-`],
    ]);
    expect(progress.at(-1)).toBe(4 * 1024 * 1024);
  });

  it('starts again from byte 0 when the server does not support Range', async () => {
    const id = '22222222-0000-4000-8000-000000000002';
    const img = image(id, 2 * 1024 * 1024);
    const served = server.images.get(new URL(img.uri).pathname)!;
    served.dropAfter = 512 * 1024;
    served.dropTimes = 1;
    server.range = false;
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache } = cacheFor();
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([id]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    const reqs = server.requests.filter((r) => r.path === new URL(img.uri).pathname);
    expect(reqs.map((r) => r.status)).toEqual([200, 200]);
    expect(reqs[1].range).toBe(`bytes=${512 * 1024}-`);
  });

  it('gives up after the retries and keeps the partial file for the next run', async () => {
    const id = '22222222-0000-4000-8000-000000000003';
    const img = image(id, 1024 * 1024);
    const served = server.images.get(new URL(img.uri).pathname)!;
    served.dropAfter = 100_000;
    served.dropTimes = 1;
    server.range = true;
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache } = cacheFor({ download: { retries: 0 } });
    const first = await cache.run();
    expect(first.failed.map((f) => f.code)).toEqual(['ERR_CACHE_DOWNLOAD']);
    expect((await stat(join(work, 'cache', 'partial', id))).size).toBe(100_000);
    const second = await cache.run();
    expect(second.downloaded).toEqual([id]);
    expect(server.requests.at(-1)).toMatchObject({ status: 206, range: 'bytes=100000-' });
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  });

  it('downloads again a cached file that was removed behind its back', async () => {
    const id = '22222222-0000-4000-8000-000000000006';
    const img = image(id, 20_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache, logs } = cacheFor();
    expect((await cache.run()).downloaded).toEqual([id]);
    await rm(join(work, 'cache', id));
    const again = await cache.run();
    expect(again.downloaded).toEqual([id]);
    expect(again.expired).toEqual([]);
    expect(logs.some(([l, m]) => l === 'warn' && m.includes('missing'))).toBe(true);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  });

  it('checks free space before downloading', async () => {
    const id = '22222222-0000-4000-8000-000000000004';
    const img = { ...image(id, 1000), size: 2 ** 53 - 1 };
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache } = cacheFor();
    const summary = await cache.run();
    expect(summary.failed.map((f) => f.code)).toEqual(['ERR_CACHE_NO_SPACE']);
    expect(server.requests).toEqual([]);
  });

  it('gives up after five failed attempts for the same list, until a new list arrives', async () => {
    const id = '22222222-0000-4000-8000-000000000005';
    const img = image(id, 10_000);
    server.images.get(new URL(img.uri).pathname)!.body = imageData(10_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache } = cacheFor();
    for (let i = 0; i < 5; i++)
      expect((await cache.run()).failed.map((f) => f.code)).toEqual(['ERR_CACHE_VERIFY']);
    expect((await cache.run()).failed.map((f) => f.code)).toEqual(['ERR_CACHE_GAVE_UP']);
    expect(server.requests).toHaveLength(5);
    server.images.get(new URL(img.uri).pathname)!.body = undefined;
    await publish(store, pki, work, SUB, [img]);
    expect((await cache.run()).downloaded).toEqual([id]);
  });

  it('downloads several images in parallel, bounded by concurrency', async () => {
    const ids = Array.from({ length: 5 }, (_, i) => `33333333-0000-4000-8000-00000000000${i}`);
    const imgs = ids.map((id) => image(id, 512 * 1024));
    for (const i of imgs) server.images.get(new URL(i.uri).pathname)!.rate = 4 * 1024 * 1024;
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    let active = 0;
    let peak = 0;
    const seen = new Set<string>();
    const { cache } = cacheFor({
      concurrency: 3,
      hooks: {
        progress: (p) => {
          if (!seen.has(p.identifier)) {
            seen.add(p.identifier);
            active++;
            peak = Math.max(peak, active);
          }
          if (p.bytes === p.total) active--;
        },
      },
    });
    const summary = await cache.run();
    expect(summary.downloaded.sort()).toEqual(ids);
    expect(peak).toBe(3);
    for (const i of imgs)
      expect(sha512(await readFile(join(work, 'cache', i.identifier)))).toBe(sha512(i.data));
  });
});

describe('transports', () => {
  it('follows redirects, verifies https against the given CA, and refuses an unknown CA', async () => {
    const tlsServer = await startImageServer({
      cert: await readFile(join(pki.dir, 'server/cert.pem')),
      key: await readFile(join(pki.dir, 'server/key.pem')),
    });
    try {
      const [a, b] = ['99999999-0000-4000-8000-00000000000a', '99999999-0000-4000-8000-00000000000b'];
      const data = [imageData(70_000), imageData(80_000)];
      tlsServer.images.set('/a.img', { data: data[0] });
      server.images.set('/b.img', { data: data[1] });
      server.redirects.set('/moved/b.img', '/b.img');
      const imgs: TestImage[] = [
        { identifier: a, data: data[0], uri: `${tlsServer.url}/a.img` },
        { identifier: b, data: data[1], uri: `${server.url}/moved/b.img` },
      ];
      store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
      await publish(store, pki, work, SUB, imgs);
      const refused = await cacheFor({ download: { retries: 0 } }).cache.run();
      expect(refused.failed.map((f) => [f.identifier, f.code])).toEqual([[a, 'ERR_CACHE_TLS']]);
      expect(refused.downloaded).toEqual([b]);
      expect(server.requests.map((r) => [r.path, r.status])).toEqual([
        ['/moved/b.img', 302],
        ['/b.img', 200],
      ]);
      const ca = await readFile(join(pki.dir, 'ca/ca.pem'), 'utf8');
      const trusted = await cacheFor({ download: { ca } }).cache.run();
      expect(trusted.downloaded).toEqual([a]);
      expect(sha512(await readFile(join(work, 'cache', a)))).toBe(sha512(data[0]));
    } finally {
      await tlsServer.close();
    }
  });

  it('refuses a redirect from an https image server to http, as for lists', async () => {
    const tlsServer = await startImageServer({
      cert: await readFile(join(pki.dir, 'server/cert.pem')),
      key: await readFile(join(pki.dir, 'server/key.pem')),
    });
    try {
      const id = '99999999-0000-4000-8000-0000000000d1';
      const data = imageData(50_000);
      server.images.set('/plain.img', { data });
      tlsServer.redirects.set('/down.img', `${server.url}/plain.img`);
      store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
      await publish(store, pki, work, SUB, [{ identifier: id, data, uri: `${tlsServer.url}/down.img` }]);
      const ca = await readFile(join(pki.dir, 'ca/ca.pem'), 'utf8');
      const summary = await cacheFor({ download: { ca, retries: 2 } }).cache.run();
      expect(summary.downloaded).toEqual([]);
      expect(summary.failed.map((f) => [f.identifier, f.code])).toEqual([[id, 'ERR_CACHE_REDIRECT']]);
      expect(server.requests).toEqual([]); // the http server was never asked
      expect(tlsServer.requests.map((r) => [r.path, r.status])).toEqual([['/down.img', 302]]); // no retries
      // A refusal leaves the cache as it was: nothing in it, no partial file, no partial entry.
      expect(await tree(join(work, 'cache'))).toEqual([
        'cache.index',
        'expired/cache.index',
        'partial/cache.index',
      ]);
      expect(await readIndex(join(work, 'cache', 'partial'))).toEqual({});
    } finally {
      await tlsServer.close();
    }
  });

  it('verifies https image servers with grid host certificates against the CA directory (igtf)', async () => {
    const tlsServer = await startImageServer({
      cert: await readFile(join(pki.dir, 'server/cert.pem')),
      key: await readFile(join(pki.dir, 'server/key.pem')),
    });
    try {
      const id = '99999999-0000-4000-8000-0000000000d2';
      const data = imageData(40_000);
      tlsServer.images.set('/grid.img', { data });
      store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
      await publish(store, pki, work, SUB, [{ identifier: id, data, uri: `${tlsServer.url}/grid.img` }]);
      const missing = await cacheFor({
        download: { retries: 0, tls: { mode: 'igtf', certDir: join(work, 'no-such-dir') } },
      }).cache.run();
      expect(missing.failed.map((f) => f.code)).toEqual(['ERR_CACHE_TRUST']);
      expect(tlsServer.requests).toEqual([]);
      const summary = await cacheFor({
        download: { tls: { mode: 'igtf', certDir: join(pki.dir, 'certificates') } },
      }).cache.run();
      expect(summary.downloaded).toEqual([id]);
      expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(data));
    } finally {
      await tlsServer.close();
    }
  });

  it('copies file: URLs with the same verification when the site allows them', async () => {
    const id = '99999999-0000-4000-8000-0000000000f1';
    const data = imageData(30_000);
    const src = join(work, 'source.img');
    await writeFile(src, data);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [{ identifier: id, data, uri: `file://${src}` }]);
    expect((await cacheFor({ allowFileUris: true }).cache.run()).downloaded).toEqual([id]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(data));
  });
});

describe('expire', () => {
  async function cached(ids: string[]) {
    const imgs = ids.map((id) => image(id, 50_000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const { cache } = cacheFor({ now: () => new Date('2026-06-01T12:34:56Z') });
    expect((await cache.run()).downloaded.sort()).toEqual([...ids].sort());
    await writeFile(eventLog, '');
    return { imgs, cache };
  }

  it('expires an image removed from the newest list, with ExpirePrefix/ExpirePostfix and the right FILENAME', async () => {
    const [a, b] = ['44444444-0000-4000-8000-00000000000a', '44444444-0000-4000-8000-00000000000b'];
    const { imgs, cache } = await cached([a, b]);
    await publish(store, pki, work, SUB, [imgs[0]]);
    const summary = await cache.run();
    expect(summary.expired).toEqual([b]);
    expect(await events()).toEqual([
      'ProcessPrefix  ',
      `ExpirePrefix ${b} ${b}`,
      `ExpirePostfix ${b} ${b}.2026-06-01_12-34-56`,
      'ProcessPostfix  ',
    ]);
    expect(sha512(await readFile(join(work, 'cache', 'expired', `${b}.2026-06-01_12-34-56`)))).toBe(
      sha512(imgs[1].data),
    );
    expect(Object.keys(await readIndex(join(work, 'cache')))).toEqual([a]);
    const expiredIndex = await readIndex(join(work, 'cache', 'expired'));
    expect(expiredIndex[`${b}.2026-06-01_12-34-56`]).toMatchObject({
      'dc:identifier': b,
      filename: `${b}.2026-06-01_12-34-56`,
    });
  });

  it('expires an unsubscribed image', async () => {
    const a = '44444444-0000-4000-8000-0000000000a1';
    const { cache } = await cached([a]);
    expect(await store.subscriber.setImageCache(a, false)).toBe(1);
    expect((await cache.run()).expired).toEqual([a]);
    expect(await events()).toEqual([
      'ProcessPrefix  ',
      `ExpirePrefix ${a} ${a}`,
      `ExpirePostfix ${a} ${a}.2026-06-01_12-34-56`,
      'ProcessPostfix  ',
    ]);
    expect(await tree(join(work, 'cache'))).toEqual([
      'cache.index',
      `expired/${a}.2026-06-01_12-34-56`,
      'expired/cache.index',
      'partial/cache.index',
    ]);
  });

  it('expires the images of a list that has expired, and marks the list expired', async () => {
    const a = '44444444-0000-4000-8000-0000000000a2';
    await cached([a]);
    const reasons: string[] = [];
    const { cache } = cacheFor({
      now: () => new Date('2099-01-02T03:04:05Z'),
      hooks: { 'image:expire:after': (e) => void reasons.push(e.reason) },
    });
    const summary = await cache.run();
    expect(summary.expired).toEqual([a]);
    expect(summary.downloaded).toEqual([]);
    expect(reasons).toEqual(['expired']);
    expect(await events()).toEqual([
      'ProcessPrefix  ',
      `ExpirePrefix ${a} ${a}`,
      `ExpirePostfix ${a} ${a}.2099-01-02_03-04-05`,
      'ProcessPostfix  ',
    ]);
    expect((await store.subscriber.getLatestImageList(SUB))?.expired).toBeInstanceOf(Date);
    expect((await cache.run()).downloaded).toEqual([]);
  });

  it('expires the old file when the sha512 changes, then caches the new one', async () => {
    const a = '44444444-0000-4000-8000-0000000000a3';
    const { cache } = await cached([a]);
    const fresh = image(a, 60_000);
    await publish(store, pki, work, SUB, [fresh]);
    const summary = await cache.run();
    expect(summary.expired).toEqual([a]);
    expect(summary.downloaded).toEqual([a]);
    expect((await events()).map((l) => l.split(' ')[0])).toEqual([
      'ProcessPrefix',
      'ExpirePrefix',
      'ExpirePostfix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    expect(sha512(await readFile(join(work, 'cache', a)))).toBe(sha512(fresh.data));
  });

  it('lets an image:expire:before hook veto the expiry', async () => {
    const a = '44444444-0000-4000-8000-0000000000a4';
    await cached([a]);
    await store.subscriber.setImageCache(a, false);
    const { cache } = cacheFor({
      hooks: {
        'image:expire:before': () => {
          throw new Error('still in use');
        },
      },
    });
    const summary = await cache.run();
    expect(summary.expired).toEqual([]);
    expect(summary.vetoed).toEqual([{ identifier: a, step: 'expire' }]);
    expect(await events()).toEqual(['ProcessPrefix  ', 'ProcessPostfix  ']);
    expect(Object.keys(await readIndex(join(work, 'cache')))).toEqual([a]);
  });
});

describe('check', () => {
  it('re-hashes cached files and expires a corrupt one with events', async () => {
    const [a, b] = ['55555555-0000-4000-8000-00000000000a', '55555555-0000-4000-8000-00000000000b'];
    const imgs = [image(a, 40_000), image(b, 40_000)];
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, pki, work, SUB, imgs);
    const failed: string[] = [];
    const { cache } = cacheFor({
      now: () => new Date('2026-06-01T00:00:00Z'),
      hooks: { 'image:verify:failed': (e) => void failed.push(`${e.identifier} ${e.stage} ${e.reason}`) },
    });
    await cache.run();
    const corrupt = Buffer.from(imgs[1].data);
    corrupt[100] ^= 0xff;
    await writeFile(join(work, 'cache', b), corrupt);
    await writeFile(eventLog, '');
    const summary = await cache.run({ check: true });
    expect(summary.verified).toEqual([a]);
    expect(summary.expired).toEqual([b]);
    expect(failed).toEqual([`${b} check sha512`]);
    expect(await events()).toEqual([
      'ProcessPrefix  ',
      `ExpirePrefix ${b} ${b}`,
      `ExpirePostfix ${b} ${b}.2026-06-01_00-00-00`,
      'ProcessPostfix  ',
    ]);
  });
});

describe('events and hooks', () => {
  it('kills a handler that sleeps forever at the timeout and carries on', async () => {
    const ids = ['66666666-0000-4000-8000-00000000000a', '66666666-0000-4000-8000-00000000000b'];
    const imgs = ids.map((id) => image(id, 10_000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const { cache, logs } = cacheFor({
      eventCommand: `echo "$VMCATCHER_EVENT_TYPE" >> '${eventLog}'; [ "$VMCATCHER_EVENT_TYPE" = AvailablePrefix ] && exec sleep 1000; exit 0`,
      eventTimeoutMs: 300,
      eventKillGraceMs: 200,
    });
    const summary = await cache.run();
    expect(summary.downloaded.sort()).toEqual(ids);
    expect(await events()).toEqual([
      'ProcessPrefix',
      'AvailablePrefix',
      'AvailablePostfix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    expect(logs.filter(([l, m]) => l === 'error' && /timed out/.test(m))).toHaveLength(2);
    const failedEvents = await store.subscriber.listFailedEvents();
    expect(failedEvents.map((f) => f.type)).toEqual(['AvailablePrefix', 'AvailablePrefix']);
    expect(failedEvents[0].error).toMatch(/timed out/);
  });

  it('records failed events and re-delivers them in order', async () => {
    const ids = ['66666666-0000-4000-8000-0000000000c1', '66666666-0000-4000-8000-0000000000c2'];
    const imgs = ids.map((id) => image(id, 10_000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const flag = join(work, 'handler-ok');
    const command = `[ -e '${flag}' ] || exit 7; echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER $VMCATCHER_EVENT_UUID_SESSION" >> '${eventLog}'`;
    const { cache } = cacheFor({ eventCommand: command, concurrency: 1 });
    const summary = await cache.run();
    expect(summary.downloaded).toEqual(ids);
    const failed = await store.subscriber.listFailedEvents();
    expect(
      failed.map(
        (f) =>
          `${f.type} ${(f.payload.metadata as Record<string, string> | undefined)?.['dc:identifier'] ?? ''}`,
      ),
    ).toEqual([
      'ProcessPrefix ',
      `AvailablePrefix ${ids[0]}`,
      `AvailablePostfix ${ids[0]}`,
      `AvailablePrefix ${ids[1]}`,
      `AvailablePostfix ${ids[1]}`,
      'ProcessPostfix ',
    ]);
    expect(failed[0].error).toBe('exit 7');
    // Still failing: the first is bumped, nothing is delivered out of order.
    expect(await cache.retryEvents()).toEqual({ delivered: 0, remaining: 6, movedToDead: 0, dead: 0 });
    expect((await store.subscriber.listFailedEvents())[0].attempts).toBeGreaterThan(failed[0].attempts);
    await writeFile(flag, '');
    expect(await cache.retryEvents()).toEqual({ delivered: 6, remaining: 0, movedToDead: 0, dead: 0 });
    const lines = await events();
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' ').trim())).toEqual([
      'ProcessPrefix',
      `AvailablePrefix ${ids[0]}`,
      `AvailablePostfix ${ids[0]}`,
      `AvailablePrefix ${ids[1]}`,
      `AvailablePostfix ${ids[1]}`,
      'ProcessPostfix',
    ]);
    expect(new Set(lines.map((l) => l.split(' ').at(-1))).size).toBe(1);
    expect(await store.subscriber.listFailedEvents()).toEqual([]);
  });

  it('deliverEvent records a failed delivery for --retry-events and reports a success', async () => {
    store = await prepareStore(join(work, 'db.sqlite'), SUB, []);
    const event = {
      type: 'SubscriptionImageNew' as const,
      session: 's-2',
      metadata: { 'dc:identifier': 'img' },
    };
    const failed = await deliverEvent(store, 'echo oops >&2; exit 4', event);
    expect(failed).toMatchObject({ delivered: false, exitCode: 4 });
    const recorded = await store.subscriber.listFailedEvents();
    expect(recorded.map((f) => [f.id, f.type, f.error, f.payload])).toEqual([
      [failed.failedEventId, 'SubscriptionImageNew', 'exit 4: oops', event],
    ]);
    const ok = await deliverEvent(store, 'exit 0', event);
    expect(ok).toMatchObject({ delivered: true, exitCode: 0 });
    expect(ok.failedEventId).toBeUndefined();
    expect(await store.subscriber.listFailedEvents()).toHaveLength(1);
  });

  it('re-delivers a failed SubscriptionImageNew to the new-image command', async () => {
    store = await prepareStore(join(work, 'db.sqlite'), SUB, []);
    await store.subscriber.recordFailedEvent({
      type: 'SubscriptionImageNew',
      payload: { type: 'SubscriptionImageNew', session: 's-1', metadata: { 'dc:identifier': 'new-image' } },
      error: 'exit 1',
    });
    const { cache } = cacheFor({
      eventCommand: 'exit 1',
      newImageEventCommand: `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER $VMCATCHER_EVENT_UUID_SESSION" >> '${eventLog}'`,
    });
    expect(await cache.retryEvents()).toEqual({ delivered: 1, remaining: 0, movedToDead: 0, dead: 0 });
    expect(await events()).toEqual(['SubscriptionImageNew new-image s-1']);
  });

  it('lets an image:available:before hook veto making an image available', async () => {
    const id = '66666666-0000-4000-8000-0000000000d1';
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [image(id, 10_000)]);
    const { cache } = cacheFor({
      hooks: {
        'image:available:before': () => {
          throw new Error('not now');
        },
      },
    });
    const summary = await cache.run();
    expect(summary.vetoed).toEqual([{ identifier: id, step: 'available' }]);
    expect(summary.downloaded).toEqual([]);
    expect(await readIndex(join(work, 'cache'))).toEqual({});
    expect(await events()).toEqual(['ProcessPrefix  ', 'ProcessPostfix  ']);
  });

  it('aborts the run when process:before throws', async () => {
    store = await prepareStore(join(work, 'db.sqlite'), SUB, []);
    const { cache } = cacheFor({
      hooks: {
        'process:before': () => {
          throw new Error('maintenance');
        },
      },
    });
    await expect(cache.run()).rejects.toMatchObject({ code: 'ERR_CACHE_VETOED' });
    expect(await events()).toEqual([]);
  });

  it('sends library events to the command only when asked for', async () => {
    const id = '66666666-0000-4000-8000-0000000000e1';
    const img = image(id, 10_000);
    server.images.get(new URL(img.uri).pathname)!.body = imageData(10_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await cacheFor().cache.run();
    expect(await events()).toEqual(['ProcessPrefix  ', 'ProcessPostfix  ']);
    await writeFile(eventLog, '');
    await cacheFor({ commandEvents: ['ImageVerifyFailed'] }).cache.run();
    expect(await events()).toEqual(['ProcessPrefix  ', `ImageVerifyFailed ${id} ${id}`, 'ProcessPostfix  ']);
  });
});

describe('safety', () => {
  it('never writes outside the cache directories for ids like ../../etc/passwd', async () => {
    const evil = ['../../etc/passwd', '/etc/shadow', '..', 'cache.index', '.hidden'];
    const imgs = evil.map((id) => image(id, 1000));
    const nested = join(work, 'a', 'b');
    await mkdir(nested, { recursive: true });
    store = await prepareStore(join(work, 'db.sqlite'), SUB, evil);
    await publish(store, pki, work, SUB, imgs);
    const cacheDir = join(nested, 'cache');
    const summary = await createImageCache({ store, dirs: { cache: cacheDir }, sleep: noSleep }).run();
    expect(summary.downloaded.sort()).toEqual([...evil].sort());
    const names = (await tree(cacheDir)).filter((n) => !n.includes('/'));
    expect(names.sort()).toEqual(['cache.index', ...evil.map(imageFileName)].sort());
    for (const n of evil.map(imageFileName)) {
      expect(n).not.toContain('/');
      expect(n.startsWith('.')).toBe(false);
      expect(n).not.toBe('cache.index');
    }
    expect(await tree(work)).not.toContain('etc/passwd');
    expect((await tree(work)).filter((f) => !f.startsWith('a/b/cache/') && !f.startsWith('pki'))).toEqual(
      (await tree(work)).filter((f) => !f.startsWith('a/') && !f.startsWith('pki')),
    );
    expect(sha512(await readFile(join(cacheDir, imageFileName('../../etc/passwd'))))).toBe(
      sha512(imgs[0].data),
    );
    // Expiry moves them inside the expired directory only.
    for (const id of evil) await store.subscriber.setImageCache(id, false);
    const expired = await createImageCache({ store, dirs: { cache: cacheDir } }).run({ expire: true });
    expect(expired.expired.sort()).toEqual([...evil].sort());
    expect(
      (await tree(cacheDir)).every(
        (f) => f === 'cache.index' || f.startsWith('expired/') || f.startsWith('partial/'),
      ),
    ).toBe(true);
  });

  it('leaves files it did not create alone, with a warning', async () => {
    const id = '77777777-0000-4000-8000-000000000001';
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [image(id, 1000)]);
    await mkdir(join(work, 'cache', 'expired'), { recursive: true });
    await writeFile(join(work, 'cache', 'README'), 'mine');
    await writeFile(join(work, 'cache', 'expired', 'keep.me'), 'mine');
    const { cache, logs } = cacheFor();
    const summary = await cache.run();
    expect(summary.foreign.sort()).toEqual(
      [join(work, 'cache', 'README'), join(work, 'cache', 'expired', 'keep.me')].sort(),
    );
    expect(logs.some(([l, m]) => l === 'warn' && m.includes('README'))).toBe(true);
    await cache.run();
    expect(await readFile(join(work, 'cache', 'README'), 'utf8')).toBe('mine');
    expect(await readFile(join(work, 'cache', 'expired', 'keep.me'), 'utf8')).toBe('mine');
  });

  it('serialises two concurrent runs so the cache is not corrupted', async () => {
    const ids = Array.from({ length: 4 }, (_, i) => `88888888-0000-4000-8000-00000000000${i}`);
    const imgs = ids.map((id) => image(id, 256 * 1024));
    for (const i of imgs) server.images.get(new URL(i.uri).pathname)!.rate = 2 * 1024 * 1024;
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const { openStore } = await import('@hepix/imagelist-store');
    const other = await openStore(`sqlite:///${join(work, 'db.sqlite')}`);
    try {
      const [r1, r2] = await Promise.all([cacheFor().cache.run(), cacheFor({ store: other }).cache.run()]);
      expect([...r1.downloaded, ...r2.downloaded].sort()).toEqual(ids);
      expect(r1.downloaded.length === 0 || r2.downloaded.length === 0).toBe(true);
    } finally {
      await other.close();
    }
    const lines = await events();
    expect(lines.filter((l) => l.startsWith('AvailablePostfix'))).toHaveLength(4);
    // Each run's events are contiguous: ProcessPrefix … ProcessPostfix never interleave.
    const kinds = lines.map((l) => l.split(' ')[0]);
    expect(kinds.indexOf('ProcessPostfix')).toBeLessThan(kinds.lastIndexOf('ProcessPrefix'));
    for (const i of imgs)
      expect(sha512(await readFile(join(work, 'cache', i.identifier)))).toBe(sha512(i.data));
    expect(Object.keys(await readIndex(join(work, 'cache'))).sort()).toEqual(ids);
  });
});
