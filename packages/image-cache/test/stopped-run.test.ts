// A run stopped through CacheRunOptions.signal (what vmcatcher_cache --worker does on SIGTERM) keeps its partial
// files for the next run to resume, and a stopped download is not a failed attempt: a worker restarted more
// times than maxAttempts during one long download must not give the image up.
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { afterEach, describe, expect, it } from 'vitest';
import { createImageCache, readIndex } from '../src/index.js';
import { cacheFixture, imageData, prepareStore, publish, sha512 } from './helpers.js';

const SUB = 'c2c9a5a8-3c5e-4b7e-9b51-5b8f0b2e1c10';
const fx = cacheFixture('hepix-stopped-');
let store: Store;
afterEach(async () => {
  await store?.close();
});

describe('a stopped run', () => {
  it('is not a failed attempt: stopped more times than maxAttempts, the image is still resumed and cached', async () => {
    const id = '66666666-0000-4000-8000-00000000000a';
    const data = imageData(6 * 1024 * 1024);
    const path = `/images/${randomUUID()}.img`;
    // 2 MiB/s: three seconds for the whole image; each run is stopped once its first bytes are written (the
    // file grows by 1 MiB slots).
    fx.server.images.set(path, { data, rate: 2 * 1024 * 1024 });
    store = await prepareStore(join(fx.work, 'db.sqlite'), SUB, [id]);
    await publish(store, fx.pki, fx.work, SUB, [{ identifier: id, data, uri: `${fx.server.url}${path}` }]);
    const cache = createImageCache({ store, dirs: { cache: join(fx.work, 'cache') }, maxAttempts: 2 });
    const partial = join(fx.work, 'cache', 'partial', id);
    let size = 0;
    for (let run = 0; run < 3; run++) {
      const stop = new AbortController();
      const watching = setInterval(() => {
        stat(partial).then(
          (s) => {
            if (s.size > size) stop.abort();
          },
          () => {},
        );
      }, 20);
      try {
        const r = await cache.run({}, { signal: stop.signal });
        expect(r.downloaded).toEqual([]);
        expect(r.failed.map((f) => f.code)).toEqual(['ERR_CACHE_DOWNLOAD']);
      } finally {
        clearInterval(watching);
      }
      const s = await stat(partial);
      expect(s.size).toBeGreaterThan(size);
      size = s.size;
      // The attempt count is what it was before the stopped run: none.
      expect((await readIndex(join(fx.work, 'cache', 'partial')))[id].DownLoadTrys).toBeUndefined();
    }
    const r = await cache.run();
    expect(r.failed).toEqual([]);
    expect(r.downloaded).toEqual([id]);
    expect(sha512(await readFile(join(fx.work, 'cache', id)))).toBe(sha512(data));
    // Resumed: the last request asked for the bytes after those the stopped runs had written.
    const requests = fx.server.requests.filter((q) => q.path === path);
    expect(requests.at(-1)?.range).toBe(`bytes=${size}-`);
  });
});
