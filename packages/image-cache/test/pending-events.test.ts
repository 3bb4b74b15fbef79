// Issue 19: an AvailablePostfix or ExpirePostfix is written in the same index write as the change it reports
// (`vmcatcher:event.pending`), so a run that stops before the event reached its sink (the outbox of `--events`)
// or its command leaves it for the next run, which sends it with the same id.
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { afterEach, describe, expect, it } from 'vitest';
import { type AnyVmcatcherEvent, createImageCache, type ImageCacheOptions, readIndex } from '../src/index.js';
import { cacheFixture, prepareStore, publish, sha512 } from './helpers.js';

const SUB = 'b1c9a5a8-3c5e-4b7e-9b51-5b8f0b2e1c10';
const PENDING = 'vmcatcher:event.pending';
const NOW = () => new Date('2026-06-01T12:34:56Z');
const STAMP = '2026-06-01_12-34-56';

const fx = cacheFixture('hepix-pending-');
let store: Store;
afterEach(async () => {
  await store?.close();
});
const image = (identifier: string) => fx.image(identifier);

/** A cache whose sink records every event, and refuses the ones `refuse` names (an outbox that is down). */
function cacheWith(
  sunk: AnyVmcatcherEvent[],
  refuse: Set<string> = new Set(),
  extra: Partial<ImageCacheOptions> = {},
) {
  const logs: string[] = [];
  const cache = createImageCache({
    store,
    dirs: { cache: join(fx.work, 'cache') },
    now: NOW,
    sleep: async () => {},
    log: (level, msg) => logs.push(`${level} ${msg}`),
    eventSink: async (e) => {
      if (refuse.has(e.type)) throw new Error('the outbox is down');
      sunk.push(e);
    },
    ...extra,
  });
  return { cache, logs };
}

const postfixes = (events: AnyVmcatcherEvent[]) =>
  events.filter((e) => e.type.endsWith('Postfix') && e.type !== 'ProcessPostfix');

