// Site safety of the cache (issue "site safety"): nothing the lists or other local users control can make the
// cache write outside its directories, follow a planted link, copy a local file, replace another
// subscription's image, collide with its own files, or fail to start an event handler.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { type ImageServer, makePki, startImageServer, type TestPki as Pki } from '@hepix/test-support';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createImageCache,
  eventEnvironment,
  type ImageCacheOptions,
  imageFileName,
  MAX_EVENT_VALUE_BYTES,
  parseIndex,
  readIndex,
  runEventCommand,
  serializeIndex,
  TRUNCATION_MARKER,
  type VmcatcherEvent,
} from '../src/index.js';
import { imageData, prepareStore, publish, SIGNER, sha512, type TestImage } from './helpers.js';

const SUB = '5afe5afe-0000-4000-8000-000000000000';
const SUB2 = '5afe5afe-0000-4000-8000-000000000002';
const noSleep = async () => {};

let server: ImageServer;
let pki: Pki;
let root: string;
let work: string;
let store: Store;
let eventLog: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-safety-'));
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

function image(identifier: string, size: number): TestImage {
  const data = imageData(size);
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data });
  return { identifier, data, uri: `${server.url}${path}` };
}

function cacheFor(extra: Partial<ImageCacheOptions> = {}) {
  const logs: string[] = [];
  const cache = createImageCache({
    store,
    dirs: { cache: join(work, 'cache') },
    eventCommand: `printf '%s %s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" "$VMCATCHER_EVENT_FILENAME" "$VMCATCHER_EVENT_IL_DC_IDENTIFIER" >> '${eventLog}'`,
    log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`),
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

/** A file outside the cache with known content, and what must stay true of it. */
async function outsideFile(): Promise<{ path: string; content: string; intact: () => Promise<void> }> {
  const dir = join(work, 'outside');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `precious-${randomUUID()}`);
  const content = `precious ${randomUUID()}\n`;
  await writeFile(path, content);
  return {
    path,
    content,
    intact: async () => {
      expect(await readFile(path, 'utf8')).toBe(content);
      expect((await lstat(path)).isFile()).toBe(true);
    },
  };
}

describe('planted links and other non-regular files are never followed', () => {
  it('a symlink at partial/<uuid>: the outside file is untouched, the link stays, the image is cached as a regular file', async () => {
    const id = '5afe0001-0000-4000-8000-000000000001';
    const img = image(id, 100_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const outside = await outsideFile();
    await mkdir(join(work, 'cache', 'partial'), { recursive: true });
    await symlink(outside.path, join(work, 'cache', 'partial', id));
    const { cache, logs } = cacheFor();
    const summary = await cache.run();
    await outside.intact();
    expect(await readlink(join(work, 'cache', 'partial', id))).toBe(outside.path);
    expect(summary.downloaded).toEqual([id]);
    expect(summary.foreign).toEqual([join(work, 'cache', 'partial', id)]);
    expect(summary.failed).toEqual([
      expect.objectContaining({ identifier: id, code: 'ERR_CACHE_UNSAFE_FILE' }),
    ]);
    const cached = join(work, 'cache', id);
    expect((await lstat(cached)).isFile()).toBe(true);
    expect(sha512(await readFile(cached))).toBe(sha512(img.data));
    expect(logs.some((l) => l.includes('symlink'))).toBe(true);
    // The link was never moved into the cache, and the outside file's digest was never computed into a log.
    expect(logs.join('\n')).not.toContain(sha512(Buffer.from(outside.content)));
  });

  it('a symlink replacing the cache’s own partial file is not resumed through, and left alone', async () => {
    const id = '5afe0001-0000-4000-8000-000000000002';
    const img = image(id, 200_000);
    const served = server.images.get(new URL(img.uri).pathname)!;
    served.dropAfter = 50_000;
    served.dropTimes = 1;
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    expect((await cacheFor({ download: { retries: 0 } }).cache.run()).failed.map((f) => f.code)).toEqual([
      'ERR_CACHE_DOWNLOAD',
    ]);
    const partial = join(work, 'cache', 'partial', id);
    expect((await stat(partial)).size).toBe(50_000);
    const outside = await outsideFile();
    await rm(partial);
    await symlink(outside.path, partial);
    const summary = await cacheFor().cache.run();
    await outside.intact();
    expect((await lstat(partial)).isSymbolicLink()).toBe(true);
    expect(summary.downloaded).toEqual([id]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    // Nothing was asked with a Range: the link's target was never taken for downloaded bytes.
    expect(server.requests.at(-1)).toMatchObject({ status: 200 });
  });

  it('a symlink planted at cache/<uuid>: the image is cached beside it under a name of its own', async () => {
    const id = '5afe0001-0000-4000-8000-000000000003';
    const img = image(id, 30_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const outside = await outsideFile();
    await mkdir(join(work, 'cache'), { recursive: true });
    await symlink(outside.path, join(work, 'cache', id));
    const { cache } = cacheFor();
    const summary = await cache.run();
    await outside.intact();
    expect(await readlink(join(work, 'cache', id))).toBe(outside.path);
    const entry = (await readIndex(join(work, 'cache')))[id];
    expect(entry.filename).toBe(`${id}+1`);
    expect((await lstat(join(work, 'cache', `${id}+1`))).isFile()).toBe(true);
    expect(sha512(await readFile(join(work, 'cache', `${id}+1`)))).toBe(sha512(img.data));
    expect(summary.downloaded).toEqual([id]);
    expect(await events()).toContain(`AvailablePostfix ${id} ${id}+1 ${SUB}`);
  });

  it('a cached file replaced by a symlink: -s never reads through it, expiry never moves it', async () => {
    const [a, b] = ['5afe0001-0000-4000-8000-00000000000a', '5afe0001-0000-4000-8000-00000000000b'];
    const imgs = [image(a, 20_000), image(b, 20_000)];
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, pki, work, SUB, imgs);
    await cacheFor().cache.run();
    const outsideA = await outsideFile();
    const outsideB = await outsideFile();
    await rm(join(work, 'cache', a));
    await symlink(outsideA.path, join(work, 'cache', a));
    await rm(join(work, 'cache', b));
    await symlink(outsideB.path, join(work, 'cache', b));
    const { cache, logs } = cacheFor();
    const checked = await cache.run({ check: true });
    expect(checked.verified).toEqual([]);
    expect(checked.failed.map((f) => f.code)).toEqual(['ERR_CACHE_UNSAFE_FILE', 'ERR_CACHE_UNSAFE_FILE']);
    expect(logs.join('\n')).not.toContain(sha512(Buffer.from(outsideA.content)));
    await store.subscriber.setImageCache(b, false);
    const expired = await cacheFor().cache.run();
    await outsideA.intact();
    await outsideB.intact();
    expect((await lstat(join(work, 'cache', a))).isSymbolicLink()).toBe(true);
    expect((await lstat(join(work, 'cache', b))).isSymbolicLink()).toBe(true);
    expect(await readdir(join(work, 'cache', 'expired'))).toEqual(['cache.index']);
    // a is endorsed: cached again as a regular file under a name of its own.
    expect(expired.downloaded).toEqual([a]);
    expect((await lstat(join(work, 'cache', `${a}+1`))).isFile()).toBe(true);
  });

  it('a symlink at the expired name: the expiry takes another name, the outside file is untouched', async () => {
    const id = '5afe0001-0000-4000-8000-0000000000e1';
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [image(id, 10_000)]);
    const at = new Date('2026-07-01T10:00:00Z');
    await cacheFor({ now: () => at }).cache.run();
    const outside = await outsideFile();
    const planted = join(work, 'cache', 'expired', `${id}.2026-07-01_10-00-00`);
    await symlink(outside.path, planted);
    await store.subscriber.setImageCache(id, false);
    const summary = await cacheFor({ now: () => at }).cache.run();
    await outside.intact();
    expect(summary.expired).toEqual([id]);
    expect((await lstat(planted)).isSymbolicLink()).toBe(true);
    expect((await lstat(`${planted}.1`)).isFile()).toBe(true);
    expect(await events()).toContain(`ExpirePostfix ${id} ${id}.2026-07-01_10-00-00.1 ${SUB}`);
  });

  it('a FIFO at partial/<uuid> never blocks the run and is left alone', async () => {
    const id = '5afe0001-0000-4000-8000-0000000000f1';
    const img = image(id, 10_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await mkdir(join(work, 'cache', 'partial'), { recursive: true });
    execFileSync('mkfifo', [join(work, 'cache', 'partial', id)]);
    const summary = await cacheFor().cache.run();
    expect((await lstat(join(work, 'cache', 'partial', id))).isFIFO()).toBe(true);
    expect(summary.downloaded).toEqual([id]);
    expect(summary.failed.map((f) => f.code)).toEqual(['ERR_CACHE_UNSAFE_FILE']);
  });
});

describe('foreign partial files', () => {
  it('a file in partial/ that is not in the records is never resumed from nor deleted', async () => {
    const id = '5afe0002-0000-4000-8000-000000000001';
    const img = image(id, 80_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await mkdir(join(work, 'cache', 'partial'), { recursive: true });
    // Its first bytes are even right: resuming from it would be tempting, and wrong (it is not ours).
    const foreign = Buffer.concat([img.data.subarray(0, 1000), Buffer.from('somebody else')]);
    await writeFile(join(work, 'cache', 'partial', id), foreign);
    const summary = await cacheFor().cache.run();
    expect(summary.downloaded).toEqual([id]);
    expect(summary.failed).toEqual([]);
    expect(summary.foreign).toEqual([join(work, 'cache', 'partial', id)]);
    expect(server.requests.map((r) => [r.status, r.range])).toEqual([[200, undefined]]);
    expect(await readFile(join(work, 'cache', 'partial', id))).toEqual(foreign);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    // And again on the next run.
    await cacheFor().cache.run();
    expect(await readFile(join(work, 'cache', 'partial', id))).toEqual(foreign);
  });
});

describe('images come from the network only', () => {
  it('refuses file: and other schemes by default without reading the file, and leaves everything as it was', async () => {
    const secret = join(work, 'root-only');
    const data = Buffer.from(`secret ${randomUUID()}`);
    await writeFile(secret, data);
    await chmod(secret, 0o600);
    const ids = [
      '5afe0003-0000-4000-8000-000000000001',
      '5afe0003-0000-4000-8000-000000000002',
      '5afe0003-0000-4000-8000-000000000003',
    ];
    const uris = [`file://${secret}`, 'ftp://127.0.0.1/x.img', 'data:application/octet-stream;base64,AAAA'];
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    // A wrong guess at the secret's checksum, as a hostile list would publish.
    await publish(
      store,
      pki,
      work,
      SUB,
      ids.map((identifier, i) => ({ identifier, data, uri: uris[i], sha512: 'ab'.repeat(64) })),
    );
    const before = await store.subscriber.listImages();
    const { cache, logs } = cacheFor();
    const summary = await cache.run();
    expect(summary.failed.map((f) => [f.identifier, f.code]).sort()).toEqual(
      ids.map((id) => [id, 'ERR_CACHE_URI_REFUSED']),
    );
    expect(summary.downloaded).toEqual([]);
    expect((await readdir(join(work, 'cache'))).sort()).toEqual(['cache.index', 'expired', 'partial']);
    expect(await readIndex(join(work, 'cache', 'partial'))).toEqual({});
    expect(await store.subscriber.listImages()).toEqual(before);
    expect(logs.join('\n')).not.toContain(sha512(data));
    // A site with a local mirror allows it explicitly; the copy is verified like any download.
    const allowed = await cacheFor({ allowFileUris: true }).cache.run();
    expect(allowed.failed.map((f) => [f.identifier, f.code]).sort()).toEqual([
      [ids[0], 'ERR_CACHE_VERIFY'],
      [ids[1], 'ERR_CACHE_URI_REFUSED'],
      [ids[2], 'ERR_CACHE_URI_REFUSED'],
    ]);
  });
});

