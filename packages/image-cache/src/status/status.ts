// What `vmcatcher status` reports: per subscription its last attempt, success and error, its list's expiry,
// and the subscribed images missing or outdated in the cache (the store's candidates against the cache
// directory's index, as `vmcatcher_cache` matches them); failed and dead events; lock holders; the newest runs.
// Collecting reads; judging is a pure function over the report, with the thresholds as values.
import {
  describeHolder,
  type LeaseHolder,
  type ListWithdrawal,
  type RunRecord,
  type RunTool,
  type RunTotal,
  type Store,
} from '@hepix/imagelist-store';
import { entryImage, entrySubscription, sameImage, slotKey } from '../cache/entries.js';
import { type CacheIndex, readIndex } from '../cache/index-file.js';

/** The store locks the tools take: the subscription update (-U) and the cache run. */
export const STATUS_LOCKS = ['vmcatcher-subscribe-update', 'vmcatcher-cache'] as const;

export interface SubscriptionStatus {
  identifier: string;
  uri: string;
  authorised: boolean;
  lastAttempt?: Date;
  lastSuccess?: Date;
  lastError?: { at: Date; code: string; message: string };
  /** The last attempt failed (its error is newer than the last success, or there was no success). */
  failing: boolean;
  /** The newest stored list. */
  list?: { version: string; expires: Date; expired: boolean; withdrawn?: ListWithdrawal };
  /** Images the cache must hold (subscribed and available), those it holds, and those it lacks. */
  images: { expected: number; cached: number; missing: string[]; outdated: string[] };
}

export interface StatusReport {
  at: Date;
  subscriptions: SubscriptionStatus[];
  /** Whether a cache directory was compared (otherwise `images` and `imagesCached` are zero). */
  cacheChecked: boolean;
  /** Entries in the cache directory's index (images cached, of any subscription). */
  imagesCached: number;
  /** Failed event deliveries waiting for `--retry-events`, and those moved to the dead-letter list. */
  events: { queued: number; dead: number };
  locks: { name: string; holder?: LeaseHolder }[];
  /** The newest run of each tool, and its newest successful one. */
  runs: { tool: RunTool; last?: RunRecord; lastSuccess?: RunRecord }[];
  totals: RunTotal[];
}

export interface CollectStatusOptions {
  store: Store;
  /** The cache directory whose `cache.index` is compared (unset: images are not compared). */
  cacheDir?: string;
  now?: () => Date;
}

/** Reads the report; throws the store's errors (and `ERR_CACHE_INDEX` for an unreadable index). */
export async function collectStatus(options: CollectStatusOptions): Promise<StatusReport> {
  const { store } = options;
  const at = (options.now ?? (() => new Date()))();
  const s = store.subscriber;
  const index: CacheIndex | undefined =
    options.cacheDir === undefined ? undefined : await readIndex(options.cacheDir);
  const entries = index ? Object.entries(index) : [];
  const bySlot = new Map(entries.map(([key, e]) => [slotKey(entrySubscription(e), entryImage(key, e)), e]));
  const candidates = await s.listCacheCandidates();
  const subscriptions: SubscriptionStatus[] = [];
  for (const sub of await s.listSubscriptions()) {
    const latest = sub.latest;
    const listExpired =
      latest !== undefined && (latest.expired !== undefined || latest.expires.getTime() <= at.getTime());
    const images = { expected: 0, cached: 0, missing: [] as string[], outdated: [] as string[] };
    if (index && !listExpired) {
      for (const c of candidates) {
        if (c.subscription !== sub.identifier) continue;
        images.expected++;
        // Entries of very old versions name no subscription: matched by identifier alone.
        const entry =
          bySlot.get(slotKey(sub.identifier, c.identifier)) ?? bySlot.get(slotKey(undefined, c.identifier));
        if (!entry) images.missing.push(c.identifier);
        else if (!sameImage(entry, c.latest)) images.outdated.push(c.identifier);
        else images.cached++;
      }
    }
    const failing =
      sub.lastError !== undefined && (sub.lastSuccess === undefined || sub.lastError.at >= sub.lastSuccess);
    subscriptions.push({
      identifier: sub.identifier,
      uri: sub.uri,
      authorised: sub.authorised,
      ...(sub.lastAttempt ? { lastAttempt: sub.lastAttempt } : {}),
      ...(sub.lastSuccess ? { lastSuccess: sub.lastSuccess } : {}),
      ...(sub.lastError ? { lastError: sub.lastError } : {}),
      failing,
      ...(latest
        ? {
            list: {
              version: latest.version,
              expires: latest.expires,
              expired: listExpired,
              ...(latest.withdrawn ? { withdrawn: latest.withdrawn } : {}),
            },
          }
        : {}),
      images,
    });
  }
  const failed = await s.listFailedEvents();
  const locks: StatusReport['locks'] = [];
  for (const name of STATUS_LOCKS) {
    const holder = await store.lockHolder(name);
    locks.push({ name, ...(holder ? { holder } : {}) });
  }
  const runs: StatusReport['runs'] = [];
  for (const tool of ['subscribe', 'cache'] as const) {
    const recent = await s.listRuns({ tool, limit: 50 });
    const last = recent[0];
    const lastSuccess = recent.find((r) => r.outcome === 'success');
    runs.push({ tool, ...(last ? { last } : {}), ...(lastSuccess ? { lastSuccess } : {}) });
  }
  return {
    at,
    subscriptions,
    cacheChecked: index !== undefined,
    imagesCached: entries.length,
    events: { queued: failed.filter((f) => !f.dead).length, dead: failed.filter((f) => f.dead).length },
    locks,
    runs,
    totals: await s.runTotals(),
  };
}

