// Work claims (0008) on both dialects: disjoint claims for concurrent workers (FOR UPDATE SKIP LOCKED on
// PostgreSQL, BEGIN IMMEDIATE on SQLite), renewal, release, and takeover of an expired claim.
import { afterEach, describe, expect, it } from 'vitest';
import { type DialectName, openStore, type Store } from '../src/index.js';
import { createTestDatabase, dialects, expectCode } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function stores(dialect: DialectName, n: number) {
  const db = await createTestDatabase(dialect);
  cleanups.push(db.dispose);
  const out: Store[] = [];
  for (let i = 0; i < n; i++) {
    const s = await openStore(db.url);
    cleanups.push(() => s.close());
    out.push(s);
  }
  return out;
}

const ITEMS = Array.from({ length: 20 }, (_, i) => `image-${String(i).padStart(2, '0')}`);

describe.each(dialects())('work claims on %s', (dialect) => {
  it('gives concurrent workers disjoint claims that together cover every item', async () => {
    // SQLite is one process's store (libsql waits for a lock synchronously): the workers share one connection.
    const workers =
      dialect === 'sqlite' ? Array(3).fill((await stores(dialect, 1))[0]) : await stores(dialect, 3);
    const got = await Promise.all(
      workers.flatMap((s, w) =>
        [0, 1, 2, 3].map(() => s.claims.claim('image', ITEMS, { owner: `w${w}`, limit: 2 })),
      ),
    );
    const all = got.flat();
    expect(new Set(all).size).toBe(all.length);
    // Twelve claims of at most two: all 20 items are taken, none twice.
    expect(all.length).toBe(20);
    expect([...all].sort()).toEqual(ITEMS);
    // Nothing is left to claim while the leases last.
    expect(await workers[0].claims.claim('image', ITEMS, { owner: 'late' })).toEqual([]);
    expect((await workers[1].claims.list('image')).length).toBe(20);
  });

  it('releases, renews, and lets another worker take over an expired claim', async () => {
    const [a, b] = await stores(dialect, 2);
    expect(await a.claims.claim('subscription', ['s1', 's2'], { owner: 'a', leaseMs: 400 })).toEqual([
      's1',
      's2',
    ]);
    expect(await b.claims.claim('subscription', ['s1', 's2'], { owner: 'b' })).toEqual([]);
    // Only the owner releases.
    expect(await b.claims.release('subscription', 's1', 'b')).toBe(false);
    expect(await a.claims.release('subscription', 's1', 'a', { done: true })).toBe(true);
    expect(await b.claims.claim('subscription', ['s1', 's2'], { owner: 'b' })).toEqual(['s1']);
    // a renews s2 for a while: it stays a's.
    expect(await a.claims.renew('a', 5_000)).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    expect(await b.claims.claim('subscription', ['s2'], { owner: 'b' })).toEqual([]);
    // a stops renewing (killed): once its lease runs out, b takes s2 over.
    expect(await a.claims.renew('a', 100)).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await b.claims.claim('subscription', ['s2'], { owner: 'b' })).toEqual(['s2']);
    const held = await a.claims.list('subscription');
    expect(held.map((c) => [c.item, c.owner])).toEqual([
      ['s1', 'b'],
      ['s2', 'b'],
    ]);
    expect(held[0].pid).toBe(process.pid);
    // Kinds are separate.
    expect(await a.claims.claim('image', ['s1'], { owner: 'a' })).toEqual(['s1']);
  });

  it('keeps claims alive with a heartbeat, and says when renewals failed for a whole lease', async () => {
    const [a, b] = await stores(dialect, 2);
    expect(await a.claims.claim('image', ['h1'], { owner: 'a', leaseMs: 2000 })).toEqual(['h1']);
    const errors: unknown[] = [];
    const beat = a.claims.heartbeat('a', 2000, (e) => errors.push(e));
    try {
      await new Promise((r) => setTimeout(r, 4500));
      // Past two and a half leases: still a's.
      expect(await b.claims.claim('image', ['h1'], { owner: 'b' })).toEqual([]);
      expect(beat.lost.aborted).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      beat.stop();
    }
    // A heartbeat whose store is gone fails every renewal: lost once a lease has passed.
    const [c] = await stores(dialect, 1);
    const dead = c.claims.heartbeat('c', 300, (e) => errors.push(e));
    await c.close();
    try {
      const deadline = Date.now() + 30_000;
      while (!dead.lost.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(dead.lost.aborted).toBe(true);
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      dead.stop();
    }
    expect(() => a.claims.heartbeat('', 600)).toThrow(expect.objectContaining({ code: 'ERR_STORE_INVALID' }));
  });

  it('leaves, with notDoneSince, the items another worker finished meanwhile', async () => {
    const [a, b] = await stores(dialect, 2);
    expect(await a.claims.claim('subscription', ['s1', 's2'], { owner: 'a' })).toEqual(['s1', 's2']);
    const started = new Date();
    await new Promise((r) => setTimeout(r, 20));
    // b started before a finished s1; a only released s2 without finishing it.
    expect(await a.claims.release('subscription', 's1', 'a', { done: true })).toBe(true);
    expect(await a.claims.release('subscription', 's2', 'a')).toBe(true);
    expect(await b.claims.claim('subscription', ['s1', 's2'], { owner: 'b', notDoneSince: started })).toEqual(
      ['s2'],
    );
    expect(await b.claims.release('subscription', 's2', 'b', { done: true })).toBe(true);
    // A worker that starts afterwards (the database's clock has milliseconds: one later) takes both again.
    await new Promise((r) => setTimeout(r, 20));
    expect(
      await b.claims.claim('subscription', ['s1', 's2'], { owner: 'b', notDoneSince: new Date() }),
    ).toEqual(['s1', 's2']);
  });

  it('refuses a claim without owner or with an impossible lease (ERR_STORE_INVALID), claiming nothing', async () => {
    const [s] = await stores(dialect, 1);
    await expectCode(s.claims.claim('image', ['x'], { owner: '' }), 'ERR_STORE_INVALID');
    await expectCode(s.claims.claim('image', ['x'], { owner: 'a', leaseMs: 10 }), 'ERR_STORE_INVALID');
    await expectCode(
      s.claims.claim('image', ['x'], { owner: 'a', notDoneSince: new Date(Number.NaN) }),
      'ERR_STORE_INVALID',
    );
    expect(await s.claims.list('image')).toEqual([]);
    expect(await s.claims.claim('image', ['x'], { owner: 'a' })).toEqual(['x']);
  });
});

describe.each(dialects())('notify and listen on %s', (dialect) => {
  it('refuses a channel name that is not a plain identifier', async () => {
    const [a] = await stores(dialect, 1);
    await expectCode(a.notify('work; drop table x'), 'ERR_STORE_INVALID');
    await expectCode(
      a.listen('Work', () => {}),
      'ERR_STORE_INVALID',
    );
  });

  it(
    dialect === 'postgres'
      ? 'wakes a listener in another store (another connection), with the payload, until it stops'
      : 'is a no-op: nothing arrives, nothing fails',
    async () => {
      const [a, b] = await stores(dialect, 2);
      const heard: string[] = [];
      const stop = await b.listen('vmcatcher_work', (p) => heard.push(p));
      await a.notify('vmcatcher_work', 'list:one');
      await a.notify('other_channel', 'not for b');
      const deadline = Date.now() + 30_000;
      while (dialect === 'postgres' && heard.length < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(heard).toEqual(dialect === 'postgres' ? ['list:one'] : []);
      await stop();
      await a.notify('vmcatcher_work', 'list:two');
      await new Promise((r) => setTimeout(r, 200));
      expect(heard).toEqual(dialect === 'postgres' ? ['list:one'] : []);
    },
  );
});