describe('image identifiers are scoped by subscription', () => {
  it('the same UUID in two subscriptions never replaces the other one’s file', async () => {
    const id = '5afe0004-0000-4000-8000-000000000001';
    const mine = image(id, 40_000);
    const theirs = image(id, 50_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [mine]);
    const { cache } = cacheFor();
    expect((await cache.run()).downloaded).toEqual([id]);
    // A second endorser publishes the same identifier with other bytes.
    await store.subscriber.createEndorser('endorser-2', [
      { subject: '/C=DE/O=GermanGrid/CN=Someone Else', issuer: SIGNER.issuer },
    ]);
    await store.subscriber.createSubscription({
      identifier: SUB2,
      description: 'another endorser',
      uri: 'http://127.0.0.1/other',
      endorser: 'endorser-2',
      updateMode: 3,
      trustAnchor: 'browser',
      images: [{ identifier: id, cache: true }],
    });
    await publish(store, pki, work, SUB2, [theirs]);
    await writeFile(eventLog, '');
    const second = await cache.run();
    expect(second.expired).toEqual([]);
    expect(second.downloaded).toEqual([id]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(mine.data));
    expect(sha512(await readFile(join(work, 'cache', `${id}+1`)))).toBe(sha512(theirs.data));
    const index = await readIndex(join(work, 'cache'));
    expect(Object.keys(index).sort()).toEqual([id, `${id}+1`]);
    expect(index[id]).toMatchObject({ 'hv:imagelist.dc:identifier': SUB, filename: id });
    expect(index[`${id}+1`]).toMatchObject({ 'hv:imagelist.dc:identifier': SUB2, filename: `${id}+1` });
    expect(await events()).toEqual([
      'ProcessPrefix   ',
      `AvailablePrefix ${id} ${id}+1 ${SUB2}`,
      `AvailablePostfix ${id} ${id}+1 ${SUB2}`,
      'ProcessPostfix   ',
    ]);
    // Withdrawing one subscription's image leaves the other's.
    await store.subscriber.setImageCache(id, false, SUB);
    const third = await cache.run();
    expect(third.expired).toEqual([id]);
    expect(await readdir(join(work, 'cache'))).not.toContain(id);
    expect(sha512(await readFile(join(work, 'cache', `${id}+1`)))).toBe(sha512(theirs.data));
  });
});

