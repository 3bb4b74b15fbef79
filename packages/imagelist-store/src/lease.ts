// Locks as leases: a row per lock name (store_lease) naming its holder, renewed by a heartbeat and stale once
// it has not been renewed for the lease duration. The same algorithm runs on SQLite (inside BEGIN IMMEDIATE)
// and PostgreSQL (the row read FOR UPDATE, the insert racing on the primary key). Unlike a PID check or a
// PostgreSQL advisory lock, a lease is recovered whatever killed its holder: SIGKILL in a container, another
// PID namespace, another host, or a hung session.
//
// Names are free text. Per-row leases for many workers (`subscription:<id>`, `image:<id>`, taken with
// FOR UPDATE SKIP LOCKED on PostgreSQL) fit the same table and the same Locker; they are not built yet.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { delay, type Logger } from '@hepix/common';
import type { DialectSql } from './dialect.js';
import { StoreError } from './errors.js';
import type { AnyKysely } from './schema.js';
import { fromDb, toBool, toNum } from './util.js';

/** Who holds a lock. Times are the database's clock. */
export interface LeaseHolder {
  host: string;
  pid: number;
  /** When the holder took the lock. */
  since: Date;
  /** Its last renewal. */
  heartbeat: Date;
  /** When the lease goes stale unless renewed. */
  expires: Date;
}

