// vmcatcher_cache --cache-url s3://BUCKET/PREFIX through the built bin, against a real S3 API (OpenStack Swift's
// s3api from scripts/start-swift.sh): verified images content-addressed in the bucket, the same bytes stored once,
// names and indexes beside them, events with VMCATCHER_EVENT_CACHE_URL, expiry by moving to expired/, and bytes
// that do not match their list never visible.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIndex } from '@hepix/image-cache';
import { openStore } from '@hepix/imagelist-store';
import type { ObjectStore } from '@hepix/object-store';
import { type ImageServer, makePki, type TestPki as Pki, startImageServer } from '@hepix/test-support';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { imageData, prepareStore, publish, sha512, type TestImage } from '../../image-cache/test/helpers.js';
import { bucketName, bytes, inspect, keys, s3Env } from './helpers/s3.js';

const dist = new URL('../dist/bin/', import.meta.url).pathname;
const SUB = 'c0ffee00-5353-4222-8333-444455556666';

let root: string;
let bin: string;
let pki: Pki;
let server: ImageServer;
let work: string;
let url: string;
let objects: ObjectStore;

beforeAll(async () => {
  s3Env();
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-s3-'));
  bin = join(root, 'bin');
  await mkdir(bin);
  for (const name of ['vmcatcher_cache']) {
    await chmod(join(dist, `${name}.js`), 0o755);
    await symlink(join(dist, `${name}.js`), join(bin, name));
  }
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  work = await mkdtemp(join(root, 'case-'));
  url = `s3://${bucketName()}/site-a`;
  objects = inspect(url);
  server.images.clear();
  server.requests.length = 0;
});

function image(identifier: string, data: Buffer): TestImage {
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data });
  return { identifier, data, uri: `${server.url}${path}` };
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: `${bin}:${process.env.PATH}`, HOME: work, ...s3Env(), ...extra };
}

