// Several `vmcatcher_cache --worker` processes on one PostgreSQL store and one cache, through the built bin:
// the images are shared out by per-image claims (each fetched from its first byte once, each made available
// once), a worker killed with SIGKILL mid-download loses its image to another once the claim lease runs out
// (which resumes the partial file), a new list wakes an idle worker through LISTEN/NOTIFY, and SIGTERM stops a
// worker with status 0. On an s3:// cache, a worker killed mid-upload leaves nothing visible in the bucket.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIndex } from '@hepix/image-cache';
import { openStore, type Store } from '@hepix/imagelist-store';
import {
  createTestDatabase,
  type ImageServer,
  makePki,
  type TestDatabase,
  type TestPki as Pki,
  startImageServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  imageData,
  prepareStoreAt,
  publish,
  sha512,
  type TestImage,
} from '../../image-cache/test/helpers.js';
import { bucketName, bytes, inspect, keys, s3Env } from './helpers/s3.js';

const dist = new URL('../dist/bin/', import.meta.url).pathname;

let root: string;
let bin: string;
let pki: Pki;
let server: ImageServer;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-workers-'));
  bin = join(root, 'bin');
  await mkdir(bin);
  await chmod(join(dist, 'vmcatcher_cache.js'), 0o755);
  await symlink(join(dist, 'vmcatcher_cache.js'), join(bin, 'vmcatcher_cache'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
  for (const db of databases) await db.drop();
});

async function newDatabase(): Promise<string> {
  const db = await createTestDatabase('hepix_workers');
  databases.push(db);
  return db.url;
}

