// Unattended operation through the real bins on loopback (issue "unattended operation"): adopting the
// original's cache, deadlines, a full disk (a small tmpfs in a mount namespace of its own: needs root, as CI
// has; the test fails without it), the size of cache.index, retention, failed events, exit statuses.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readIndex, serializeIndex } from '@hepix/image-cache';
import { openStore, type Store } from '@hepix/imagelist-store';
import {
  type ImageServer,
  makeListJson,
  makePki,
  signWithOpenssl,
  startImageServer,
  type TestPki as Pki,
} from '@hepix/test-support';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { imageData, prepareStore, publish, sha512, type TestImage } from '../../image-cache/test/helpers.js';
import { binDir, binFile, run, start } from './helpers/bins.js';
import { makeOriginalVmcatcherDb } from './helpers/original-db.js';

const SUB = 'c0ffee00-0a7e-4222-8333-444455556666';
const measure = new URL('./helpers/measure.mjs', import.meta.url).pathname;

let root: string;
let bin: string;
let pki: Pki;
let server: ImageServer;
let work: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-unattended-'));
  bin = await binDir(root);
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  work = await mkdtemp(join(root, 'case-'));
  server.images.clear();
  server.requests.length = 0;
  server.range = true;
});

function image(identifier: string, size: number, rate?: number): TestImage {
  const data = imageData(size);
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data, ...(rate ? { rate } : {}) });
  return { identifier, data, uri: `${server.url}${path}` };
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: work,
    VMCATCHER_RDBMS: `sqlite:///${join(work, 'vmcatcher.db')}`,
    VMCATCHER_CACHE_DIR_CACHE: join(work, 'cache'),
    ...extra,
  };
}

const cacheTool = (args: string[], e: NodeJS.ProcessEnv = env()) =>
  run('vmcatcher_cache', args, { cwd: work, env: e });

async function site(ids: string[], imgs: TestImage[], listExtra?: Record<string, unknown>): Promise<void> {
  const store = await prepareStore(join(work, 'vmcatcher.db'), SUB, ids);
  try {
    await publish(store, pki, work, SUB, imgs, listExtra ? { listExtra } : {});
  } finally {
    await store.close();
  }
}