function start(args: string[], e: NodeJS.ProcessEnv) {
  const child: ChildProcess = spawn('vmcatcher_cache', args, {
    cwd: work,
    env: e,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => (stdout += c));
  child.stderr?.on('data', (c) => (stderr += c));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

const contentKey = (data: Buffer) => `sha512/${sha512(data).slice(0, 2)}/${sha512(data)}`;

describe('vmcatcher_cache --cache-url s3://', () => {
  it('caches verified images in the bucket once per content, with names, indexes and event URLs', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const shared = imageData(300_000);
    const other = imageData(7 * 1024 * 1024); // above one part: a multipart upload
    const imgs = [image(a, shared), image(b, shared), image(c, other)];
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [a, b, c]);
    await publish(store, pki, work, SUB, imgs);
    await store.close();
    const log = join(work, 'events.log');
    const r = await start(
      ['--cache-url', url, '-p', join(work, 'partial'), '--json'],
      env({
        VMCATCHER_RDBMS: `sqlite:///${db}`,
        VMCATCHER_CACHE_EVENT: `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER $VMCATCHER_EVENT_CACHE_URL $VMCATCHER_CACHE_DIR_CACHE" >> '${log}'`,
      }),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).downloaded.sort()).toEqual([a, b, c].sort());

    // The bytes once per content, under their sha512; one name per image.
    const blobs = await keys(objects, 'sha512/');
    expect(blobs).toEqual([contentKey(shared), contentKey(other)].sort());
    expect(sha512(await bytes(objects, contentKey(shared)))).toBe(sha512(shared));
    expect(sha512(await bytes(objects, contentKey(other)))).toBe(sha512(other));
    expect(await keys(objects, 'names/cache/')).toEqual([a, b, c].map((i) => `names/cache/${i}`).sort());
    // Nothing stays local but the (empty) download index.
    expect(await readdir(join(work, 'partial'))).toEqual(['cache.index']);
    expect(await readdir(work)).not.toContain('cache');

    const index = parseIndex(await bytes(objects, 'index/cache.index').then(String), 'cache.index');
    expect([...index.keys()].sort()).toEqual([a, b, c].sort());
    expect(index.get(c)).toMatchObject({
      'sl:checksum:sha512': sha512(other),
      'hv:size': other.length,
      filename: c,
      'vmcatcher:cache.url': `${url}/${contentKey(other)}`,
    });
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines.filter((l) => l.startsWith('AvailablePostfix')).sort()).toEqual(
      [
        `AvailablePostfix ${a} ${url}/${contentKey(shared)} ${url}`,
        `AvailablePostfix ${b} ${url}/${contentKey(shared)} ${url}`,
        `AvailablePostfix ${c} ${url}/${contentKey(other)} ${url}`,
      ].sort(),
    );

    // A second run finds everything cached: nothing is fetched again.
    const requests = server.requests.length;
    const again = await start(
      ['--cache-url', url, '-p', join(work, 'partial')],
      env({ VMCATCHER_RDBMS: `sqlite:///${db}` }),
    );
    expect(again.code).toBe(0);
    expect(server.requests.length).toBe(requests);

    // -s re-hashes the objects in the bucket.
    const check = await start(
      ['--cache-url', url, '-p', join(work, 'partial'), '-s', '--json'],
      env({ VMCATCHER_RDBMS: `sqlite:///${db}` }),
    );
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout).verified.sort()).toEqual([a, b, c].sort());

    // A list without `a` and `c`: they expire. `b` still uses the shared bytes, so they stay live; the bytes of
    // `c` move to expired/.
    const store2 = await openStore(`sqlite:///${db}`);
    await publish(store2, pki, work, SUB, [imgs[1]]);
    await store2.close();
    const expire = await start(
      ['--cache-url', url, '-p', join(work, 'partial'), '-E', '--json'],
      env({ VMCATCHER_RDBMS: `sqlite:///${db}` }),
    );
    expect(expire.code).toBe(0);
    expect(JSON.parse(expire.stdout).expired.sort()).toEqual([a, c].sort());
    expect(await keys(objects, 'sha512/')).toEqual([contentKey(shared)]);
    expect(await keys(objects, 'expired/')).toEqual([`expired/${contentKey(other)}`]);
    expect(sha512(await bytes(objects, `expired/${contentKey(other)}`))).toBe(sha512(other));
    expect(await keys(objects, 'names/cache/')).toEqual([`names/cache/${b}`]);
    expect((await keys(objects, 'names/expired/')).length).toBe(2);
    objects.close();
  });

  it('never makes bytes that do not match their list visible (ERR_CACHE_VERIFY, exit 83)', async () => {
    const id = randomUUID();
    const data = imageData(6 * 1024 * 1024);
    const img = { ...image(id, data), sha512: 'ab'.repeat(64) };
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await store.close();
    const r = await start(
      ['--cache-url', url, '-p', join(work, 'partial'), '--json'],
      env({ VMCATCHER_RDBMS: `sqlite:///${db}` }),
    );
    expect(r.code).toBe(83);
    expect(JSON.parse(r.stdout).failed).toMatchObject([{ identifier: id, code: 'ERR_CACHE_VERIFY' }]);
    // Only the (empty) index: no bytes, no name.
    expect(await keys(objects)).toEqual(['index/cache.index', 'index/expired.index']);
    expect(parseIndex(await bytes(objects, 'index/cache.index').then(String), 'cache.index').size).toBe(0);
    objects.close();
  });

  it('refuses a --cache-url that is not s3:// (usage, exit 2) and a bad bucket name', async () => {
    const db = join(work, 'vmcatcher.db');
    await (await prepareStore(db, SUB, [])).close();
    const r = await start(
      ['--cache-url', 'https://example.org/x'],
      env({ VMCATCHER_RDBMS: `sqlite:///${db}` }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/s3:\/\/BUCKET\/PREFIX/);
    const bad = await start(
      [],
      env({ VMCATCHER_RDBMS: `sqlite:///${db}`, VMCATCHER_CACHE_URL: 's3://No_Such/x' }),
    );
    expect(bad.code).toBe(2);
    expect((await readdir(work)).filter((n) => !n.startsWith('vmcatcher.db'))).toEqual([]);
  });
});