interface Worker {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startWorker(work: string, args: string[], env: NodeJS.ProcessEnv): Worker {
  const child = spawn('vmcatcher_cache', ['--worker', ...args], {
    cwd: work,
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c) => (stderr += c));
  running.push({ stderr: () => stderr });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

/** What the running workers wrote, for the message of a test that waited in vain. */
const running: { stderr: () => string }[] = [];

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; the workers wrote:\n${running.map((w) => w.stderr()).join('\n---\n')}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function eventLines(log: string): Promise<string[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

function images(n: number, size: number, rate?: number): (TestImage & { path: string })[] {
  return Array.from({ length: n }, () => {
    const data = imageData(size);
    const path = `/images/${randomUUID()}.img`;
    server.images.set(path, { data, ...(rate ? { rate } : {}) });
    return { identifier: randomUUID(), data, uri: `${server.url}${path}`, path };
  });
}

describe('vmcatcher_cache --worker on PostgreSQL', () => {
  it('three workers share 20 images; one killed mid-download loses its image to the others', {
    timeout: 150_000,
  }, async () => {
    const work = await mkdtemp(join(root, 'three-'));
    const sub = randomUUID();
    // 20 images of 4 MiB at 4 MiB/s: each download takes about a second, long enough to be killed in (the
    // partial file grows by whole MiB).
    const imgs = images(20, 4 << 20, 4 << 20);
    const url = await newDatabase();
    const store = await prepareStoreAt(
      url,
      sub,
      imgs.map((i) => i.identifier),
    );
    const log = join(work, 'events.log');
    try {
      await publish(store, pki, work, sub, imgs);
      const env = {
        VMCATCHER_RDBMS: url,
        // $PPID: the worker that ran the event.
        VMCATCHER_CACHE_EVENT: `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER $PPID" >> '${log}'`,
      };
      const args = [
        '-v',
        '-C',
        join(work, 'cache'),
        '--poll',
        '1',
        '--claim-lease',
        '5',
        '--concurrency',
        '2',
      ];
      const workers = [0, 1, 2].map(() => startWorker(work, args, env));
      const victim = workers[0];
      // Kill the first worker while it holds a claim and its partial file has bytes, before it is cached.
      let held: string[] = [];
      const claimed = await until('a claim of the first worker', async () => {
        const mine = (await store.claims.list('image')).filter((c) => c.pid === victim.child.pid);
        held = mine.map((c) => decodeURIComponent(c.item.split('/')[1]));
        for (const id of held) {
          const part = await readFile(join(work, 'cache', 'partial', id)).catch(() => undefined);
          if (part && part.length > 0 && part.length < 4 << 20) return id;
        }
        return undefined;
      });
      victim.child.kill('SIGKILL');
      expect((await victim.done).signal).toBe('SIGKILL');

      const lines = await until('20 images available', async () => {
        const l = (await eventLines(log)).filter((x) => x.startsWith('AvailablePostfix '));
        return l.length >= 20 ? l : undefined;
      });
      // The survivors stop on SIGTERM with status 0.
      for (const w of workers.slice(1)) w.child.kill('SIGTERM');
      for (const w of workers.slice(1)) {
        const r = await w.done;
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/worker stopped/);
        expect(r.stderr).not.toMatch(/Warning|ERROR/);
      }

      // Each image made available once; the killed worker's image by another one.
      const ids = lines.map((l) => l.split(' ')[1]);
      expect([...ids].sort()).toEqual(imgs.map((i) => i.identifier).sort());
      const by = new Map(lines.map((l) => [l.split(' ')[1], Number(l.split(' ')[2])]));
      expect(by.get(claimed)).not.toBe(victim.child.pid);
      // Both survivors did part of the work.
      const survivors = new Set([...by.values()].filter((p) => p !== victim.child.pid));
      expect(survivors.size).toBe(2);
      // Every image fetched once, but for what the killed worker held: the download with bytes was resumed
      // with Range (one it had just begun, with nothing written yet, may have started again).
      for (const i of imgs) {
        const got = server.requests.filter((r) => r.path === i.path);
        if (!held.includes(i.identifier)) expect(got.length, i.identifier).toBe(1);
        else if (i.identifier === claimed) expect(got.filter((r) => !r.range).length, i.identifier).toBe(1);
      }
      expect(
        server.requests.some((r) => r.path === imgs.find((i) => i.identifier === claimed)?.path && r.range),
      ).toBe(true);
      // All verified, all in the index, nothing left in the partial area, no claim held.
      const index = parseIndex(await readFile(join(work, 'cache', 'cache.index'), 'utf8'), 'cache.index');
      expect(index.size).toBe(20);
      for (const i of imgs) {
        const [, entry] = [...index].find(([, e]) => e['dc:identifier'] === i.identifier) ?? [];
        expect(entry).toBeDefined();
        expect(sha512(await readFile(join(work, 'cache', String(entry?.filename))))).toBe(sha512(i.data));
      }
      expect(await readdir(join(work, 'cache', 'partial'))).toEqual(['cache.index']);
      expect(await store.claims.list('image')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('an idle worker wakes up for a new list (LISTEN/NOTIFY) long before its poll', async () => {
    const work = await mkdtemp(join(root, 'notify-'));
    const sub = randomUUID();
    const [first, second] = images(2, 64 * 1024);
    const url = await newDatabase();
    const store: Store = await prepareStoreAt(url, sub, [first.identifier, second.identifier]);
    const log = join(work, 'events.log');
    try {
      await publish(store, pki, work, sub, [first]);
      const w = startWorker(work, ['-C', join(work, 'cache'), '--poll', '600'], {
        VMCATCHER_RDBMS: url,
        VMCATCHER_CACHE_EVENT: `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER" >> '${log}'`,
      });
      await until('the first image', async () =>
        (await eventLines(log)).includes(`AvailablePostfix ${first.identifier}`) ? true : undefined,
      );
      // The second run's ProcessPostfix: the worker is idle now, for 600 s unless woken.
      await until('the end of the first run', async () =>
        (await eventLines(log)).some((l) => l.startsWith('ProcessPostfix')) ? true : undefined,
      );
      await publish(store, pki, work, sub, [first, second]);
      const other = await openStore(url);
      try {
        await other.notify('vmcatcher_work', sub);
      } finally {
        await other.close();
      }
      await until(
        'the second image',
        async () =>
          (await eventLines(log)).includes(`AvailablePostfix ${second.identifier}`) ? true : undefined,
        30_000,
      );
      w.child.kill('SIGTERM');
      const r = await w.done;
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('two workers on one s3:// cache: one killed mid-upload leaves nothing visible, the other caches all', {
    timeout: 150_000,
  }, async () => {
    const work = await mkdtemp(join(root, 's3-'));
    const sub = randomUUID();
    // Three images of 40 MiB: multipart uploads of three parts, long enough to be killed in.
    const imgs = images(3, 40 << 20);
    const url = await newDatabase();
    const store = await prepareStoreAt(
      url,
      sub,
      imgs.map((i) => i.identifier),
    );
    const cacheUrl = `s3://${bucketName()}/fed`;
    const objects = inspect(cacheUrl);
    const log = join(work, 'events.log');
    try {
      await publish(store, pki, work, sub, imgs);
      await objects.ensureBucket();
      const env = {
        ...s3Env(),
        VMCATCHER_RDBMS: url,
        VMCATCHER_CACHE_EVENT: `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_DC_IDENTIFIER $PPID" >> '${log}'`,
      };
      // Two hosts: each worker has a download area of its own.
      const workers = [0, 1].map((n) =>
        startWorker(
          work,
          [
            '-v',
            '--cache-url',
            cacheUrl,
            '-p',
            join(work, `partial-${n}`),
            '--poll',
            '1',
            '--claim-lease',
            '5',
          ],
          env,
        ),
      );
      const bySha = new Map(imgs.map((i) => [sha512(i.data), i]));
      const { victim, image } = await until('a multipart upload in progress', async () => {
        for await (const u of objects.uploads('sha512/')) {
          const i = bySha.get(u.key.split('/').pop() ?? '');
          if (!i) continue;
          const claim = (await store.claims.list('image')).find((c) => c.item.endsWith(`/${i.identifier}`));
          const w = workers.find((x) => x.child.pid === claim?.pid);
          if (w) return { victim: w, image: i };
        }
        return undefined;
      });
      victim.child.kill('SIGKILL');
      expect((await victim.done).signal).toBe('SIGKILL');
      const key = `sha512/${sha512(image.data).slice(0, 2)}/${sha512(image.data)}`;
      // Nothing of the killed upload is visible: neither the bytes nor a name.
      expect(await objects.head(key)).toBeUndefined();
      expect(await objects.head(`names/cache/${image.identifier}`)).toBeUndefined();

      const lines = await until('3 images available', async () => {
        const l = (await eventLines(log)).filter((x) => x.startsWith('AvailablePostfix '));
        return l.length >= 3 ? l : undefined;
      });
      const survivor = workers.find((w) => w !== victim) as Worker;
      survivor.child.kill('SIGTERM');
      const r = await survivor.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/Warning|ERROR/);

      expect(lines.map((l) => l.split(' ')[1]).sort()).toEqual(imgs.map((i) => i.identifier).sort());
      expect(lines.find((l) => l.split(' ')[1] === image.identifier)?.split(' ')[2]).toBe(
        String(survivor.child.pid),
      );
      // Every image verified in the bucket once; the index names them all.
      expect(await keys(objects, 'sha512/')).toEqual(
        imgs.map((i) => `sha512/${sha512(i.data).slice(0, 2)}/${sha512(i.data)}`).sort(),
      );
      expect(sha512(await bytes(objects, key))).toBe(sha512(image.data));
      const index = parseIndex(String(await bytes(objects, 'index/cache.index')), 'cache.index');
      expect([...index.keys()].sort()).toEqual(imgs.map((i) => i.identifier).sort());
      // What the killed worker left are invisible multipart uploads (two downloads at once: up to two), aborted
      // by a run after 24 h; the survivor's own uploads all completed.
      const left: string[] = [];
      for await (const u of objects.uploads('')) left.push(u.key);
      expect(left).toContain(key);
      expect(left.length).toBeLessThanOrEqual(2);
      for (const k of left) {
        const i = bySha.get(k.split('/').pop() ?? '');
        expect(i, k).toBeDefined();
        expect(sha512(await bytes(objects, k))).toBe(sha512(i?.data ?? Buffer.alloc(0)));
      }
    } finally {
      objects.close();
      await store.close();
    }
  });
});
