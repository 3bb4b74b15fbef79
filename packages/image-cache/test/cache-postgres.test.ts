// The cache on PostgreSQL: two concurrent runs, serialised by the store lock (workers off) or sharing the
// downloads through per-image claims (workers on, the default on PostgreSQL). PostgreSQL comes from
// TEST_POSTGRES_URL or is started by scripts/start-postgres.sh (never skipped).
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@hepix/imagelist-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageCache, readIndex } from '../src/index.js';
import {
  createTestDatabase,
  type ImageServer,
  makePki,
  startImageServer,
  type TestDatabase,
  type TestPki as Pki,
} from '@hepix/test-support';
import { imageData, prepareStoreAt, publish, sha512 } from './helpers.js';

const SUB = 'ab5ab5ab-0000-4000-8000-000000000000';
const databases: TestDatabase[] = [];
let root: string;
let pki: Pki;
let server: ImageServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-pg-'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
  for (const db of databases) await db.drop();
});

/** A database of its own for each test. */
async function newDatabase(): Promise<string> {
  const db = await createTestDatabase('hepix_cache');
  databases.push(db);
  return db.url;
}

describe('image cache on PostgreSQL', () => {
  async function twoRuns(workers: boolean) {
    const ids = [1, 2, 3, 4].map((n) => `ab5ab5ab-0000-4000-8000-00000000000${n}${workers ? 1 : 0}`);
    const imgs = ids.map((identifier) => {
      const data = imageData(256 * 1024);
      const path = `/${randomUUID()}.img`;
      // With workers, a second per download (one run alone would need 4 s): the second run, which starts once the
      // first one's opening steps are done, finds work left even on a loaded machine.
      server.images.set(path, { data, rate: (workers ? 256 : 2048) * 1024 });
      return { identifier, data, uri: `${server.url}${path}`, path };
    });
    const sub = workers ? SUB.replace(/0$/, '1') : SUB;
    const dir = join(root, workers ? 'shared' : 'serial');
    await mkdir(dir, { recursive: true });
    const url = await newDatabase();
    const store = await prepareStoreAt(url, sub, ids);
    const other = await openStore(url);
    try {
      await publish(store, pki, dir, sub, imgs);
      const log = join(dir, 'events.log');
      const eventCommand = `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER" >> '${log}'`;
      const dirs = { cache: join(dir, 'cache') };
      const [a, b] = await Promise.all([
        createImageCache({ store, dirs, eventCommand, workers, concurrency: 1 }).run(),
        createImageCache({ store: other, dirs, eventCommand, workers, concurrency: 1 }).run(),
      ]);
      // Each image downloaded once, by one of the two runs.
      expect([...a.downloaded, ...b.downloaded].sort()).toEqual(ids);
      for (const i of imgs) {
        expect(sha512(await readFile(join(dir, 'cache', i.identifier)))).toBe(sha512(i.data));
        expect(server.requests.filter((r) => r.path === i.path).length).toBe(1);
      }
      const lines = (await readFile(log, 'utf8')).trim().split('\n');
      const kinds = lines.map((l) => l.split(' ')[0]);
      expect(lines.filter((l) => l.startsWith('AvailablePostfix ')).sort()).toEqual(
        ids.map((id) => `AvailablePostfix ${id}`),
      );
      expect(Object.keys(await readIndex(join(dir, 'cache'))).sort()).toEqual(ids);
      await publish(store, pki, dir, sub, [imgs[0]]);
      const expired = await createImageCache({ store, dirs, eventCommand, workers }).run();
      expect(expired.expired.sort()).toEqual(ids.slice(1));
      expect(Object.keys(await readIndex(join(dir, 'cache')))).toEqual([ids[0]]);
      return { a, b, kinds };
    } finally {
      await other.close();
      await store.close();
    }
  }

  it('without workers, serialises two concurrent runs with the store lock, and expires', async () => {
    const { kinds } = await twoRuns(false);
    expect(kinds.indexOf('ProcessPostfix')).toBeLessThan(kinds.lastIndexOf('ProcessPrefix'));
  });

  it('with workers (the default here), two concurrent runs share the downloads, each image once', async () => {
    const { a, b, kinds } = await twoRuns(true);
    // Both ran at once: the second started before the first ended, and both downloaded something.
    expect(kinds.lastIndexOf('ProcessPrefix')).toBeLessThan(kinds.indexOf('ProcessPostfix'));
    expect(a.downloaded.length).toBeGreaterThan(0);
    expect(b.downloaded.length).toBeGreaterThan(0);
    expect(a.claimedElsewhere?.length ?? 0).toBeGreaterThan(0);
  });
});