/** A lock held by this process. */
export interface Lease {
  readonly name: string;
  /** Fires when the lease is lost (taken over, or not renewable for a whole lease duration). */
  readonly signal: AbortSignal;
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

/** The lock service behind `store.withLock`, one per store. */
export interface Locker {
  /** Takes the named lock, waiting up to `waitMs` (then `ERR_STORE_LOCKED` naming the holder). */
  acquire(name: string, options?: { waitMs?: number }): Promise<Lease>;
  /** The current holder of a lock, if it is held and not stale. */
  holder(name: string): Promise<LeaseHolder | undefined>;
  /** Stops every heartbeat and releases the locks this process holds. */
  close(): Promise<void>;
}

export interface LeaseTimings {
  /** A lease not renewed for this long is stale and may be taken over (default 30 000 ms). */
  durationMs?: number;
  /** How often the holder renews its lease (default: a sixth of the duration, at most 5 000 ms). */
  renewMs?: number;
}

export interface LockerOptions extends LeaseTimings {
  /** Default wait of `acquire` in milliseconds. */
  waitMs: number;
  log?: Logger;
  /** The store URL, for messages. */
  url?: string;
}

/** The defaults and limits of lease timing, resolved; `ERR_STORE_INVALID` for values that cannot work. */
export function resolveLeaseTimings(t: LeaseTimings = {}): { durationMs: number; renewMs: number } {
  const durationMs = t.durationMs ?? 30_000;
  if (!Number.isFinite(durationMs) || durationMs < 100 || durationMs > 3_600_000) {
    throw new StoreError(
      'ERR_STORE_INVALID',
      `lease duration must be between 100 ms and 1 h, not ${t.durationMs}`,
      { key: 'durationMs' },
    );
  }
  const renewMs = t.renewMs ?? Math.min(5_000, Math.floor(durationMs / 6));
  if (!Number.isFinite(renewMs) || renewMs < 10 || renewMs * 2 > durationMs) {
    throw new StoreError(
      'ERR_STORE_INVALID',
      `lease renewal interval must be at least 10 ms and at most half the duration (${durationMs} ms), not ${t.renewMs}`,
      { key: 'renewMs' },
    );
  }
  return { durationMs, renewMs };
}

/** `pid 123 on host-a since 2026-01-02T03:04:05.000Z (last renewed …)`: how every lock message names a holder. */
export function describeHolder(h: LeaseHolder): string {
  return `pid ${h.pid} on ${h.host} since ${h.since.toISOString()} (last renewed ${h.heartbeat.toISOString()})`;
}

/** Pause between two attempts to take a held lock: quick at first, then every half second. */
export function retryDelay(attempt: number): number {
  return Math.min(500, 25 * 2 ** Math.min(attempt, 5));
}

interface LeaseRow {
  name: string;
  owner: string;
  host: string;
  pid: number | string;
  acquired: string;
  heartbeat: string;
  expires: string;
  stale?: unknown;
}

function holderOf(r: LeaseRow): LeaseHolder {
  return {
    host: r.host,
    pid: toNum(r.pid),
    since: fromDb(r.acquired),
    heartbeat: fromDb(r.heartbeat),
    expires: fromDb(r.expires),
  };
}

type Taken = { taken: true; tookOver?: LeaseHolder } | { taken: false; holder?: LeaseHolder };

/** The lease locker on the `store_lease` table; the dialect supplies the clock and row-locking SQL. */
export function createLeaseLocker(
  db: AnyKysely,
  dialect: { sql: DialectSql; isUniqueViolation(err: unknown): boolean },
  options: LockerOptions,
): Locker {
  const { durationMs, renewMs } = resolveLeaseTimings(options);
  const log = options.log;
  const host = hostname();
  const { sql } = dialect;
  const held = new Map<string, { name: string; stop(reason?: unknown): void }>();
  let closed = false;

  function stamps(): Record<'acquired' | 'heartbeat' | 'expires', unknown> {
    return { acquired: sql.isoNow(), heartbeat: sql.isoNow(), expires: sql.isoNow(durationMs) };
  }

  async function read(name: string): Promise<LeaseRow | undefined> {
    return (await db
      .selectFrom('store_lease')
      .select(['name', 'owner', 'host', 'pid', 'acquired', 'heartbeat', 'expires'])
      .select((eb) => eb('expires', '<', sql.isoNow()).as('stale'))
      .where('name', '=', name)
      .executeTakeFirst()) as LeaseRow | undefined;
  }

  async function tryTake(name: string, owner: string): Promise<Taken> {
    try {
      return await db.transaction().execute(async (trx): Promise<Taken> => {
        let q = trx
          .selectFrom('store_lease')
          .select(['name', 'owner', 'host', 'pid', 'acquired', 'heartbeat', 'expires'])
          .select((eb) => eb('expires', '<', sql.isoNow()).as('stale'))
          .where('name', '=', name);
        if (sql.forUpdate) q = q.forUpdate();
        const row = (await q.executeTakeFirst()) as LeaseRow | undefined;
        if (!row) {
          await trx
            .insertInto('store_lease')
            .values({ name, owner, host, pid: process.pid, ...stamps() })
            .execute();
          return { taken: true };
        }
        if (!toBool(row.stale)) return { taken: false, holder: holderOf(row) };
        const r = await trx
          .updateTable('store_lease')
          .set({ owner, host, pid: process.pid, ...stamps() })
          .where('name', '=', name)
          .where('owner', '=', row.owner)
          .executeTakeFirst();
        return Number(r.numUpdatedRows) === 1
          ? { taken: true, tookOver: holderOf(row) }
          : { taken: false, holder: holderOf(row) };
      });
    } catch (err) {
      // Two first takers raced on the primary key (PostgreSQL): the other one won.
      if (dialect.isUniqueViolation(err)) return { taken: false };
      throw err;
    }
  }

  function keepAlive(name: string, owner: string): Lease {
    const controller = new AbortController();
    let lastRenewed = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let released = false;
    const key = `${name}\u0000${owner}`;

    const lose = (message: string, holder?: LeaseHolder) => {
      if (controller.signal.aborted) return;
      log?.('warn', message, { name: 'db', lock: name });
      controller.abort(new StoreError('ERR_STORE_LOCKED', message, { lock: name, url: options.url, holder }));
    };

    const renew = async () => {
      timer = undefined;
      if (released) return;
      try {
        const r = await db
          .updateTable('store_lease')
          .set({ heartbeat: sql.isoNow(), expires: sql.isoNow(durationMs) })
          .where('name', '=', name)
          .where('owner', '=', owner)
          .executeTakeFirst();
        if (released) return;
        if (Number(r.numUpdatedRows) === 0) {
          const now = await read(name).catch(() => undefined);
          const by = now && now.owner !== owner ? ` by ${describeHolder(holderOf(now))}` : '';
          lose(`lock '${name}' was taken over${by}; this run no longer holds it`, now && holderOf(now));
          return;
        }
        lastRenewed = Date.now();
      } catch (err) {
        if (released) return;
        const silent = Date.now() - lastRenewed;
        log?.('warn', `cannot renew lock '${name}': ${(err as Error).message}`, { name: 'db', lock: name });
        if (silent >= durationMs) {
          lose(`lock '${name}' could not be renewed for ${silent} ms; another run may have taken it over`);
          return;
        }
      }
      schedule();
    };
    const schedule = () => {
      if (released || controller.signal.aborted) return;
      timer = setTimeout(() => void renew(), renewMs);
      // The heartbeat alone never keeps a process alive.
      timer.unref();
    };

    const stop = (reason?: unknown) => {
      released = true;
      if (timer) clearTimeout(timer);
      held.delete(key);
      if (reason !== undefined && !controller.signal.aborted) controller.abort(reason);
    };
    held.set(key, { name, stop });
    schedule();

    return {
      name,
      signal: controller.signal,
      async release() {
        if (released) return;
        stop();
        if (closed) return;
        try {
          await db.deleteFrom('store_lease').where('name', '=', name).where('owner', '=', owner).execute();
        } catch (err) {
          // The lease goes stale by itself; failing the caller's work for this would be worse.
          log?.('warn', `cannot release lock '${name}': ${(err as Error).message}`, {
            name: 'db',
            lock: name,
          });
        }
      },
    };
  }

  return {
    async acquire(name, acquireOptions = {}) {
      if (typeof name !== 'string' || name === '') {
        throw new StoreError('ERR_STORE_INVALID', 'a lock needs a non-empty name', { lock: String(name) });
      }
      if (closed) throw new StoreError('ERR_STORE_INVALID', 'the store is closed', { lock: name });
      const waitMs = acquireOptions.waitMs ?? options.waitMs;
      const owner = randomUUID();
      const deadline = Date.now() + waitMs;
      let told = false;
      for (let attempt = 0; ; attempt++) {
        const r = await tryTake(name, owner);
        if (r.taken) {
          if (r.tookOver) {
            log?.(
              'warn',
              `lock '${name}' held by ${describeHolder(r.tookOver)} was not renewed and went stale at ${r.tookOver.expires.toISOString()}; taking it over`,
              { name: 'db', lock: name },
            );
          }
          return keepAlive(name, owner);
        }
        const holder = r.holder ?? (await read(name).then((x) => (x ? holderOf(x) : undefined)));
        const who = holder ? describeHolder(holder) : 'another process';
        if (Date.now() >= deadline) {
          throw new StoreError(
            'ERR_STORE_LOCKED',
            `lock '${name}' is held by ${who}; gave up after ${waitMs} ms`,
            { lock: name, url: options.url, holder },
          );
        }
        if (!told) {
          told = true;
          // At info: overlapping cron runs wait as a matter of course (a CLI shows it with -v); giving up is an
          // error and a takeover a warning, both naming the holder.
          log?.('info', `lock '${name}' is held by ${who}; waiting up to ${waitMs} ms`, {
            name: 'db',
            lock: name,
          });
        }
        await delay(Math.min(retryDelay(attempt), Math.max(1, deadline - Date.now())));
      }
    },
    async holder(name) {
      const r = await read(name);
      return r && !toBool(r.stale) ? holderOf(r) : undefined;
    },
    async close() {
      if (closed) return;
      const mine = [...held.entries()];
      for (const [, h] of mine)
        h.stop(
          new StoreError('ERR_STORE_LOCKED', `lock '${h.name}' released: the store is closed`, {
            lock: h.name,
          }),
        );
      closed = true;
      if (!mine.length) return;
      for (const [key] of mine) {
        const [name, owner] = key.split('\u0000');
        await db
          .deleteFrom('store_lease')
          .where('name', '=', name)
          .where('owner', '=', owner)
          .execute()
          .catch(() => {});
      }
    },
  };
}
