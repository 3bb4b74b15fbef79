// Work claims (0008): a row lease per piece of work (`kind` + `item`: a subscription to update, an image to
// download), so that many workers on one PostgreSQL store share the work instead of queueing behind one global
// lock. A claim is taken with `FOR UPDATE SKIP LOCKED` (PostgreSQL: two workers claiming at the same moment get
// disjoint items, neither waits), holds until it is released or its lease expires (the holder renews it with
// `renew` while it works), and an expired claim is taken over: a worker killed with SIGKILL loses its work to
// the next one after at most one lease. On SQLite a claim transaction is BEGIN IMMEDIATE: one writer at a time,
// which is today's single-process behaviour.
import { hostname } from 'node:os';
import type { DialectSql } from './dialect.js';
import { StoreError } from './errors.js';
import type { AnyKysely } from './schema.js';
import { fromDb, toDb, toNum } from './util.js';

/** One claim as stored. */
export interface WorkClaim {
  kind: string;
  item: string;
  /** The claiming worker's token (empty when released). */
  owner: string;
  host: string;
  pid: number;
  claimed: Date;
  expires: Date;
  /** When the work was last finished (released with `done`). */
  done?: Date;
}

export interface ClaimOptions {
  /** The worker's token: one per worker process (e.g. a random UUID). */
  owner: string;
  /** Lease duration in ms (default 60 000); renew before it runs out. */
  leaseMs?: number;
  /** Claim at most this many (default: all that are free). */
  limit?: number;
  /**
   * Leave the items whose work was finished (released with `done`) at or after this time: another worker did it
   * while this one was busy, e.g. a list it updated a moment ago need not be fetched again.
   */
  notDoneSince?: Date;
}

/** `store.claims`: row leases for work shared by many workers. */
export interface WorkClaims {
  /**
   * Claims the `items` of `kind` that no live claim holds (unclaimed, released, or expired), for `owner`, and
   * returns them in the order given. Items another worker holds are skipped, never waited for.
   */
  claim(kind: string, items: readonly string[], options: ClaimOptions): Promise<string[]>;
  /** Extends every claim of `owner` by `leaseMs`; returns how many it holds. */
  renew(owner: string, leaseMs?: number): Promise<number>;
  /** Gives a claim up (`done`: the work is finished, recorded for `list`). Only the owner's claim is released. */
  release(kind: string, item: string, owner: string, options?: { done?: boolean }): Promise<boolean>;
  /** The live claims of `kind` (held and not expired). */
  list(kind: string): Promise<WorkClaim[]>;
  /**
   * Renews every claim of `owner` every third of `leaseMs` (the worker's heartbeat) until `stop()`. A failed
   * renewal goes to `onError`; `lost` aborts once none succeeded for a whole lease, when other workers may take
   * the items over: the holder should stop working on them. The timer never keeps the process alive.
   */
  heartbeat(owner: string, leaseMs?: number, onError?: (err: unknown) => void): ClaimHeartbeat;
}

export interface ClaimHeartbeat {
  readonly lost: AbortSignal;
  stop(): void;
}

const DEFAULT_LEASE_MS = 60_000;

interface ClaimRow {
  kind: string;
  item: string;
  owner: string;
  host: string;
  pid: number | string;
  claimed: string;
  expires: string;
  done: string | null;
}

function check(kind: string, owner: string, leaseMs: number): void {
  if (!kind || !owner)
    throw new StoreError('ERR_STORE_INVALID', 'a claim needs a kind and an owner', { key: 'claim' });
  if (!Number.isFinite(leaseMs) || leaseMs < 100 || leaseMs > 24 * 3_600_000)
    throw new StoreError('ERR_STORE_INVALID', `claim lease must be between 100 ms and 24 h, not ${leaseMs}`, {
      key: 'leaseMs',
    });
}

