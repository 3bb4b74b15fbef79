// The status report over a real store and a cache index, and the probe's verdict as a table of reports.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { makePki, type TestPki } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectStatus,
  judgeStatus,
  PROBE_EXIT,
  type StatusReport,
  type SubscriptionStatus,
  writeIndex,
} from '../src/index.js';
import { imageData, prepareStore, publish, sha512 } from './helpers.js';

const SUB = '5ab1e000-0000-4000-8000-000000000001';
const AT = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

describe('collectStatus', () => {
  let root: string;
  let pki: TestPki;
  let store: Store;
  const ids = ['img-cached', 'img-outdated', 'img-missing'];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hepix-status-'));
    pki = makePki(join(root, 'pki'));
    store = await prepareStore(join(root, 'db.sqlite'), SUB, ids);
    const images = ids.map((identifier) => ({
      identifier,
      data: imageData(1000),
      uri: `http://127.0.0.1/${identifier}`,
    }));
    await publish(store, pki, root, SUB, images);
    const entry = (i: (typeof images)[number], sha: string) => ({
      'dc:identifier': i.identifier,
      'hv:imagelist.dc:identifier': SUB,
      'sl:checksum:sha512': sha,
      'hv:size': i.data.length,
      filename: i.identifier,
    });
    await mkdir(join(root, 'cache'));
    await writeIndex(
      join(root, 'cache'),
      new Map([
        ['img-cached', entry(images[0], sha512(images[0].data))],
        ['img-outdated', entry(images[1], 'ab'.repeat(64))],
      ]),
    );
    await store.subscriber.recordUpdateAttempt(SUB, { at: new Date(AT.getTime() - DAY) });
    await store.subscriber.recordUpdateAttempt(SUB, {
      at: AT,
      error: { code: 'ERR_LIST_FETCH', message: '404' },
    });
    const run = await store.subscriber.beginRun({ tool: 'cache' });
    await run.end({ outcome: 'failure', exitStatus: 1 });
    await store.subscriber.recordFailedEvent({ type: 'AvailablePostfix', payload: {}, error: 'exit 1' });
  });
  afterAll(async () => {
    await store?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('compares the candidates with the cache index and reads attempts, events, locks and runs', async () => {
    const report = await collectStatus({ store, cacheDir: join(root, 'cache'), now: () => AT });
    expect(report.cacheChecked).toBe(true);
    expect(report.imagesCached).toBe(2);
    const [s] = report.subscriptions;
    expect(s).toMatchObject({
      identifier: SUB,
      failing: true,
      lastError: { code: 'ERR_LIST_FETCH', message: '404', at: AT },
      lastSuccess: new Date(AT.getTime() - DAY),
      images: { expected: 3, cached: 1, missing: ['img-missing'], outdated: ['img-outdated'] },
      list: { expired: false },
    });
    expect(report.events).toEqual({ queued: 1, dead: 0 });
    expect(report.locks.map((l) => [l.name, l.holder])).toEqual([
      ['vmcatcher-subscribe-update', undefined],
      ['vmcatcher-cache', undefined],
    ]);
    expect(report.runs.find((r) => r.tool === 'cache')?.last?.outcome).toBe('failure');
    expect(report.totals).toEqual([{ tool: 'cache', outcome: 'failure', runs: 1, bytes: 0 }]);
    const verdict = judgeStatus(report);
    expect(verdict.state).toBe('CRITICAL');
    expect(verdict.findings.map((f) => f.state).sort()).toEqual([
      'CRITICAL',
      'CRITICAL',
      'WARNING',
      'WARNING',
      'WARNING',
    ]);
  });

  it('without a cache directory compares no image', async () => {
    const report = await collectStatus({ store, now: () => AT });
    expect(report.cacheChecked).toBe(false);
    expect(report.subscriptions[0].images).toEqual({ expected: 0, cached: 0, missing: [], outdated: [] });
  });
});

describe('judgeStatus', () => {
  const base = (s: Partial<SubscriptionStatus> = {}, r: Partial<StatusReport> = {}): StatusReport => ({
    at: AT,
    cacheChecked: true,
    imagesCached: 1,
    events: { queued: 0, dead: 0 },
    locks: [],
    runs: [],
    totals: [],
    subscriptions: [
      {
        identifier: 's',
        uri: 'https://example.org/s',
        authorised: true,
        failing: false,
        list: { version: '1', expires: new Date(AT.getTime() + 10 * DAY), expired: false },
        images: { expected: 1, cached: 1, missing: [], outdated: [] },
        ...s,
      },
    ],
    ...r,
  });
  const cases: [string, StatusReport, number | undefined, string][] = [
    ['all well', base(), undefined, 'OK'],
    [
      'a list expiring within the default 3 days',
      base({ list: { version: '1', expires: new Date(AT.getTime() + 2 * DAY), expired: false } }),
      undefined,
      'WARNING',
    ],
    [
      'the same list with --warn-expiry=1',
      base({ list: { version: '1', expires: new Date(AT.getTime() + 2 * DAY), expired: false } }),
      1,
      'OK',
    ],
    ['a list expiring in 10 days with --warn-expiry=30', base(), 30, 'WARNING'],
    ['an expired list', base({ list: { version: '1', expires: AT, expired: true } }), undefined, 'CRITICAL'],
    [
      'a withdrawn list',
      base({
        list: {
          version: '1',
          expires: new Date(AT.getTime() + 10 * DAY),
          expired: false,
          withdrawn: { at: AT, code: 'ERR_SMIME_REVOKED', reason: 'r' },
        },
      }),
      undefined,
      'CRITICAL',
    ],
    ['no list yet', base({ list: undefined }), undefined, 'WARNING'],
    [
      'a failed last update',
      base({ failing: true, lastError: { at: AT, code: 'ERR_LIST_SIGNATURE', message: 'bad' } }),
      undefined,
      'WARNING',
    ],
    [
      'a recovered old error',
      base({ failing: false, lastError: { at: AT, code: 'ERR_LIST_SIGNATURE', message: 'bad' } }),
      undefined,
      'OK',
    ],
    [
      'an image missing',
      base({ images: { expected: 1, cached: 0, missing: ['i'], outdated: [] } }),
      undefined,
      'CRITICAL',
    ],
    [
      'an image outdated',
      base({ images: { expected: 1, cached: 0, missing: [], outdated: ['i'] } }),
      undefined,
      'CRITICAL',
    ],
    ['a queued failed event', base({}, { events: { queued: 1, dead: 0 } }), undefined, 'WARNING'],
    ['a dead event', base({}, { events: { queued: 0, dead: 1 } }), undefined, 'WARNING'],
    [
      'a failed last run',
      base(
        {},
        {
          runs: [
            {
              tool: 'cache',
              last: {
                id: 1,
                tool: 'cache',
                host: 'h',
                pid: 1,
                started: AT,
                outcome: 'failure',
                exitStatus: 75,
                counts: {},
                bytes: 0,
              },
            },
          ],
        },
      ),
      undefined,
      'WARNING',
    ],
  ];
  it.each(cases)('%s', (_name, report, warnExpiryDays, state) => {
    const verdict = judgeStatus(report, warnExpiryDays === undefined ? {} : { warnExpiryDays });
    expect(verdict.state).toBe(state);
    expect(verdict.findings.length === 0).toBe(state === 'OK');
    expect(PROBE_EXIT[verdict.state]).toBe({ OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 }[state]);
  });
});
