// Locks as leases: a holder that dies however it dies (SIGKILL, another PID namespace, another host that stops
// renewing) is taken over once its lease is stale; a live holder renews and keeps it; every message names the
// holder; a run that loses its lease is told through its AbortSignal.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  describeHolder,
  type LeaseHolder,
  openStore,
  resolveLeaseTimings,
  StoreError,
} from '../src/index.js';
import { retryDelay } from '../src/lease.js';
import { createTestDatabase, dialects, expectCode, withRawDb } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('lease timings and messages', () => {
  it.each([
    [{}, { durationMs: 30_000, renewMs: 5_000 }],
    [{ durationMs: 60_000 }, { durationMs: 60_000, renewMs: 5_000 }],
    [{ durationMs: 1_200 }, { durationMs: 1_200, renewMs: 200 }],
    [
      { durationMs: 1_000, renewMs: 500 },
      { durationMs: 1_000, renewMs: 500 },
    ],
    [
      { durationMs: 100, renewMs: 10 },
      { durationMs: 100, renewMs: 10 },
    ],
  ])('resolves %o to %o', (input, expected) => {
    expect(resolveLeaseTimings(input)).toEqual(expected);
  });

  it.each([
    [{ durationMs: 99 }, 'durationMs'],
    [{ durationMs: 3_600_001 }, 'durationMs'],
    [{ durationMs: Number.NaN }, 'durationMs'],
    [{ durationMs: 1_000, renewMs: 501 }, 'renewMs'],
    [{ durationMs: 1_000, renewMs: 9 }, 'renewMs'],
    [{ renewMs: 20_000 }, 'renewMs'],
  ])('refuses %o with ERR_STORE_INVALID naming %s', (input, key) => {
    let err: unknown;
    try {
      resolveLeaseTimings(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('ERR_STORE_INVALID');
    expect((err as StoreError).key).toBe(key);
  });

  it.each([
    [0, 25],
    [1, 50],
    [3, 200],
    [4, 400],
    [5, 500],
    [40, 500],
  ])('waits %i → %i ms between attempts', (attempt, ms) => {
    expect(retryDelay(attempt)).toBe(ms);
  });

  it('names a holder by pid, host and times', () => {
    const h: LeaseHolder = {
      host: 'worker-7',
      pid: 42,
      since: new Date('2026-01-02T03:04:05.000Z'),
      heartbeat: new Date('2026-01-02T03:05:00.000Z'),
      expires: new Date('2026-01-02T03:05:30.000Z'),
    };
    expect(describeHolder(h)).toBe(
      'pid 42 on worker-7 since 2026-01-02T03:04:05.000Z (last renewed 2026-01-02T03:05:00.000Z)',
    );
  });

  it('refuses bad lease options before creating anything', async () => {
    const { existsSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'hepix-lease-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await expectCode(
      openStore(`sqlite:///${dir}/store.db`, { lease: { durationMs: 1000, renewMs: 900 } }),
      'ERR_STORE_INVALID',
    );
    expect(existsSync(join(dir, 'store.db'))).toBe(false);
  });
});

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the first line that has `key`. */
  line(key: string): Promise<Record<string, unknown>>;
  closed: Promise<unknown>;
}

function start(argv: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { key: string; resolve(l: Record<string, unknown>): void }[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => x.key in line)) w.resolve(line);
    }
  });
  const closed = once(proc, 'close');
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return closed;
  });
  return {
    proc,
    lines,
    closed,
    line: (key) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => key in l);
        if (seen) return resolve(seen);
        waiters.push({ key, resolve });
        closed.then(() => reject(new Error(`child ended without a '${key}' line: ${JSON.stringify(lines)}`)));
      }),
  };
}

