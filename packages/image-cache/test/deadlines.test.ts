// Transfer limits: the pure rules as tables, the watch on fake timers, and the list fetch of -U against
// servers on 127.0.0.1 that trickle their bytes.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import {
  makeListJson,
  makePki,
  makeTempDir,
  signList,
  startHttpServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  belowMinRate,
  createSubscriptions,
  DEFAULT_FETCH_TIMEOUT_SECONDS,
  DEFAULT_MIN_RATE_BYTES_PER_SECOND,
  DEFAULT_RATE_WINDOW_SECONDS,
  type RateSample,
  transferDeadline,
  transferLimits,
  watchRate,
} from '../src/index.js';

describe('transferLimits and transferDeadline', () => {
  it('fills in the documented defaults', () => {
    expect(transferLimits()).toEqual({ fetchTimeoutSeconds: 300, minRate: 16_384, rateWindowSeconds: 60 });
    expect([
      DEFAULT_FETCH_TIMEOUT_SECONDS,
      DEFAULT_MIN_RATE_BYTES_PER_SECOND,
      DEFAULT_RATE_WINDOW_SECONDS,
    ]).toEqual([300, 16_384, 60]);
    expect(transferLimits({ minRate: 0 }).minRate).toBe(0);
  });

  const limits = { fetchTimeoutSeconds: 300, minRate: 1000 };
  it.each([
    ['a list (size unknown): the fetch timeout', undefined, 300_000],
    ['an image: plus its size at the minimum rate', 50_000, 350_000],
    ['an empty image', 0, 300_000],
    ['one byte at 1000 bytes/s: one millisecond more', 1, 300_001],
  ])('%s', (_name, size, after) => {
    expect(transferDeadline(limits, 1_000_000, size) - 1_000_000).toBe(after);
  });

  it('with the rate check off, the size adds nothing', () => {
    expect(transferDeadline({ fetchTimeoutSeconds: 10, minRate: 0 }, 0, 1e12)).toBe(10_000);
  });
});

describe('belowMinRate', () => {
  const s = (at: number, bytes: number): RateSample => ({ at, bytes });
  const limits = { minRate: 100, rateWindowSeconds: 10 };
  it.each<[string, RateSample[], RateSample, { bytes: number; seconds: number } | undefined]>([
    ['before a whole window has passed: never', [s(0, 0)], s(9_999, 0), undefined],
    ['a window at exactly the minimum', [s(0, 0)], s(10_000, 1000), undefined],
    ['a window below the minimum', [s(0, 0)], s(10_000, 999), { bytes: 999, seconds: 10 }],
    [
      'a fast start does not cover a stall: the newest sample a window old is the base',
      [s(0, 0), s(1_000, 1_000_000), s(5_000, 1_000_000)],
      s(12_000, 1_000_010),
      { bytes: 10, seconds: 11 },
    ],
    [
      'a stall shorter than the window after a fast start',
      [s(0, 0), s(5_000, 1e6)],
      s(12_000, 1e6),
      undefined,
    ],
  ])('%s', (_name, history, now, expected) => {
    expect(belowMinRate(history, now, limits)).toEqual(expected);
  });

  it('is off with a minimum rate of 0', () => {
    expect(belowMinRate([s(0, 0)], s(1e9, 0), { minRate: 0, rateWindowSeconds: 10 })).toBeUndefined();
  });
});

describe('watchRate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('aborts its signal once a window brought too few bytes, and not before', () => {
    vi.useFakeTimers();
    const watch = watchRate({ minRate: 10, rateWindowSeconds: 5 });
    try {
      for (let i = 0; i < 5; i++) {
        watch.add(60); // 60 bytes per second for the first 5 s
        vi.advanceTimersByTime(1000);
      }
      expect(watch.signal.aborted).toBe(false);
      // Then 1 byte per second: the window 6 s..11 s holds about 5 bytes, below 50.
      for (let i = 0; i < 6 && !watch.signal.aborted; i++) {
        watch.add(1);
        vi.advanceTimersByTime(1000);
      }
      expect(watch.signal.aborted).toBe(true);
      expect(watch.slow?.seconds).toBe(5);
      expect(watch.slow?.bytes).toBeLessThan(50);
      expect(String((watch.signal.reason as Error).message)).toContain('below the minimum of 10 bytes/s');
    } finally {
      watch.stop();
    }
  });

  it('never fires with the check off or once stopped', () => {
    vi.useFakeTimers();
    const off = watchRate({ minRate: 0, rateWindowSeconds: 1 });
    const stopped = watchRate({ minRate: 1000, rateWindowSeconds: 1 });
    stopped.stop();
    vi.advanceTimersByTime(60_000);
    expect(off.signal.aborted).toBe(false);
    expect(stopped.signal.aborted).toBe(false);
    off.stop();
  });
});

