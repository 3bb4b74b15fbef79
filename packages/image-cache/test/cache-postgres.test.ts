// The cache on PostgreSQL: the same run and the advisory lock between two concurrent runs. PostgreSQL comes from
// TEST_POSTGRES_URL or is started by scripts/start-postgres.sh (never skipped).
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@hepix/imagelist-store';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageCache, readIndex } from '../src/index.js';
import { type ImageServer, makePki, startImageServer, type TestPki as Pki } from '@hepix/test-support';
import { imageData, prepareStoreAt, publish, sha512 } from './helpers.js';

const repoRoot = new URL('../../../', import.meta.url).pathname;
const SUB = 'ab5ab5ab-0000-4000-8000-000000000000';
let admin: string;
let url: string;
let dbName: string;
let root: string;
let pki: Pki;
let server: ImageServer;

beforeAll(async () => {
  admin = process.env.TEST_POSTGRES_URL ?? '';
  if (!admin) {
    const out = execFileSync('bash', [join(repoRoot, 'scripts/start-postgres.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    admin = /^TEST_POSTGRES_URL=(.+)$/m.exec(out)?.[1]?.trim() ?? '';
  }
  if (!admin) throw new Error('PostgreSQL could not be started');
  dbName = `hepix_cache_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${dbName}`);
  await client.end();
  const u = new URL(admin);
  u.pathname = `/${dbName}`;
  url = u.toString();
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-pg-'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
  if (dbName) {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`drop database if exists ${dbName} with (force)`);
    await client.end();
  }
});

describe('image cache on PostgreSQL', () => {
  it('caches, serialises two concurrent runs with the advisory lock, and expires', async () => {
    const ids = ['ab5ab5ab-0000-4000-8000-000000000001', 'ab5ab5ab-0000-4000-8000-000000000002'];
    const imgs = ids.map((identifier) => {
      const data = imageData(256 * 1024);
      const path = `/${randomUUID()}.img`;
      server.images.set(path, { data, rate: 2 * 1024 * 1024 });
      return { identifier, data, uri: `${server.url}${path}` };
    });
    const store = await prepareStoreAt(url, SUB, ids);
    const other = await openStore(url);
    try {
      await publish(store, pki, root, SUB, imgs);
      const log = join(root, 'events.log');
      const eventCommand = `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER" >> '${log}'`;
      const dirs = { cache: join(root, 'cache') };
      const [a, b] = await Promise.all([
        createImageCache({ store, dirs, eventCommand }).run(),
        createImageCache({ store: other, dirs, eventCommand }).run(),
      ]);
      expect([...a.downloaded, ...b.downloaded].sort()).toEqual(ids);
      const kinds = (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]);
      expect(kinds.indexOf('ProcessPostfix')).toBeLessThan(kinds.lastIndexOf('ProcessPrefix'));
      for (const i of imgs)
        expect(sha512(await readFile(join(root, 'cache', i.identifier)))).toBe(sha512(i.data));
      await publish(store, pki, root, SUB, [imgs[0]]);
      const expired = await createImageCache({ store, dirs, eventCommand }).run();
      expect(expired.expired).toEqual([ids[1]]);
      expect(Object.keys(await readIndex(join(root, 'cache')))).toEqual([ids[0]]);
    } finally {
      await other.close();
      await store.close();
    }
  });
});