export type ProbeState = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
/** The monitoring plugin convention (Nagios, Icinga): the exit status of each state. */
export const PROBE_EXIT: Readonly<Record<ProbeState, number>> = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
};

export interface ProbeFinding {
  state: Exclude<ProbeState, 'OK' | 'UNKNOWN'>;
  subscription?: string;
  message: string;
}

export interface StatusThresholds {
  /** A list expiring within this many days warns (default 3). */
  warnExpiryDays?: number;
}

const DAY_MS = 86_400_000;

/**
 * The probe's verdict over a report: CRITICAL for a subscribed image missing or outdated in the cache, or a
 * list that expired or was withdrawn; WARNING for a list expiring within `warnExpiryDays`, a subscription whose
 * last update failed or that has no list, failed or dead events, a tool whose last run failed.
 */
export function judgeStatus(
  report: StatusReport,
  thresholds: StatusThresholds = {},
): { state: ProbeState; findings: ProbeFinding[] } {
  const warnDays = thresholds.warnExpiryDays ?? 3;
  const findings: ProbeFinding[] = [];
  const add = (state: ProbeFinding['state'], message: string, subscription?: string) =>
    findings.push({ state, message, ...(subscription ? { subscription } : {}) });
  for (const s of report.subscriptions) {
    const id = s.identifier;
    if (s.images.missing.length)
      add(
        'CRITICAL',
        `${s.images.missing.length} image(s) missing in the cache: ${s.images.missing.join(', ')}`,
        id,
      );
    if (s.images.outdated.length)
      add(
        'CRITICAL',
        `${s.images.outdated.length} image(s) outdated in the cache: ${s.images.outdated.join(', ')}`,
        id,
      );
    if (!s.list) add('WARNING', 'no image list recorded yet', id);
    else if (s.list.withdrawn)
      add('CRITICAL', `image list withdrawn (${s.list.withdrawn.code}): ${s.list.withdrawn.reason}`, id);
    else if (s.list.expired) add('CRITICAL', `image list expired at ${iso(s.list.expires)}`, id);
    else if (s.list.expires.getTime() - report.at.getTime() < warnDays * DAY_MS)
      add('WARNING', `image list expires at ${iso(s.list.expires)} (within ${warnDays} days)`, id);
    if (s.failing && s.lastError)
      add(
        'WARNING',
        `last update failed at ${iso(s.lastError.at)}: ${s.lastError.code}: ${s.lastError.message}`,
        id,
      );
  }
  if (report.events.queued)
    add('WARNING', `${report.events.queued} failed event(s) queued for --retry-events`);
  if (report.events.dead) add('WARNING', `${report.events.dead} event(s) in the dead-letter list`);
  for (const r of report.runs) {
    if (r.last?.outcome === 'failure')
      add('WARNING', `the last ${r.tool} run (${r.last.id}) failed (exit ${r.last.exitStatus ?? '?'})`);
  }
  const state: ProbeState = findings.some((f) => f.state === 'CRITICAL')
    ? 'CRITICAL'
    : findings.length
      ? 'WARNING'
      : 'OK';
  return { state, findings };
}

/** Who holds a lock, for people. */
export function describeLock(lock: StatusReport['locks'][number]): string {
  return lock.holder ? `${lock.name} held by ${describeHolder(lock.holder)}` : `${lock.name} free`;
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