describe('the list fetch of update() within its limits', () => {
  const DAY = 86_400_000;
  let tmp: string;
  let pki: TestPki;
  let http: TestServer;
  let store: Store;
  const slow = randomUUID();
  const fine = randomUUID();

  function list(identifier: string, path: string) {
    return signList(
      makeListJson({
        identifier,
        version: '1',
        created: new Date(Date.now() - DAY),
        expires: new Date(Date.now() + DAY),
        uri: `${http.url}${path}`,
        dn: pki.endorser.subject,
        ca: pki.endorser.issuer,
        images: [{ identifier: randomUUID() }],
      }),
      pki.endorser,
    );
  }

  beforeAll(async () => {
    tmp = makeTempDir('hepix-deadlines-');
    pki = makePki(join(tmp, 'pki'));
    http = await startHttpServer();
    store = await openStore(`sqlite:///${join(tmp, 'db.sqlite')}`);
    await store.subscriber.createEndorser('owen', [
      { subject: pki.endorser.subject, issuer: pki.endorser.issuer },
    ]);
    const subs = createSubscriptions({ store, certDir: pki.certDir });
    try {
      for (const [id, path] of [
        [slow, '/slow.list'],
        [fine, '/fine.list'],
      ]) {
        http.serve(path, list(id, path));
        await subs.subscribe(`${http.url}${path}`);
      }
    } finally {
      await subs.close();
    }
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await http?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Sends `body` a few bytes at a time every `everyMs`. */
  function trickle(path: string, body: Buffer, bytes: number, everyMs: number) {
    http.routes.set(path, (_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      let at = 0;
      const timer = setInterval(() => {
        res.write(body.subarray(at, at + bytes));
        at += bytes;
        if (at >= body.length) {
          clearInterval(timer);
          res.end();
        }
      }, everyMs);
      res.on('close', () => clearInterval(timer));
    });
  }

  it('a list slower than the minimum rate over the window fails with ERR_SUB_TOO_SLOW; the other is updated', async () => {
    trickle('/slow.list', list(slow, '/slow.list'), 10, 100); // 100 bytes/s
    const logs: string[] = [];
    const subs = createSubscriptions({
      store,
      certDir: pki.certDir,
      fetch: { minRate: 1000, rateWindowSeconds: 1, fetchTimeoutSeconds: 60 },
      log: (level, message, fields) => logs.push(`${level} ${fields?.subscription} ${message}`),
    });
    try {
      const r = await subs.update();
      const bySub = new Map(r.results.map((x) => [x.subscription, x]));
      expect(bySub.get(slow)?.error?.code).toBe('ERR_SUB_TOO_SLOW');
      expect((bySub.get(slow)?.error?.cause as { code?: string } | undefined)?.code).toBe('ERR_LIST_FETCH');
      expect(bySub.get(slow)?.outcome).toBe('rejected');
      expect(bySub.get(fine)?.outcome).toBe('updated');
      expect(await store.subscriber.getLatestImageList(slow)).toBeUndefined();
      expect(logs.some((l) => l.startsWith(`error ${slow} Download of`) && l.includes('minimum rate'))).toBe(
        true,
      );
    } finally {
      await subs.close();
    }
  });

  it('a list that keeps trickling past the fetch timeout fails with ERR_LIST_DEADLINE', async () => {
    trickle('/slow.list', list(slow, '/slow.list'), 1, 50);
    const subs = createSubscriptions({
      store,
      certDir: pki.certDir,
      fetch: { minRate: 0, fetchTimeoutSeconds: 1 },
    });
    try {
      const r = await subs.update({ identifiers: [slow] });
      expect(r.results[0].error?.code).toBe('ERR_LIST_DEADLINE');
      expect(await store.subscriber.getLatestImageList(slow)).toBeUndefined();
    } finally {
      await subs.close();
    }
  });

  it('at the minimum rate and within the deadline the list arrives', async () => {
    const body = list(slow, '/slow.list');
    trickle('/slow.list', body, Math.ceil(body.length / 4), 200);
    const subs = createSubscriptions({
      store,
      certDir: pki.certDir,
      fetch: { minRate: 100, rateWindowSeconds: 1, fetchTimeoutSeconds: 30 },
    });
    try {
      const r = await subs.update({ identifiers: [slow] });
      expect(r.results[0].error).toBeUndefined();
      expect(r.results[0].outcome).toBe('updated');
    } finally {
      await subs.close();
    }
  });

  it('refuses limits that are not positive numbers', () => {
    for (const fetch of [{ fetchTimeoutSeconds: 0 }, { minRate: -1 }, { rateWindowSeconds: Number.NaN }]) {
      expect(() => createSubscriptions({ store, certDir: pki.certDir, fetch })).toThrow(
        expect.objectContaining({ code: 'ERR_SUB_INVALID_ARGUMENT' }),
      );
    }
  });
});