export function createWorkClaims(db: AnyKysely, dialect: { sql: DialectSql }): WorkClaims {
  const { sql } = dialect;
  const host = hostname();
  const claims: WorkClaims = {
    async claim(kind, items, options) {
      const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
      check(kind, options.owner, leaseMs);
      const since = options.notDoneSince;
      if (since !== undefined && !(since instanceof Date && Number.isFinite(since.getTime())))
        throw new StoreError('ERR_STORE_INVALID', 'notDoneSince must be a valid Date', {
          key: 'notDoneSince',
        });
      const wanted = [...new Set(items)];
      if (wanted.length === 0) return [];
      const limit = options.limit ?? wanted.length;
      if (limit <= 0) return [];
      const taken = await db.transaction().execute(async (trx) => {
        // Rows for items never seen before: unclaimed (owner ''), already expired.
        await trx
          .insertInto('store_work_claim')
          .values(
            wanted.map((item) => ({
              kind,
              item,
              owner: '',
              host: '',
              pid: 0,
              claimed: sql.isoNow(),
              expires: sql.isoNow(-1000),
            })),
          )
          .onConflict((oc) => oc.columns(['kind', 'item']).doNothing())
          .execute();
        let q = trx
          .selectFrom('store_work_claim')
          .select('item')
          .where('kind', '=', kind)
          .where('item', 'in', sql.valuesList(wanted, 'text'))
          .where((eb) => eb.or([eb('owner', '=', ''), eb('expires', '<', sql.isoNow())]))
          .$if(since !== undefined, (qb) =>
            qb.where((eb) => eb.or([eb('done', 'is', null), eb('done', '<', toDb(since as Date))])),
          )
          .orderBy('item')
          .limit(limit);
        if (sql.forUpdate) q = q.forUpdate().skipLocked();
        const free = (await q.execute()).map((r) => String(r.item));
        if (free.length === 0) return new Set<string>();
        await trx
          .updateTable('store_work_claim')
          .set({
            owner: options.owner,
            host,
            pid: process.pid,
            claimed: sql.isoNow(),
            expires: sql.isoNow(leaseMs),
          })
          .where('kind', '=', kind)
          .where('item', 'in', sql.valuesList(free, 'text'))
          .execute();
        return new Set(free);
      });
      return wanted.filter((i) => taken.has(i));
    },

    async renew(owner, leaseMs = DEFAULT_LEASE_MS) {
      check('renew', owner, leaseMs);
      const r = await db
        .updateTable('store_work_claim')
        .set({ expires: sql.isoNow(leaseMs) })
        .where('owner', '=', owner)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    async release(kind, item, owner, options = {}) {
      check(kind, owner, DEFAULT_LEASE_MS);
      const r = await db
        .updateTable('store_work_claim')
        .set({
          owner: '',
          expires: sql.isoNow(-1000),
          ...(options.done ? { done: sql.isoNow() } : {}),
        })
        .where('kind', '=', kind)
        .where('item', '=', item)
        .where('owner', '=', owner)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    heartbeat(owner, leaseMs = DEFAULT_LEASE_MS, onError) {
      check('heartbeat', owner, leaseMs);
      let renewed = Date.now();
      const lost = new AbortController();
      const timer = setInterval(
        () => {
          claims.renew(owner, leaseMs).then(
            () => {
              renewed = Date.now();
            },
            (err: unknown) => {
              onError?.(err);
              if (Date.now() - renewed > leaseMs) lost.abort();
            },
          );
        },
        Math.max(100, Math.floor(leaseMs / 3)),
      );
      timer.unref();
      return { lost: lost.signal, stop: () => clearInterval(timer) };
    },

    async list(kind) {
      const rows = (await db
        .selectFrom('store_work_claim')
        .selectAll()
        .where('kind', '=', kind)
        .where('owner', '<>', '')
        .where('expires', '>=', sql.isoNow())
        .orderBy('item')
        .execute()) as ClaimRow[];
      return rows.map((r) => ({
        kind: r.kind,
        item: r.item,
        owner: r.owner,
        host: r.host,
        pid: toNum(r.pid),
        claimed: fromDb(r.claimed),
        expires: fromDb(r.expires),
        ...(r.done ? { done: fromDb(r.done) } : {}),
      }));
    },
  };
  return claims;
}