describe('a Postfix event is never lost', { timeout: 60_000 }, () => {
  it('AvailablePostfix the sink refused stays in the index and is sent again, with the same id, by the next run', async () => {
    const id = '55555555-0000-4000-8000-00000000000a';
    const img = image(id);
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [id]);
    await publish(store, fx.pki, fx.work, SUB, [img]);
    const first: AnyVmcatcherEvent[] = [];
    const r1 = await cacheWith(first, new Set(['AvailablePostfix'])).cache.run();
    expect(r1.downloaded).toEqual([id]);
    expect(r1.eventFailures).toEqual([{ type: 'AvailablePostfix', identifier: id }]);
    // The image is cached, and its entry says which event is still to send.
    const index = await readIndex(join(fx.work, 'cache'));
    const pending = index[id][PENDING] as { type: string; id: string };
    expect(pending.type).toBe('AvailablePostfix');
    expect(pending.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.map((e) => e.type)).toEqual(['ProcessPrefix', 'AvailablePrefix', 'ProcessPostfix']);

    const second: AnyVmcatcherEvent[] = [];
    const { cache, logs } = cacheWith(second);
    const r2 = await cache.run();
    expect(r2.downloaded).toEqual([]);
    expect(r2.eventFailures).toEqual([]);
    expect(second.map((e) => e.type)).toEqual(['ProcessPrefix', 'AvailablePostfix', 'ProcessPostfix']);
    const resent = second[1];
    expect(resent.id).toBe(pending.id);
    expect(resent.metadata).toMatchObject({ 'dc:identifier': id, filename: id });
    // The metadata is the entry's, without the bookkeeping field.
    expect(resent.metadata?.[PENDING]).toBeUndefined();
    expect(logs.some((l) => l.includes('sent 1 events an interrupted run had not sent'))).toBe(true);
    expect((await readIndex(join(fx.work, 'cache')))[id][PENDING]).toBeUndefined();
    expect(sha512(await readFile(join(fx.work, 'cache', id)))).toBe(sha512(img.data));

    // Sent: a third run sends nothing again.
    const third: AnyVmcatcherEvent[] = [];
    await cacheWith(third).cache.run();
    expect(postfixes(third)).toEqual([]);
  });

  it('ExpirePostfix the sink refused is sent again with its id, reason and the expired file name', async () => {
    const [a, b] = ['55555555-0000-4000-8000-0000000000a1', '55555555-0000-4000-8000-0000000000b1'];
    const imgs = [image(a), image(b)];
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, fx.pki, fx.work, SUB, imgs);
    expect((await cacheWith([]).cache.run()).downloaded.sort()).toEqual([a, b]);
    await publish(store, fx.pki, fx.work, SUB, [imgs[0]]);

    const first: AnyVmcatcherEvent[] = [];
    const r1 = await cacheWith(first, new Set(['ExpirePostfix'])).cache.run();
    expect(r1.expired).toEqual([b]);
    const expiredName = `${b}.${STAMP}`;
    const pending = (await readIndex(join(fx.work, 'cache', 'expired')))[expiredName][PENDING] as {
      id: string;
    };
    expect(pending.id).toMatch(/^[0-9a-f-]{36}$/);

    const second: AnyVmcatcherEvent[] = [];
    await cacheWith(second).cache.run();
    expect(postfixes(second)).toHaveLength(1);
    expect(postfixes(second)[0]).toMatchObject({
      type: 'ExpirePostfix',
      id: pending.id,
      metadata: { 'dc:identifier': b, filename: expiredName, reason: 'withdrawn' },
    });
    expect((await readIndex(join(fx.work, 'cache', 'expired')))[expiredName]).toMatchObject({
      filename: expiredName,
    });
    expect((await readIndex(join(fx.work, 'cache', 'expired')))[expiredName][PENDING]).toBeUndefined();
    expect(Object.keys(await readIndex(join(fx.work, 'cache')))).toEqual([a]);
  });

  it('an expired copy whose ExpirePostfix is not sent yet outlives --expired-keep 0 until it is sent', async () => {
    const [a, b] = ['55555555-0000-4000-8000-0000000000a6', '55555555-0000-4000-8000-0000000000b6'];
    const imgs = [image(a), image(b)];
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, fx.pki, fx.work, SUB, imgs);
    const keepNone = { expiredKeep: 0 };
    await cacheWith([], new Set(), keepNone).cache.run();
    await publish(store, fx.pki, fx.work, SUB, [imgs[0]]);
    const r1 = await cacheWith([], new Set(['ExpirePostfix']), keepNone).cache.run();
    expect(r1.expired).toEqual([b]);
    expect(r1.pruned).toEqual([]);
    const expiredName = `${b}.${STAMP}`;
    expect(Object.keys(await readIndex(join(fx.work, 'cache', 'expired')))).toEqual([expiredName]);
    const sunk: AnyVmcatcherEvent[] = [];
    const r2 = await cacheWith(sunk, new Set(), keepNone).cache.run();
    expect(postfixes(sunk).map((e) => [e.type, e.metadata?.filename])).toEqual([
      ['ExpirePostfix', expiredName],
    ]);
    // Sent: now the retention removes it.
    expect(r2.pruned).toEqual([expiredName]);
    expect(Object.keys(await readIndex(join(fx.work, 'cache', 'expired')))).toEqual([]);
  });

  it('an expiry interrupted after the move and before the cache index was written is finished and reported', async () => {
    const [a, b] = ['55555555-0000-4000-8000-0000000000a2', '55555555-0000-4000-8000-0000000000b2'];
    const imgs = [image(a), image(b)];
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, fx.pki, fx.work, SUB, imgs);
    await cacheWith([]).cache.run();
    await publish(store, fx.pki, fx.work, SUB, [imgs[0]]);
    // What a run killed between the move into expired/ and the next index write leaves: the expired entry with
    // its event to send, the file moved, the cache entry still there.
    const cacheIndex = await readIndex(join(fx.work, 'cache'));
    const expiredName = `${b}.${STAMP}`;
    const eventId = randomUUID();
    const expiredEntry = {
      ...cacheIndex[b],
      filename: expiredName,
      [PENDING]: { type: 'ExpirePostfix', id: eventId, key: b, filename: b, reason: 'withdrawn' },
    };
    await writeFile(
      join(fx.work, 'cache', 'expired', 'cache.index'),
      JSON.stringify({ [expiredName]: expiredEntry }),
    );
    await rename(join(fx.work, 'cache', b), join(fx.work, 'cache', 'expired', expiredName));

    const sunk: AnyVmcatcherEvent[] = [];
    const r = await cacheWith(sunk).cache.run();
    expect(r.downloaded).toEqual([]);
    expect(r.expired).toEqual([]);
    expect(r.foreign).toEqual([]);
    expect(postfixes(sunk)).toEqual([
      expect.objectContaining({
        type: 'ExpirePostfix',
        id: eventId,
        metadata: expect.objectContaining({ filename: expiredName }),
      }),
    ]);
    expect(Object.keys(await readIndex(join(fx.work, 'cache')))).toEqual([a]);
    expect(sha512(await readFile(join(fx.work, 'cache', 'expired', expiredName)))).toBe(sha512(imgs[1].data));
  });

  it('an expiry interrupted before the move is undone: the image stays cached, no ExpirePostfix is sent', async () => {
    const a = '55555555-0000-4000-8000-0000000000a3';
    const img = image(a);
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [a]);
    await publish(store, fx.pki, fx.work, SUB, [img]);
    await cacheWith([]).cache.run();
    const cacheIndex = await readIndex(join(fx.work, 'cache'));
    const expiredName = `${a}.${STAMP}`;
    await writeFile(
      join(fx.work, 'cache', 'expired', 'cache.index'),
      JSON.stringify({
        [expiredName]: {
          ...cacheIndex[a],
          filename: expiredName,
          [PENDING]: { type: 'ExpirePostfix', id: randomUUID(), key: a, filename: a, reason: 'withdrawn' },
        },
      }),
    );
    const sunk: AnyVmcatcherEvent[] = [];
    const r = await cacheWith(sunk).cache.run();
    expect(r.expired).toEqual([]);
    expect(postfixes(sunk)).toEqual([]);
    expect(Object.keys(await readIndex(join(fx.work, 'cache')))).toEqual([a]);
    expect(Object.keys(await readIndex(join(fx.work, 'cache', 'expired')))).toEqual([]);
    expect(sha512(await readFile(join(fx.work, 'cache', a)))).toBe(sha512(img.data));
  });

  it('a pending field this library did not write is dropped with a warning, never sent', async () => {
    const a = '55555555-0000-4000-8000-0000000000a4';
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [a]);
    await publish(store, fx.pki, fx.work, SUB, [image(a)]);
    await cacheWith([]).cache.run();
    const cacheIndex = await readIndex(join(fx.work, 'cache'));
    for (const bad of [
      { type: 'AvailablePostfix', id: 'not-a-uuid' },
      'AvailablePostfix',
      { type: 'ExpirePostfix', id: randomUUID() },
    ]) {
      await writeFile(
        join(fx.work, 'cache', 'cache.index'),
        JSON.stringify({ [a]: { ...cacheIndex[a], [PENDING]: bad } }),
      );
      const sunk: AnyVmcatcherEvent[] = [];
      const { cache, logs } = cacheWith(sunk);
      await cache.run();
      expect(postfixes(sunk)).toEqual([]);
      expect(logs.some((l) => l.startsWith('warn') && l.includes(PENDING))).toBe(true);
      expect((await readIndex(join(fx.work, 'cache')))[a][PENDING]).toBeUndefined();
    }
  });

  it('without an event command or sink, nothing is recorded to send', async () => {
    const a = '55555555-0000-4000-8000-0000000000a5';
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [a]);
    await publish(store, fx.pki, fx.work, SUB, [image(a)]);
    const r = await createImageCache({ store, dirs: { cache: join(fx.work, 'cache') }, now: NOW }).run();
    expect(r.downloaded).toEqual([a]);
    expect((await readIndex(join(fx.work, 'cache')))[a][PENDING]).toBeUndefined();
  });
});