describe.each(dialects())('leases on %s', (dialect) => {
  async function database() {
    const db = await createTestDatabase(dialect);
    cleanups.push(() => db.dispose());
    // Migrated once here, so that children spend their time on the lock.
    await (await openStore(db.url)).close();
    return db.url;
  }

  async function open(url: string, lease?: { durationMs: number; renewMs: number }) {
    const logs: { level: string; message: string }[] = [];
    const store = await openStore(url, { lease, log: (level, message) => logs.push({ level, message }) });
    cleanups.push(() => store.close());
    return { store, logs };
  }

  it('a waiting run says once for whom it waits, and ERR_STORE_LOCKED names the holder', async () => {
    const url = await database();
    const a = await open(url);
    const b = await open(url);
    let release!: () => void;
    const held = a.store.withLock('cron', () => new Promise<void>((r) => (release = r)));
    await waitFor(async () => (await b.store.lockHolder('cron')) !== undefined);
    const err = await expectCode(
      b.store.withLock('cron', async () => 'never', { waitMs: 400 }),
      'ERR_STORE_LOCKED',
    );
    expect(err.lock).toBe('cron');
    expect(err.holder).toMatchObject({ host: hostname(), pid: process.pid });
    expect(err.message).toContain(`is held by pid ${process.pid} on ${hostname()} since `);
    expect(err.message).toContain('gave up after 400 ms');
    const waits = b.logs.filter((l) => l.message.includes('waiting up to'));
    expect(waits).toHaveLength(1);
    expect(waits[0].message).toMatch(
      new RegExp(`^lock 'cron' is held by pid ${process.pid} on .+ since \\S+Z`),
    );
    release();
    await held;
    expect(await a.store.lockHolder('cron')).toBeUndefined();
  });

  it('a live holder renews its lease past the lease duration and keeps the lock', async () => {
    const url = await database();
    const a = await open(url, { durationMs: 3_000, renewMs: 100 });
    const b = await open(url);
    let release!: () => void;
    const held = a.store.withLock('cron', () => new Promise<void>((r) => (release = r)));
    await waitFor(async () => (await b.store.lockHolder('cron')) !== undefined);
    const first = (await b.store.lockHolder('cron'))!;
    // Past the first lease's end: only renewals keep it.
    await waitFor(async () => Date.now() > first.expires.getTime() + 200);
    const now = (await b.store.lockHolder('cron'))!;
    expect(now.since).toEqual(first.since);
    expect(now.heartbeat.getTime()).toBeGreaterThan(first.heartbeat.getTime());
    expect(now.expires.getTime()).toBeGreaterThan(first.expires.getTime());
    await expectCode(
      b.store.withLock('cron', async () => 0, { waitMs: 0 }),
      'ERR_STORE_LOCKED',
    );
    release();
    await held;
  });

  it('a holder killed with SIGKILL is taken over once its lease is stale', async () => {
    const url = await database();
    const holder = start([process.execPath, child, 'hold-forever', url, 'cron'], { LEASE_MS: '1500' });
    const locked = await holder.line('locked');
    expect((locked.holder as { pid: number }).pid).toBe(holder.proc.pid);
    holder.proc.kill('SIGKILL');
    await holder.closed;
    const b = await open(url);
    expect(await b.store.withLock('cron', async () => 'taken over', { waitMs: 20_000 })).toBe('taken over');
    const warn = b.logs.find((l) => l.level === 'warn' && l.message.includes('taking it over'));
    expect(warn?.message).toContain(`held by pid ${holder.proc.pid} on ${hostname()} since`);
  });

  it('a holder on another host that stops renewing is taken over', async () => {
    const url = await database();
    await withRawDb(url, (db) =>
      db
        .insertInto('store_lease')
        .values({
          name: 'cron',
          owner: 'a-token-of-another-host',
          host: 'worker-9.example.org',
          pid: 4242,
          acquired: new Date(Date.now() - 600_000).toISOString(),
          heartbeat: new Date(Date.now() - 1_000).toISOString(),
          expires: new Date(Date.now() + 1_500).toISOString(),
        })
        .execute(),
    );
    const b = await open(url);
    expect(await b.store.lockHolder('cron')).toMatchObject({ host: 'worker-9.example.org', pid: 4242 });
    expect(await b.store.withLock('cron', async () => 'mine', { waitMs: 20_000 })).toBe('mine');
    expect(b.logs.filter((l) => l.message.includes('waiting up to'))).toHaveLength(1);
    expect(b.logs.find((l) => l.message.includes('waiting up to'))?.message).toContain(
      'is held by pid 4242 on worker-9.example.org since',
    );
    expect(b.logs.find((l) => l.message.includes('taking it over'))?.message).toContain(
      'held by pid 4242 on worker-9.example.org',
    );
    // Released afterwards: nobody holds it.
    expect(await b.store.lockHolder('cron')).toBeUndefined();
  });

  it('a holder in another PID namespace, killed, is taken over (unshare --pid, as root)', async () => {
    // CI runs as root; without unshare or the privilege this test fails rather than skips.
    expect(process.getuid?.(), 'this test needs root (unshare --pid)').toBe(0);
    const unshare = execFileSync('sh', ['-c', 'command -v unshare'], { encoding: 'utf8' }).trim();
    expect(unshare, 'unshare (util-linux) is not installed').not.toBe('');
    const url = await database();
    const holder = start(
      [
        unshare,
        '--pid',
        '--fork',
        '--mount-proc',
        '--kill-child=SIGKILL',
        process.execPath,
        child,
        'hold-forever',
        url,
        'cron',
      ],
      { LEASE_MS: '1500' },
    );
    const locked = await holder.line('locked');
    // In its own namespace the holder is init: its pid says nothing about processes here.
    const pid = (locked.holder as { pid: number }).pid;
    expect(pid).toBe(1);
    holder.proc.kill('SIGKILL');
    await holder.closed;
    const b = await open(url);
    expect(await b.store.withLock('cron', async () => 'recovered', { waitMs: 20_000 })).toBe('recovered');
    expect(b.logs.find((l) => l.message.includes('taking it over'))?.message).toContain(
      `held by pid 1 on ${hostname()}`,
    );
  });

  it("a holder whose lease is taken over is told through its callback's signal", async () => {
    const url = await database();
    const a = await open(url, { durationMs: 2_000, renewMs: 50 });
    let signal!: AbortSignal;
    let release!: () => void;
    let held!: Promise<void>;
    const started = new Promise<void>((ready) => {
      held = a.store.withLock('cron', (s) => {
        signal = s;
        ready();
        return new Promise<void>((r) => (release = r));
      });
    });
    await started;
    expect(signal.aborted).toBe(false);
    await withRawDb(url, (db) =>
      db
        .updateTable('store_lease')
        .set({ owner: 'thief', host: 'thief.example.org', pid: 7 })
        .where('name', '=', 'cron')
        .execute(),
    );
    if (!signal.aborted) await once(signal, 'abort');
    const reason = signal.reason as StoreError;
    expect(reason).toBeInstanceOf(StoreError);
    expect(reason.code).toBe('ERR_STORE_LOCKED');
    expect(reason.holder).toMatchObject({ host: 'thief.example.org', pid: 7 });
    expect(reason.message).toContain('was taken over by pid 7 on thief.example.org');
    expect(a.logs.some((l) => l.level === 'warn' && l.message.includes('was taken over'))).toBe(true);
    release();
    await held;
    // Releasing does not remove the row of the one who took it.
    const rows = await withRawDb(
      url,
      async (db) => (await sql<{ owner: string }>`select owner from store_lease`.execute(db)).rows,
    );
    expect(rows).toEqual([{ owner: 'thief' }]);
  });
});

/** Polls `check` until it holds; the test's own timeout bounds it (no timed assertion). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 25));
}