async function withDb<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(`sqlite:///${join(work, 'vmcatcher.db')}`);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe('adopting the original vmcatcher', () => {
  it('keeps the original’s cache: no image expired, nothing moved, no Expire event, the index still readable', async () => {
    const LIST = '63175437-7d59-4851-b333-c96cb6545a86';
    const ids = ['327016b0-6508-41d2-bce0-c1724cb3d3e2', '858a817e-0ca2-473f-89d3-d5bdfc51968e'];
    const datas = ids.map((_, i) => imageData(4096 * (i + 1)));
    const created = new Date(Date.now() - 2 * 86_400_000);
    const expires = new Date(Date.now() + 28 * 86_400_000);
    const uri = 'https://cernvm.example/releases/image.list';
    const images = ids.map((identifier, i) => ({
      identifier,
      sha512: sha512(datas[i]),
      size: datas[i].length,
    }));
    const stored = signWithOpenssl(
      makeListJson({
        identifier: LIST,
        version: '1',
        created,
        expires,
        uri,
        dn: pki.endorser.subject,
        ca: pki.endorser.issuer,
        images,
      }),
      pki.endorser,
      work,
    );
    makeOriginalVmcatcherDb(join(work, 'vmcatcher.db'), {
      list: LIST,
      uri,
      endorser: { identifier: 'cern', subject: pki.endorser.subject, issuer: pki.endorser.issuer },
      images: images.map((i) => ({ ...i, cache: true })),
      stored,
      created,
      expires,
    });
    // The original's three directories and index files, as its controller writes them (reference §3.4).
    const dirs = {
      cache: join(work, 'endorsed'),
      partial: join(work, 'partial'),
      expired: join(work, 'expired'),
    };
    for (const d of Object.values(dirs)) await mkdir(d);
    const msgHash = createHash('sha512').update(stored).digest('hex');
    const index: Record<string, Record<string, unknown>> = {};
    for (const [i, id] of ids.entries()) {
      await writeFile(join(dirs.cache, id), datas[i]);
      index[id] = {
        'dc:description': 'd',
        'dc:identifier': id,
        'dc:title': 't',
        DownLoadTrys: { count: 1, msgHash },
        filename: id,
        'hv:hypervisor': 'kvm',
        'hv:image.dc:identifier': id,
        'hv:image.hv:size': datas[i].length,
        'hv:imagelist.dc:identifier': LIST,
        'hv:size': datas[i].length,
        'hv:uri': `https://example.org/${id}.img`,
        'hv:version': '1',
        message: stored.toString('utf8'),
        msgHash,
        'sl:arch': 'x86_64',
        'sl:checksum:sha512': sha512(datas[i]),
        'sl:comments': '',
        'sl:os': 'Linux',
        'sl:osversion': 'SL 6.4',
        sha512: sha512(datas[i]),
        size: datas[i].length,
        uri: `https://example.org/${id}.img`,
        uuid: id,
      };
    }
    await writeFile(join(dirs.cache, 'cache.index'), serializeIndex(index));
    await writeFile(join(dirs.partial, 'cache.index'), '{}');
    await writeFile(join(dirs.expired, 'cache.index'), '{}');
    const before = await Promise.all(ids.map((id) => stat(join(dirs.cache, id))));
    const events = join(work, 'events.jsonl');
    // The original's cron environment, unchanged.
    const cron = env({
      VMCATCHER_RDBMS: 'sqlite:///vmcatcher.db',
      VMCATCHER_CACHE_DIR_CACHE: `${dirs.cache}/`,
      VMCATCHER_CACHE_DIR_DOWNLOAD: `${dirs.partial}/`,
      VMCATCHER_CACHE_DIR_EXPIRE: `${dirs.expired}/`,
      VMCATCHER_CACHE_EVENT: `vmcatcher_eventHndlExpl --output_file=${events}`,
    });
    const r = await cacheTool(['--json'], cron);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/migrated the original vmcatcher tables/);
    expect(JSON.parse(r.stdout)).toMatchObject({ downloaded: [], expired: [], failed: [], foreign: [] });
    const types = (await readFile(events, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).VMCATCHER_EVENT_TYPE);
    expect(types).toEqual(['ProcessPrefix', 'ProcessPostfix']);
    expect(server.requests).toEqual([]);
    for (const [i, id] of ids.entries()) {
      const now = await stat(join(dirs.cache, id));
      expect(now.ino).toBe(before[i].ino);
      expect(await readFile(join(dirs.cache, id))).toEqual(datas[i]);
    }
    expect(await readdir(dirs.expired)).toEqual(['cache.index']);
    // What a handler reads: the same entries (the list itself now beside the index, once).
    const adopted = JSON.parse(await readFile(join(dirs.cache, 'cache.index'), 'utf8'));
    for (const id of ids) {
      const { message: _message, ...rest } = index[id];
      expect(adopted[id]).toEqual(rest);
    }
    expect(await readFile(join(dirs.cache, 'cache.index.messages', msgHash))).toEqual(stored);
    // And a second run is as quiet.
    expect((await cacheTool([], cron)).code).toBe(0);
    expect(JSON.parse(await readFile(join(dirs.cache, 'cache.index'), 'utf8'))).toEqual(adopted);
  });
});

describe('deadlines', () => {
  it('fails a download slower than --min-rate after its retries (exit 81), and resumes it on the next run', async () => {
    const id = 'c0ffee10-0000-4000-8000-000000000001';
    const img = image(id, 1024 * 1024, 256 * 1024);
    await site([id], [img]);
    const slow = await cacheTool(['--min-rate', String(8 * 1024 * 1024), '--fetch-timeout', '0.1']);
    expect(slow.code).toBe(81);
    expect(slow.stderr).toMatch(/download did not finish within/);
    const kept = (await stat(join(work, 'cache', 'partial', id))).size;
    expect(kept).toBeGreaterThan(0);
    server.images.get(new URL(img.uri).pathname)!.rate = undefined;
    expect((await cacheTool([])).code).toBe(0);
    expect(server.requests.at(-1)?.range).toBe(`bytes=${kept}-`);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  }, 120_000);
});

