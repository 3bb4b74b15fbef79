// Unattended operation of the cache (issue "unattended operation"): deadlines, free space across parallel
// downloads, the size of cache.index, retention of expired copies, failed events and their dead-letter list,
// the reasons of expiries, and adopting the original's cache directories.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { type ImageServer, makePki, startImageServer, type TestPki as Pki } from '@hepix/test-support';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CacheStorage,
  createDirectoryStorage,
  createImageCache,
  type ImageCacheOptions,
  readIndex,
  serializeIndex,
} from '../src/index.js';
import { imageData, prepareStore, publish, sha512, type TestImage } from './helpers.js';

const SUB = '0be7a7e0-0000-4000-8000-000000000000';
const noSleep = async () => {};

let server: ImageServer;
let pki: Pki;
let root: string;
let work: string;
let store: Store;
let eventLog: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-operation-'));
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
  server.range = true;
});
afterEach(async () => {
  await store?.close();
});

function image(identifier: string, size: number, rate?: number): TestImage {
  const data = imageData(size);
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data, ...(rate ? { rate } : {}) });
  return { identifier, data, uri: `${server.url}${path}` };
}

const record = `printf '%s %s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" "$VMCATCHER_EVENT_REASON" "$VMCATCHER_EVENT_FILENAME"`;

function cacheFor(extra: Partial<ImageCacheOptions> = {}) {
  return createImageCache({
    store,
    dirs: { cache: join(work, 'cache') },
    eventCommand: `${record} >> '${eventLog}'`,
    sleep: noSleep,
    ...extra,
  });
}