describe('names cannot collide', () => {
  it('caches identifiers like partial, expired, cache.index, __proto__, constructor, toString like any other', async () => {
    const ids = [
      'partial',
      'expired',
      'cache.index',
      'cache.index.messages',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
    ];
    const imgs = ids.map((id) => image(id, 5_000));
    store = await prepareStore(join(work, 'db.sqlite'), SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    const { cache } = cacheFor();
    const summary = await cache.run();
    expect(summary.failed).toEqual([]);
    expect(summary.downloaded.sort()).toEqual([...ids].sort());
    const index = await readIndex(join(work, 'cache'));
    expect(Object.keys(index).sort()).toEqual([...ids].sort());
    for (const [i, id] of ids.entries()) {
      expect(Object.hasOwn(index, id)).toBe(true);
      expect(index[id]['dc:identifier']).toBe(id);
      const file = join(work, 'cache', imageFileName(id));
      expect((await lstat(file)).isFile()).toBe(true);
      expect(sha512(await readFile(file))).toBe(sha512(imgs[i].data));
    }
    // The cache's own files and directories are intact.
    expect((await lstat(join(work, 'cache', 'partial'))).isDirectory()).toBe(true);
    expect((await lstat(join(work, 'cache', 'expired'))).isDirectory()).toBe(true);
    expect(Object.getPrototypeOf(index)).toBeNull();
    // Nothing changes on the next run, and expiry moves each of them like any other.
    expect((await cache.run()).downloaded).toEqual([]);
    for (const id of ids) await store.subscriber.setImageCache(id, false);
    expect((await cache.run()).expired.sort()).toEqual([...ids].sort());
    expect(Object.keys(await readIndex(join(work, 'cache')))).toEqual([]);
    expect(Object.keys(await readIndex(join(work, 'cache', 'expired')))).toHaveLength(ids.length);
  });

  it('reads and writes an index with a __proto__ entry as data', () => {
    const text =
      '{"__proto__": {"dc:identifier": "__proto__", "filename": "__proto__"}, "a": {"filename": "a"}}';
    const index = parseIndex(text, 'cache.index');
    expect([...index.keys()]).toEqual(['__proto__', 'a']);
    expect(index.get('__proto__')?.filename).toBe('__proto__');
    expect(JSON.parse(serializeIndex(index))).toEqual(JSON.parse(text));
    expect(({} as Record<string, unknown>).filename).toBeUndefined();
  });
});

describe('event environment limits', () => {
  const base: VmcatcherEvent = {
    type: 'AvailablePostfix',
    session: 's',
    metadata: { 'dc:identifier': 'big', 'dc:description': 'é'.repeat(150_000), 'dc:title': 't' },
  };

  it('caps each variable, marks the cut, and keeps the whole event on standard input', async () => {
    const env = eventEnvironment(base, { PATH: process.env.PATH });
    const value = env.VMCATCHER_EVENT_DC_DESCRIPTION;
    expect(Buffer.byteLength(value)).toBeLessThanOrEqual(MAX_EVENT_VALUE_BYTES);
    expect(value.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(value.startsWith('éééé')).toBe(true);
    expect(value).not.toContain('\uFFFD'); // cut at a character boundary
    expect(env.VMCATCHER_EVENT_TRUNCATED).toBe('VMCATCHER_EVENT_DC_DESCRIPTION');
    expect(env.VMCATCHER_EVENT_DC_TITLE).toBe('t');
    const out = join(work, 'stdin.json');
    const r = await runEventCommand(`cat > '${out}'; printf %s "$VMCATCHER_EVENT_DC_TITLE" >&2`, base, {
      env: { PATH: process.env.PATH },
    });
    expect(r).toMatchObject({ exitCode: 0, stderr: 't' });
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(base);
  });

  it('never throws when the handler cannot be started (an environment the kernel refuses)', async () => {
    const logs: string[] = [];
    const r = await runEventCommand('exit 0', base, {
      env: { PATH: process.env.PATH, HUGE: 'x'.repeat(3 * 1024 * 1024) },
      log: (level, m) => logs.push(`${level} ${m}`),
    });
    expect(r).toMatchObject({ exitCode: null, timedOut: false, spawnError: 'E2BIG' });
    expect(logs).toEqual(['error event AvailablePostfix: handler could not be started (E2BIG)']);
  });

  it('caches an image whose metadata is larger than the kernel allows in one variable, and every later run works', async () => {
    const id = '5afe0005-0000-4000-8000-000000000001';
    const img = { ...image(id, 10_000), extra: { 'dc:description': 'd'.repeat(200 * 1024) } };
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    const { cache } = cacheFor({
      eventCommand: `printf '%s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "\${#VMCATCHER_EVENT_DC_DESCRIPTION}" "$VMCATCHER_EVENT_TRUNCATED" >> '${eventLog}'`,
    });
    const summary = await cache.run();
    expect(summary.downloaded).toEqual([id]);
    expect(summary.eventFailures).toEqual([]);
    const lines = await events();
    expect(lines.filter((l) => l.startsWith('Available'))).toEqual([
      `AvailablePrefix ${MAX_EVENT_VALUE_BYTES} VMCATCHER_EVENT_DC_DESCRIPTION`,
      `AvailablePostfix ${MAX_EVENT_VALUE_BYTES} VMCATCHER_EVENT_DC_DESCRIPTION`,
    ]);
    expect((await cache.run()).failed).toEqual([]);
  });
});

describe('fuzz: hostile identifiers and URIs', () => {
  const hostileId = fc.oneof(
    fc.constantFrom(
      '..',
      '.',
      '/',
      'cache.index',
      'partial',
      'expired',
      '__proto__',
      '.hepix-cache-x',
      'a+1',
    ),
    // Without NUL: the store refuses text holding one (ERR_STORE_INVALID, imagelist-store's subscriber tests),
    // and lists holding one never get that far (ERR_LIST_NOT_IMAGELIST, imagelist-client's open tests).
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0')),
    fc.stringMatching(/^[./a-z%+]{1,12}$/),
  );
  const hostileUri = (path: string) =>
    fc.oneof(
      fc.constant(`${server.url}${path}`),
      fc.constantFrom(
        'file:///etc/passwd',
        'file://localhost/etc/shadow',
        'ftp://127.0.0.1/x',
        'javascript:1',
        'nope',
        '',
      ),
      fc.string({ maxLength: 30 }),
    );

  it('keeps every file inside the cache directories, caches what it may and refuses the rest', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(hostileId, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(5), { minLength: 8, maxLength: 8 }),
        async (ids, picks) => {
          const c = await mkdtemp(join(work, 'fuzz-'));
          const guard = join(c, 'outside-marker');
          await writeFile(guard, 'unchanged');
          const imgs: TestImage[] = [];
          for (const [i, identifier] of ids.entries()) {
            const path = `/fuzz/${randomUUID()}`;
            const data = imageData(1000 + i);
            server.images.set(path, { data });
            const uri = fc.sample(hostileUri(path), { numRuns: 1, seed: picks[i] })[0];
            imgs.push({ identifier, data, uri });
          }
          const s = await prepareStore(join(c, 'db.sqlite'), SUB, ids);
          try {
            await publish(s, pki, c, SUB, imgs);
            const summary = await createImageCache({
              store: s,
              dirs: { cache: join(c, 'cache') },
              sleep: noSleep,
            }).run();
            for (const img of imgs) {
              const cached = summary.downloaded.includes(img.identifier);
              const failed = summary.failed.find((f) => f.identifier === img.identifier);
              expect(cached !== (failed !== undefined)).toBe(true);
              if (cached) {
                expect(img.uri.startsWith(server.url)).toBe(true);
                const file = join(c, 'cache', imageFileName(img.identifier));
                expect((await lstat(file)).isFile()).toBe(true);
                expect(sha512(await readFile(file))).toBe(sha512(img.data));
              } else if (!img.uri.startsWith(server.url)) {
                expect(failed?.code).toBe('ERR_CACHE_URI_REFUSED');
              }
            }
            // Nothing but the cache directories and the fixtures were written.
            const top = (await readdir(c)).sort();
            expect(
              top.filter((n) => !/^(cache|db\.sqlite.*|list-\d+\.(json|smime)|outside-marker)$/.test(n)),
            ).toEqual([]);
            expect(await readFile(guard, 'utf8')).toBe('unchanged');
            const names = await readdir(join(c, 'cache'));
            for (const n of names) expect(n.startsWith('.')).toBe(false);
          } finally {
            await s.close();
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 240_000);
});
