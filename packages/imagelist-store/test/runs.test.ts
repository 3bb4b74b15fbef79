// Run history (0007): runs and their items, totals that outlive the retention, each subscription's last
// attempt, success and error; on SQLite and PostgreSQL.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RUN_HISTORY, type RunTool, type Store } from '../src/index.js';
import { dialects, expectCode, freshStore } from './helpers.js';

const SIGNER = { subject: '/C=DE/O=GermanGrid/CN=Owen', issuer: '/C=DE/O=GermanGrid/CN=CA' };
const SUB = 'a1b2c3d4-0000-4000-8000-000000000007';

describe.each(dialects())('run history on %s', (dialect) => {
  let store: Store;
  let dispose: () => Promise<void>;
  let clock: Date;
  const tick = (ms = 1000) => {
    clock = new Date(clock.getTime() + ms);
  };
  beforeEach(async () => {
    clock = new Date('2026-03-01T12:00:00Z');
    ({ store, dispose } = await freshStore(dialect, { now: () => clock }));
  });
  afterEach(async () => dispose());

  it('items() records many items in one write, in order; a bad one refuses all and stores nothing', async () => {
    const s = store.subscriber;
    const run = await s.beginRun({ tool: 'subscribe' });
    await run.item({ subscription: SUB, action: 'updated' });
    // More than one INSERT batch (500 rows), with nulls in the optional columns.
    const many = Array.from({ length: 1203 }, (_, i) => ({
      subscription: SUB,
      uri: 'https://example.org/l',
      image: `img-${i}`,
      action: i % 2 ? 'image-refused' : 'image-accepted',
    }));
    await run.items(many);
    await run.items([]);
    const stored = (await s.getRun(run.id))?.items ?? [];
    expect(stored).toHaveLength(1 + many.length);
    expect(stored.slice(1).map((i) => [i.image, i.action])).toEqual(many.map((i) => [i.image, i.action]));
    expect(stored[1]).toEqual({ ...many[0], at: clock });
    await expectCode(
      run.items([{ subscription: SUB, action: 'image-accepted', image: 'x' }, { action: '' }]),
      'ERR_STORE_INVALID',
    );
    await expectCode(run.items([{ action: 'ok', image: 42 as unknown as string }]), 'ERR_STORE_INVALID');
    expect((await s.getRun(run.id))?.items).toEqual(stored);
  });

  it('records a run with its items, counters and bytes, newest first', async () => {
    const s = store.subscriber;
    const run = await s.beginRun({ tool: 'subscribe', host: 'worker-1', pid: 4242 });
    expect((await s.listRuns())[0]).toMatchObject({
      id: run.id,
      tool: 'subscribe',
      host: 'worker-1',
      pid: 4242,
    });
    expect((await s.listRuns())[0].ended).toBeUndefined();
    tick();
    await run.item({ subscription: SUB, uri: 'https://example.org/l', action: 'updated' });
    tick();
    await run.item({
      subscription: 'other',
      uri: 'https://example.org/o',
      action: 'rejected',
      code: 'ERR_LIST_SIGNATURE',
      message: 'bad signature',
    });
    run.count('updated');
    run.count('rejected');
    run.count('rejected', 2);
    run.addBytes(1000);
    run.addBytes(24);
    tick();
    const ended = await run.end({ outcome: 'partial', exitStatus: 11 });
    expect(ended).toMatchObject({
      id: run.id,
      outcome: 'partial',
      exitStatus: 11,
      counts: { updated: 1, rejected: 3 },
      bytes: 1024,
      started: new Date('2026-03-01T12:00:00Z'),
      ended: new Date('2026-03-01T12:00:03Z'),
    });
    const cache = await s.beginRun({ tool: 'cache' });
    await cache.end({ outcome: 'success', exitStatus: 0 });
    const runs = await s.listRuns();
    expect(runs.map((r) => [r.id, r.tool])).toEqual([
      [cache.id, 'cache'],
      [run.id, 'subscribe'],
    ]);
    expect((await s.listRuns({ tool: 'subscribe' })).map((r) => r.id)).toEqual([run.id]);
    expect((await s.listRuns({ limit: 1 })).map((r) => r.id)).toEqual([cache.id]);
    const full = await s.getRun(run.id);
    expect(full?.items).toEqual([
      {
        subscription: SUB,
        uri: 'https://example.org/l',
        action: 'updated',
        at: new Date('2026-03-01T12:00:01Z'),
      },
      {
        subscription: 'other',
        uri: 'https://example.org/o',
        action: 'rejected',
        code: 'ERR_LIST_SIGNATURE',
        message: 'bad signature',
        at: new Date('2026-03-01T12:00:02Z'),
      },
    ]);
    expect(await s.getRun(9_999_999)).toBeUndefined();
    expect(await s.runTotals()).toEqual([
      { tool: 'cache', outcome: 'success', runs: 1, bytes: 0 },
      { tool: 'subscribe', outcome: 'partial', runs: 1, bytes: 1024 },
    ]);
  });

  it('keeps the newest `keep` runs with their items; the totals count every run', async () => {
    const s = store.subscriber;
    expect(DEFAULT_RUN_HISTORY).toBe(1000);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const run = await s.beginRun({ tool: 'cache', keep: 3 });
      await run.item({ image: `img-${i}`, action: 'downloaded' });
      run.addBytes(10);
      await run.end({ outcome: i === 2 ? 'failure' : 'success' });
      ids.push(run.id);
    }
    expect((await s.listRuns({ limit: 100 })).map((r) => r.id)).toEqual(ids.slice(2).reverse());
    expect(await s.getRun(ids[0])).toBeUndefined();
    expect((await s.getRun(ids[4]))?.items.map((i) => i.image)).toEqual(['img-4']);
    expect(await s.runTotals()).toEqual([
      { tool: 'cache', outcome: 'failure', runs: 1, bytes: 10 },
      { tool: 'cache', outcome: 'success', runs: 4, bytes: 40 },
    ]);
  });

  it('refuses bad input with ERR_STORE_INVALID and changes nothing', async () => {
    const s = store.subscriber;
    await expectCode(s.beginRun({ tool: 'vmcaster' as RunTool }), 'ERR_STORE_INVALID');
    await expectCode(s.beginRun({ tool: 'cache', keep: 0 }), 'ERR_STORE_INVALID');
    await expectCode(s.listRuns({ limit: 0 }), 'ERR_STORE_INVALID');
    expect(await s.listRuns()).toEqual([]);
    const run = await s.beginRun({ tool: 'cache' });
    await expectCode(run.item({ action: '' }), 'ERR_STORE_INVALID');
    await expectCode(run.item({ action: 'x', code: 42 as unknown as string }), 'ERR_STORE_INVALID');
    await expectCode(run.end({ outcome: 'meh' as 'success' }), 'ERR_STORE_INVALID');
    expect((await s.getRun(run.id))?.items).toEqual([]);
    expect((await s.getRun(run.id))?.ended).toBeUndefined();
    await run.end({ outcome: 'success' });
    await expectCode(run.end({ outcome: 'failure' }), 'ERR_STORE_INVALID');
    expect((await s.getRun(run.id))?.outcome).toBe('success');
    expect(await s.runTotals()).toEqual([{ tool: 'cache', outcome: 'success', runs: 1, bytes: 0 }]);
  });

  it("keeps a subscription's last attempt, last success and last error", async () => {
    const s = store.subscriber;
    await s.createEndorser('owen', [SIGNER]);
    await s.createSubscription({
      identifier: SUB,
      description: '',
      uri: 'https://example.org/l',
      endorser: 'owen',
    });
    let sub = await s.getSubscription(SUB);
    expect([sub?.lastAttempt, sub?.lastSuccess, sub?.lastError]).toEqual([undefined, undefined, undefined]);
    await s.recordUpdateAttempt(SUB, {});
    const first = clock;
    tick();
    await s.recordUpdateAttempt(SUB, { error: { code: 'ERR_LIST_FETCH', message: 'HTTP 404' } });
    sub = await s.getSubscription(SUB);
    expect(sub).toMatchObject({
      lastAttempt: clock,
      lastSuccess: first,
      lastError: { at: clock, code: 'ERR_LIST_FETCH', message: 'HTTP 404' },
    });
    expect(sub?.updated).toBeUndefined(); // no list was recorded
    const failedAt = clock;
    tick();
    await s.recordUpdateAttempt(SUB, { at: clock });
    sub = (await s.listSubscriptions())[0];
    expect(sub).toMatchObject({ lastAttempt: clock, lastSuccess: clock, lastError: { at: failedAt } });
    await expectCode(s.recordUpdateAttempt('nope', {}), 'ERR_STORE_NOT_FOUND');
    await expectCode(s.recordUpdateAttempt(SUB, { error: { code: '', message: 'x' } }), 'ERR_STORE_INVALID');
    expect(await s.getSubscription(SUB)).toEqual(sub);
  });
});