async function events(): Promise<string[]> {
  try {
    return (await readFile(eventLog, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('deadlines', () => {
  it('gives up a download that is slower than the minimum rate, keeps its bytes, and resumes it later', async () => {
    const id = '0be70001-0000-4000-8000-000000000001';
    const img = image(id, 512 * 1024, 256 * 1024);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    // 512 KiB at a minimum of 4 MiB/s with no fixed allowance: 125 ms per attempt; the server needs 2 s.
    const slow = await cacheFor({
      download: { retries: 1, minRate: 4 * 1024 * 1024, fetchTimeoutMs: 0 },
    }).run();
    expect(slow.failed.map((f) => f.code)).toEqual(['ERR_CACHE_DEADLINE']);
    expect(slow.downloaded).toEqual([]);
    const reqs = server.requests.filter((r) => r.path === new URL(img.uri).pathname);
    expect(reqs).toHaveLength(2); // the first attempt and one retry, which resumed
    expect(reqs[1].range).toMatch(/^bytes=\d+-$/);
    const kept = (await stat(join(work, 'cache', 'partial', id))).size;
    expect(kept).toBeGreaterThan(0);
    server.images.get(new URL(img.uri).pathname)!.rate = undefined;
    const later = await cacheFor().run();
    expect(later.downloaded).toEqual([id]);
    expect(server.requests.at(-1)?.range).toBe(`bytes=${kept}-`);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  });
});

describe('free space', () => {
  it('reserves space across parallel downloads: two that fit alone but not together never both start', async () => {
    const ids = ['0be70002-0000-4000-8000-000000000001', '0be70002-0000-4000-8000-000000000002'];
    const imgs = ids.map((id) => image(id, 200_000, 50_000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const dirs = createDirectoryStorage({ cache: join(work, 'cache') });
    // A partial area with 300 000 bytes free (the real one is much larger): room for one image at a time.
    const storage: CacheStorage = { ...dirs, freeSpace: async () => 300_000 };
    const first = await cacheFor({ storage, concurrency: 2 }).run();
    expect(first.downloaded).toHaveLength(1);
    expect(first.failed.map((f) => f.code)).toEqual(['ERR_CACHE_NO_SPACE']);
    const refused = first.failed[0].identifier;
    // The refused one left nothing behind, and the next run gets it.
    expect(await readdir(join(work, 'cache', 'partial'))).toEqual(['cache.index']);
    expect(Object.keys(await readIndex(join(work, 'cache', 'partial')))).toEqual([]);
    const second = await cacheFor({ storage }).run();
    expect(second.downloaded).toEqual([refused]);
  }, 60_000);
});

describe('cache.index', () => {
  it('keeps the signed list once beside the index, and writes only what changed', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `0be70003-0000-4000-8000-00000000000${i}`);
    // A list of about 2 MB (a large AppDB list), ten images.
    const imgs = ids.map((id, i) => image(id, 1000 + i));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs, {
      listExtra: { 'dc:description': 'x'.repeat(2 * 1024 * 1024) },
    });
    const listBytes = (await store.subscriber.getLatestImageList(SUB))!.data.length;
    const dirs = createDirectoryStorage({ cache: join(work, 'cache') });
    const written = { index: 0, messages: 0, indexWrites: 0 };
    const storage: CacheStorage = {
      ...dirs,
      writeIndex: async (area, text) => {
        written.index += Buffer.byteLength(text);
        written.indexWrites++;
        await dirs.writeIndex(area, text);
      },
      writeMessage: async (hash, data) => {
        written.messages += data.length;
        await dirs.writeMessage(hash, data);
      },
    };
    expect((await cacheFor({ storage }).run()).downloaded.sort()).toEqual(ids);
    const index = await readFile(join(work, 'cache', 'cache.index'));
    expect(index.length).toBeLessThan(listBytes / 10); // the original: ten copies of the list
    expect(written.messages).toBe(listBytes); // once
    // Each change wrote its index once (plus the three empty ones of a first run and the partial entries).
    expect(written.index).toBeLessThan(40 * index.length);
    const message = join(
      work,
      'cache',
      'cache.index.messages',
      sha512(Buffer.from((await store.subscriber.getLatestImageList(SUB))!.data)),
    );
    expect((await stat(message)).size).toBe(listBytes);
    Object.assign(written, { index: 0, messages: 0, indexWrites: 0 });
    const again = await cacheFor({ storage }).run();
    expect(again.downloaded).toEqual([]);
    expect(written).toEqual({ index: 0, messages: 0, indexWrites: 0 });
  });

  it('adopts an index the original wrote (the list in every entry): nothing expired, nothing moved, no event', async () => {
    const ids = ['0be70004-0000-4000-8000-000000000001', '0be70004-0000-4000-8000-000000000002'];
    const imgs = ids.map((id) => image(id, 3000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs, { vo: 'dteam' });
    const list = (await store.subscriber.getLatestImageList(SUB))!;
    const cacheDir = join(work, 'cache');
    for (const d of ['', 'partial', 'expired']) await mkdir(join(cacheDir, d), { recursive: true });
    const original: Record<string, Record<string, unknown>> = {};
    for (const img of imgs) {
      await writeFile(join(cacheDir, img.identifier), img.data);
      // Reference §3.4: every field, the signed list as `message`, legacy keys, DownLoadTrys.
      original[img.identifier] = {
        'hv:uri': img.uri,
        'sl:checksum:sha512': sha512(img.data),
        'hv:size': img.data.length,
        'dc:identifier': img.identifier,
        message: Buffer.from(list.data).toString('utf8'),
        msgHash: list.dataHash,
        'hv:imagelist.dc:identifier': SUB,
        'dc:title': `title of ${img.identifier}`,
        uri: img.uri,
        sha512: sha512(img.data),
        size: img.data.length,
        uuid: img.identifier,
        'hv:image.hv:format': 'raw',
        'hv:imagelist.ad:vo': 'dteam',
        DownLoadTrys: { count: 1, msgHash: list.dataHash },
        filename: img.identifier,
      };
    }
    await writeFile(join(cacheDir, 'cache.index'), serializeIndex(original));
    await writeFile(join(cacheDir, 'partial', 'cache.index'), '{}');
    await writeFile(join(cacheDir, 'expired', 'cache.index'), '{}');
    const summary = await cacheFor().run();
    expect(summary).toMatchObject({ downloaded: [], expired: [], failed: [], foreign: [] });
    expect(await events()).toEqual(['ProcessPrefix   ', 'ProcessPostfix   ']);
    expect(server.requests).toEqual([]);
    for (const img of imgs) expect(await readFile(join(cacheDir, img.identifier))).toEqual(img.data);
    const adopted = await readIndex(cacheDir);
    expect(Object.keys(adopted).sort()).toEqual(ids);
    for (const id of ids) {
      const { message: _m, ...rest } = original[id];
      expect(adopted[id]).toEqual(rest);
    }
    expect(await readFile(join(cacheDir, 'cache.index.messages', list.dataHash))).toEqual(
      Buffer.from(list.data),
    );
  });
});

describe('retention', () => {
  it('keeps the newest N expired copies of each image and removes older ones, never foreign files', async () => {
    const id = '0be70005-0000-4000-8000-000000000001';
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await mkdir(join(work, 'cache', 'expired'), { recursive: true });
    await writeFile(join(work, 'cache', 'expired', `${id}.2020-01-01_00-00-00`), 'not ours');
    const stamps: string[] = [];
    for (let v = 0; v < 4; v++) {
      await publish(store, pki, work, SUB, [image(id, 1000 + v)]);
      const at = new Date(Date.UTC(2026, 0, 1 + v));
      await cacheFor({ now: () => at, expiredKeep: 2 }).run();
      if (v > 0) stamps.push(`${id}.2026-01-0${1 + v}_00-00-00`);
    }
    const names = (await readdir(join(work, 'cache', 'expired'))).sort();
    expect(names).toEqual(['cache.index', `${id}.2020-01-01_00-00-00`, ...stamps.slice(-2)].sort());
    expect(Object.keys(await readIndex(join(work, 'cache', 'expired'))).sort()).toEqual(stamps.slice(-2));
    expect(await readFile(join(work, 'cache', 'expired', `${id}.2020-01-01_00-00-00`), 'utf8')).toBe(
      'not ours',
    );
  });
});

describe('failed events', () => {
  it('moves an event that keeps failing to the dead-letter list; later ones are delivered in order', async () => {
    const ids = ['0be70006-0000-4000-8000-000000000001', '0be70006-0000-4000-8000-000000000002'];
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(
      store,
      pki,
      work,
      SUB,
      ids.map((id) => image(id, 1000)),
    );
    const flag = join(work, 'handler-ok');
    // The handler fails for everything until the flag exists, and always for the first image's AvailablePrefix.
    const command = `[ "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER" = "AvailablePrefix ${ids[0]}" ] && exit 9; [ -e '${flag}' ] || exit 7; ${record} >> '${eventLog}'`;
    const cache = cacheFor({ eventCommand: command, concurrency: 1, maxEventAttempts: 3 });
    const summary = await cache.run();
    expect(summary.eventFailures.map((e) => e.type)).toEqual([
      'ProcessPrefix',
      'AvailablePrefix',
      'AvailablePostfix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    await writeFile(flag, '');
    // ProcessPrefix goes through, the poisoned event blocks the queue (attempt 2 of 3).
    expect(await cache.retryEvents()).toEqual({ delivered: 1, remaining: 5, movedToDead: 0, dead: 0 });
    // Attempt 3: dead; everything after it follows, in order.
    expect(await cache.retryEvents()).toEqual({ delivered: 4, remaining: 0, movedToDead: 1, dead: 1 });
    expect((await events()).map((l) => l.split(' ').slice(0, 2).join(' ').trim())).toEqual([
      'ProcessPrefix',
      `AvailablePostfix ${ids[0]}`,
      `AvailablePrefix ${ids[1]}`,
      `AvailablePostfix ${ids[1]}`,
      'ProcessPostfix',
    ]);
    const [dead] = await cache.failedEvents();
    expect(dead).toMatchObject({ type: 'AvailablePrefix', attempts: 3, error: 'exit 9' });
    expect(dead.dead).toBeInstanceOf(Date);
    // Still failing with --include-dead: it stays dead; dropping it empties the lists.
    expect(await cache.retryEvents({ includeDead: true })).toEqual({
      delivered: 0,
      remaining: 0,
      movedToDead: 0,
      dead: 1,
    });
    await cache.dropEvent(dead.id);
    expect(await cache.failedEvents()).toEqual([]);
    await expect(cache.dropEvent(dead.id)).rejects.toMatchObject({ code: 'ERR_STORE_NOT_FOUND' });
  });
});

describe('expiry reasons', () => {
  it('tells handlers why an image left the cache (VMCATCHER_EVENT_REASON, metadata.reason)', async () => {
    const ids = Array.from({ length: 4 }, (_, i) => `0be70007-0000-4000-8000-00000000000${i}`);
    const imgs = ids.map((id) => image(id, 2000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const at = new Date('2026-02-01T00:00:00Z');
    const reasons: string[] = [];
    const cache = cacheFor({
      now: () => at,
      hooks: {
        'image:expire:after': (e) => void reasons.push(`${e.identifier} ${e.reason} ${e.metadata.reason}`),
      },
    });
    await cache.run();
    await writeFile(eventLog, '');
    // 0 unsubscribed, 1 removed from the list, 2 replaced by other bytes; 3 stays, then is found corrupt.
    await store.subscriber.setImageCache(ids[0], false);
    await publish(store, pki, work, SUB, [image(ids[0], 2000), image(ids[2], 2100), imgs[3]]);
    await cache.run();
    await writeFile(join(work, 'cache', ids[3]), 'corrupt');
    await cache.run({ check: true });
    expect(reasons).toEqual([
      `${ids[0]} not-endorsed not-endorsed`,
      `${ids[1]} withdrawn withdrawn`,
      `${ids[2]} withdrawn withdrawn`,
      `${ids[3]} corrupt corrupt`,
    ]);
    const stamp = '2026-02-01_00-00-00';
    expect((await events()).filter((l) => l.startsWith('Expire'))).toEqual([
      `ExpirePrefix ${ids[0]} not-endorsed ${ids[0]}`,
      `ExpirePostfix ${ids[0]} not-endorsed ${ids[0]}.${stamp}`,
      `ExpirePrefix ${ids[1]} withdrawn ${ids[1]}`,
      `ExpirePostfix ${ids[1]} withdrawn ${ids[1]}.${stamp}`,
      `ExpirePrefix ${ids[2]} withdrawn ${ids[2]}`,
      `ExpirePostfix ${ids[2]} withdrawn ${ids[2]}.${stamp}`,
      `ExpirePrefix ${ids[3]} corrupt ${ids[3]}`,
      `ExpirePostfix ${ids[3]} corrupt ${ids[3]}.${stamp}`,
    ]);
    // An expired list: `expired`.
    await writeFile(eventLog, '');
    await cacheFor({ now: () => new Date('2099-06-01T00:00:00Z') }).run({ expire: true });
    expect((await events()).filter((l) => l.startsWith('ExpirePrefix'))).toEqual([
      `ExpirePrefix ${ids[2]} expired ${ids[2]}`,
    ]);
  });
});