describe('a full disk', () => {
  /** Runs `script` as root in a mount namespace of its own where `dir` is a tmpfs of `size`. */
  function inTmpfs(dir: string, size: string, script: string) {
    return run(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t tmpfs -o size=${size} tmpfs '${dir}' || exit 99\n${script}`,
      ],
      { cwd: work, env: env({ VMCATCHER_CACHE_DIR_DOWNLOAD: dir }) },
    );
  }

  it('reserves space across parallel downloads: never both on a disk that holds one; the next run gets the other', async () => {
    const ids = ['c0ffee11-0000-4000-8000-000000000001', 'c0ffee11-0000-4000-8000-000000000002'];
    const imgs = ids.map((id) => image(id, 2 * 1024 * 1024, 4 * 1024 * 1024));
    await site(ids, imgs);
    const partial = join(work, 'partial');
    await mkdir(partial);
    const r = await inTmpfs(
      partial,
      '3m',
      `vmcatcher_cache --concurrency 2 --json > run1.json; echo $? > run1.rc
       ls -A '${partial}' > run1.ls
       vmcatcher_cache --json > run2.json; echo $? > run2.rc`,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /bytes needed in .*partial, \d+ free of which \d+ are promised to downloads in progress/,
    );
    expect((await readFile(join(work, 'run1.rc'), 'utf8')).trim()).toBe('85');
    const first = JSON.parse(await readFile(join(work, 'run1.json'), 'utf8'));
    expect(first.downloaded).toHaveLength(1);
    expect(first.failed.map((f: { code: string }) => f.code)).toEqual(['ERR_CACHE_NO_SPACE']);
    expect((await readFile(join(work, 'run1.ls'), 'utf8')).trim()).toBe('cache.index');
    expect((await readFile(join(work, 'run2.rc'), 'utf8')).trim()).toBe('0');
    expect(JSON.parse(await readFile(join(work, 'run2.json'), 'utf8')).downloaded).toEqual([
      first.failed[0].identifier,
    ]);
    for (const i of imgs)
      expect(sha512(await readFile(join(work, 'cache', i.identifier)))).toBe(sha512(i.data));
  }, 120_000);

  it('removes what it cannot resume when the disk fills up under it (exit 85); the next run recovers by itself', async () => {
    const id = 'c0ffee11-0000-4000-8000-000000000003';
    const img = image(id, 2 * 1024 * 1024, 512 * 1024);
    await site([id], [img]);
    const partial = join(work, 'partial');
    await mkdir(partial);
    const r = await inTmpfs(
      partial,
      '3m',
      `vmcatcher_cache --json > run1.json & pid=$!
       n=0; while [ ! -s '${partial}/${id}' ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
       head -c 8388608 /dev/zero > '${partial}/filler' 2>/dev/null
       wait $pid; echo $? > run1.rc
       ls -A '${partial}' > run1.ls
       rm '${partial}/filler'
       vmcatcher_cache --json > run2.json; echo $? > run2.rc
       ls -A '${partial}' > run2.ls`,
    );
    expect(r.code).toBe(0);
    expect((await readFile(join(work, 'run1.rc'), 'utf8')).trim()).toBe('85');
    expect(r.stderr).toMatch(/removed the partial file .*: the disk is full/);
    // The partial file is gone; the filler (not ours) is left.
    expect((await readFile(join(work, 'run1.ls'), 'utf8')).trim().split('\n').sort()).toEqual([
      'cache.index',
      'filler',
    ]);
    expect((await readFile(join(work, 'run2.rc'), 'utf8')).trim()).toBe('0');
    expect((await readFile(join(work, 'run2.ls'), 'utf8')).trim()).toBe('cache.index');
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  }, 120_000);
});

describe('cache.index growth', () => {
  it('writes and holds memory in proportion to what changed, with a big list (the list once, not per entry)', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `c0ffee12-0000-4000-8000-00000000000${i}`);
    const imgs = ids.map((id) => image(id, 10_000));
    const MiB = 1024 * 1024;
    await site(ids, imgs, { 'dc:description': 'L'.repeat(24 * MiB) });
    const listBytes = (await withDb((s) => s.subscriber.getLatestImageList(SUB)))!.data.length;
    const cost = async (name: string) => {
      const out = join(work, `${name}.json`);
      const r = await run(process.execPath, [measure, out, binFile('vmcatcher_cache')], {
        cwd: work,
        env: env(),
      });
      expect(r.code).toBe(0);
      return JSON.parse(await readFile(out, 'utf8')) as { wchar: number; maxRssKiB: number };
    };
    const first = await cost('first');
    const index = await stat(join(work, 'cache', 'cache.index'));
    // The originals: ten copies of the list in the index, rewritten after each image (240 MB, ten times).
    expect(index.size).toBeLessThan(64 * 1024);
    expect(first.wchar).toBeLessThan(listBytes + 8 * MiB);
    // Base: the process with its sha512 worker threads (about 10 MiB each); ten copies of the list would not fit.
    expect(first.maxRssKiB * 1024).toBeLessThan(200 * MiB + 4 * listBytes);
    const second = await cost('second');
    expect(second.wchar).toBeLessThan(2 * MiB);
    expect(second.maxRssKiB * 1024).toBeLessThan(150 * MiB);
    expect(second.maxRssKiB * 1024).toBeLessThan(first.maxRssKiB * 1024 - listBytes); // the list was not read
    // The index is what handlers read, and the list is beside it once.
    const entries = await readIndex(join(work, 'cache'));
    expect(Object.keys(entries).sort()).toEqual(ids);
    expect((await readdir(join(work, 'cache', 'cache.index.messages'))).length).toBe(1);
  }, 180_000);
});

describe('retention', () => {
  it('--expired-keep (VMCATCHER_CACHE_EXPIRED_KEEP) keeps the newest copies of each image', async () => {
    const id = 'c0ffee13-0000-4000-8000-000000000001';
    await site([id], [image(id, 1000)]);
    expect((await cacheTool([])).code).toBe(0);
    for (let v = 1; v <= 3; v++) {
      await withDb((s) => publish(s, pki, work, SUB, [image(id, 1000 + v)]));
      expect((await cacheTool([], env({ VMCATCHER_CACHE_EXPIRED_KEEP: '1' }))).code).toBe(0);
    }
    const copies = (await readdir(join(work, 'cache', 'expired'))).filter((n) => n !== 'cache.index');
    expect(copies).toHaveLength(1);
    expect(Object.keys(await readIndex(join(work, 'cache', 'expired')))).toEqual(copies);
    expect((await cacheTool(['--expired-keep', 'none'])).code).toBe(2);
  }, 60_000);
});

describe('failed events and exit statuses', () => {
  it('exits 89 when an event failed, lists failures, moves a poisoned one to the dead-letter list, delivers the rest in order', async () => {
    const id = 'c0ffee14-0000-4000-8000-000000000001';
    await site([id], [image(id, 1000)]);
    const log = join(work, 'delivered');
    const ok = join(work, 'ok');
    const handler = `[ "$VMCATCHER_EVENT_TYPE" = AvailablePrefix ] && { echo 'glance is down' >&2; exit 3; }; [ -e '${ok}' ] || exit 4; echo "$VMCATCHER_EVENT_TYPE" >> '${log}'`;
    const r = await cacheTool(['-x', handler]);
    expect(r.code).toBe(89);
    // The handler's stderr is in the error line of its failure.
    expect(r.stderr).toMatch(
      /ERROR:cache:event AvailablePrefix: handler failed \(exit 3\); stderr: glance is down/,
    );
    const listed = await cacheTool(['--failed-events']);
    expect(listed.code).toBe(0);
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(rows.map((c) => [c[1], c[2], c[3]])).toEqual([
      ['queued', '1', 'ProcessPrefix'],
      ['queued', '1', 'AvailablePrefix'],
      ['queued', '1', 'AvailablePostfix'],
      ['queued', '1', 'ProcessPostfix'],
    ]);
    expect(rows[1][5]).toBe(id);
    expect(rows[1][6]).toBe('exit 3: glance is down');
    await writeFile(ok, '');
    // Attempt 2 of 2 for AvailablePrefix: dead; the events after it follow in order.
    const retried = await cacheTool(['--retry-events', '--event-attempts', '2', '-x', handler, '--json']);
    expect(retried.code).toBe(89);
    expect(JSON.parse(retried.stdout)).toEqual({ delivered: 3, remaining: 0, movedToDead: 1, dead: 1 });
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual([
      'ProcessPrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    const dead = (await cacheTool(['--failed-events', '--json'])).stdout;
    const [poisoned] = JSON.parse(dead);
    expect(poisoned).toMatchObject({ type: 'AvailablePrefix', attempts: 2 });
    expect(poisoned.dead).toBeTruthy();
    // --include-dead tries it again (still failing); --drop-event forgets it.
    expect((await cacheTool(['--retry-events', '--include-dead', '-x', handler])).code).toBe(0);
    expect((await cacheTool(['--drop-event', String(poisoned.id)])).code).toBe(0);
    expect((await cacheTool(['--failed-events'])).stdout).toBe('');
    expect((await cacheTool(['--drop-event', String(poisoned.id)])).code).toBe(1);
  });

  it('gives each class of failure its own status, documented in --help', async () => {
    const ids = ['c0ffee15-0000-4000-8000-000000000001', 'c0ffee15-0000-4000-8000-000000000002'];
    const missing: TestImage = {
      identifier: ids[0],
      data: imageData(100),
      uri: `${server.url}/no/such/image`,
    };
    const bad = image(ids[1], 1000);
    server.images.get(new URL(bad.uri).pathname)!.body = imageData(1000);
    await site([ids[0]], [missing]);
    expect((await cacheTool(['--download'])).code).toBe(80); // HTTP 404 after the retries
    await withDb(async (s) => {
      await s.subscriber.setImageCache(ids[0], false);
      await publish(s, pki, work, SUB, [missing, bad]); // update mode 3 subscribes the new image
    });
    expect((await cacheTool([])).code).toBe(83); // sha512 mismatch
    server.images.get(new URL(bad.uri).pathname)!.body = undefined;
    expect((await cacheTool([])).code).toBe(0);
    await writeFile(join(work, 'cache', ids[1]), 'bit rot');
    const checked = await cacheTool(['-s', '--json']);
    expect(checked.code).toBe(84); // -s expired a corrupt file
    expect(JSON.parse(checked.stdout).expired).toEqual([ids[1]]);
    // Another run holds the lock.
    const holder = await openStore(`sqlite:///${join(work, 'vmcatcher.db')}`);
    let release!: () => void;
    const held = holder.withLock('vmcatcher-cache', () => new Promise<void>((r) => (release = r)));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const locked = await cacheTool(['--lock-wait', '0.5']);
      expect(locked.code).toBe(75);
      expect(locked.stderr).toMatch(/lock 'vmcatcher-cache' is held by pid/);
    } finally {
      release();
      await held;
      await holder.close();
    }
    const help = await cacheTool(['--help']);
    expect(help.code).toBe(0);
    for (const s of [
      '80 ERR_CACHE_DOWNLOAD',
      '83 ERR_CACHE_VERIFY',
      '84 ERR_CACHE_CORRUPT',
      '85 ERR_CACHE_NO_SPACE',
      '89 ERR_CACHE_EVENT',
      '75 another run holds the lock',
      '70 internal error',
    ])
      expect(help.stdout).toContain(s);
    const child = start('vmcatcher_cache', ['--no-such-option'], { cwd: work, env: env() });
    expect((await child.done).code).toBe(2);
  }, 120_000);
});
