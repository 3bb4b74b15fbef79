// createImageCache: a run is its steps, in the originals' order (reference §3.4), each in a module of its own
// under run/: load and recover, the foreign-file scan, ProcessPrefix, the candidates, expire, check, retention,
// download (with commit), save, ProcessPostfix. Every file operation goes through a CacheStorage.
import { HepixError, type Logger, messageOf, noopLogger } from '@hepix/common';
import type { FailedEvent, RunRecorder, Store } from '@hepix/imagelist-store';
import { DEFAULT_POLICY, type SitePolicy } from '@hepix/site-policy';
import type { AnyVmcatcherEvent, ExtendedEventType } from '../events/types.js';
import { asCacheError, ImageCacheError } from './errors.js';
import { type CacheHooks, type CacheRunSummary, callHooks, type ProcessHookEvent } from './hooks.js';
import { loadCandidates } from './run/candidates.js';
import { checkStep } from './run/check.js';
import { CACHE_LOCK, type RunActions, RunContext, type Settings } from './run/context.js';
import { cleanPartials, downloadClaimed, downloadWanted } from './run/download.js';
import { expireStep } from './run/expire.js';
import { scanAreas } from './run/foreign.js';
import { loadIndexes } from './run/indexes.js';
import { sendPending } from './run/pending.js';
import { recover } from './run/recover.js';
import { pruneExpired } from './run/retention.js';
import { retryFailedEvents, type RetryEventsOptions, type RetryEventsResult } from './run/retry-events.js';
import { type CacheStorage, createDirectoryStorage } from './storage.js';
import { createDownloadTransport, type DownloadOptions } from './transfer.js';

export interface CacheDirectories {
  cache: string;
  /** Default `<cache>/partial`. */
  partial?: string;
  /** Default `<cache>/expired`. */
  expired?: string;
}

/** Default of `expiredKeep`: the newest three expired copies of each image are kept. */
export const DEFAULT_EXPIRED_KEEP = 3;
/** Default of `maxEventAttempts`: an event that failed five times goes to the dead-letter list. */
export const DEFAULT_MAX_EVENT_ATTEMPTS = 5;

export interface ImageCacheOptions {
  store: Store;
  /** The three directories (the originals' layout). One of `dirs` and `storage` is needed. */
  dirs?: CacheDirectories;
  /** Another storage for the three areas (see `CacheStorage`); `dirs` is then ignored. */
  storage?: CacheStorage;
  /** Downloads running at once (default 2). */
  concurrency?: number;
  hooks?: CacheHooks;
  /** Decides list expiry and expired-file time stamps. */
  now?: () => Date;
  log?: Logger;
  /** The administrator's event command (`-x`, `VMCATCHER_CACHE_EVENT`), run with `/bin/sh -c`. */
  eventCommand?: string;
  /**
   * The command that receives `SubscriptionImageNew` (`VMCATCHER_SUB_EVENT`); `retryEvents()` re-delivers
   * recorded failures of that type to it.
   */
  newImageEventCommand?: string;
  /** Event command timeout (default 10 000 ms), then SIGTERM and SIGKILL to its process group. */
  eventTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL (default 2 000 ms). */
  eventKillGraceMs?: number;
  /** Environment the event command inherits (default `process.env`). */
  eventEnv?: NodeJS.ProcessEnv;
  /** Library event types the event command receives too (default none: the original types only). */
  commandEvents?: ExtendedEventType[];
  /** How images are fetched. */
  download?: DownloadOptions;
  /**
   * Fetch `file:` image URIs (default false: images come from the network only, so a list cannot make the
   * cache copy a local file into the cache). For sites that serve images from a local mirror.
   */
  allowFileUris?: boolean;
  /** The grid CA directory: TLS roots of the image servers of `igtf` subscriptions. */
  certDir?: string;
  /** Expired copies kept per image, newest first (default 3; `Infinity` keeps all, as the originals). */
  expiredKeep?: number;
  /** Deliveries of a failed event before it moves to the dead-letter list (default 5). */
  maxEventAttempts?: number;
  /** Download attempts per image and signed list before giving up until a new list (default 5, as the originals). */
  maxAttempts?: number;
  /** Create missing directories (default true). */
  createDirectories?: boolean;
  /** How long a run waits for another run's lock (default: the store's busy timeout). */
  lockWaitMs?: number;
  /** Sleep between download retries; injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The site policy (`@hepix/site-policy`): a refused image is never downloaded, and a cached one it now
   * refuses is expired (reason `policy`, `deprecated` or `expired`). Default `DEFAULT_POLICY` (deprecated
   * images refused, no other rule).
   */
  policy?: SitePolicy;
  /**
   * Receives every event of a run as the event command would (the same object as its standard input), before
   * the command runs, e.g. to write it into an outbox for a message queue (`vmcatcher_cache --events`). A sink
   * that throws makes the event count as failed (`eventFailures`), never the step.
   */
  eventSink?: (event: AnyVmcatcherEvent) => Promise<void>;
  /**
   * Several workers on one store and one cache (the same directories over a shared file system, or one `s3://`
   * bucket): each image is claimed (`store.claims`, kind `image`) by one worker for its download, with a lease
   * the worker renews while it works; the store lock `vmcatcher-cache` is held only around each change of the
   * indexes, which are read again first. A worker that dies loses its claims once their lease runs out, and the
   * next run (of any worker) resumes its partial file. Default: on for a PostgreSQL store, off for SQLite, where
   * a run holds the lock from start to end, as the originals. `false` turns it off; an object sets the lease.
   */
  workers?: boolean | { leaseMs?: number };
}

/** Default lease of an image claim: renewed every third of it while the download runs. */
export const DEFAULT_CLAIM_LEASE_MS = 60_000;

export type CacheRunActions = Partial<RunActions>;

export interface CacheRunOptions {
  /**
   * Records the run's items (`downloaded`, `expired`, `failed` with the error code; a run-level failure as a
   * `failed` item without image), its counters and the bytes downloaded. The caller begins and ends the run
   * (`store.subscriber.beginRun({ tool: 'cache' })`); a failure to record is logged, never fails the run.
   */
  recorder?: RunRecorder;
  /**
   * Stops the run: downloads in flight end as failed (`ERR_CACHE_DOWNLOAD`) and keep their partial files for the
   * next run to resume; their claims are released.
   */
  signal?: AbortSignal;
}

export interface ImageCache {
  /** Where the three areas are (`VMCATCHER_CACHE_DIR_*`). */
  readonly dirs: Readonly<Required<CacheDirectories>>;
  readonly storage: CacheStorage;
  /**
   * One cache run under the store lock `vmcatcher-cache`: ProcessPrefix, expire, check, download,
   * ProcessPostfix. No action set means download and expire; download implies expire (reference §3.4).
   * Per-image failures are in the summary; run-level ones are thrown.
   */
  run(actions?: CacheRunActions, options?: CacheRunOptions): Promise<CacheRunSummary>;
  /**
   * Re-delivers the event command failures recorded in the store, oldest first; one that failed
   * `maxEventAttempts` times moves to the dead-letter list, and the ones after it follow in order.
   */
  retryEvents(options?: RetryEventsOptions): Promise<RetryEventsResult>;
  /** The recorded failures: the queue and the dead-letter list, oldest first. */
  failedEvents(): Promise<FailedEvent[]>;
  /** Forgets one recorded failure (`ERR_STORE_NOT_FOUND` if there is none with that id). */
  dropEvent(id: number): Promise<void>;
}

/** A signal that fires when any of the given ones does. */
function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}

function settingsOf(options: ImageCacheOptions): Settings {
  const positive = (n: number | undefined, fallback: number, what: string): number => {
    if (n === undefined) return fallback;
    if (!(n >= 0) || Number.isNaN(n)) throw new RangeError(`${what} must not be negative: ${n}`);
    return n;
  };
  return {
    concurrency: Math.max(1, options.concurrency ?? 2),
    maxAttempts: options.maxAttempts ?? 5,
    download: options.download ?? {},
    allowFileUris: options.allowFileUris ?? false,
    certDir: options.certDir,
    expiredKeep: positive(options.expiredKeep, DEFAULT_EXPIRED_KEEP, 'expiredKeep'),
    hooks: options.hooks ?? {},
    commandEvents: options.commandEvents ?? [],
    eventCommand: options.eventCommand,
    eventTimeoutMs: options.eventTimeoutMs ?? 10_000,
    eventKillGraceMs: options.eventKillGraceMs,
    eventEnv: options.eventEnv,
    sleep: options.sleep,
    policy: options.policy ?? DEFAULT_POLICY,
    eventSink: options.eventSink,
    lockWaitMs: options.lockWaitMs,
    workers: workersOf(options),
  };
}

function workersOf(options: ImageCacheOptions): Settings['workers'] {
  const w = options.workers ?? options.store.dialect === 'postgres';
  if (w === false) return undefined;
  const leaseMs = (w === true ? undefined : w.leaseMs) ?? DEFAULT_CLAIM_LEASE_MS;
  if (!Number.isFinite(leaseMs) || leaseMs < 1000)
    throw new RangeError(`the claim lease must be at least 1000 ms: ${leaseMs}`);
  return { leaseMs };
}

/** Creates an image cache over a store and three directories (or another `CacheStorage`). */
export function createImageCache(options: ImageCacheOptions): ImageCache {
  if (!options.storage && !options.dirs)
    throw new ImageCacheError('ERR_CACHE_DIRECTORY', 'createImageCache needs `dirs` or `storage`');
  const storage = options.storage ?? createDirectoryStorage(options.dirs as CacheDirectories);
  const { store } = options;
  const settings = settingsOf(options);
  const now = options.now ?? (() => new Date());
  const log: Logger = options.log ?? noopLogger;
  const lockOptions = options.lockWaitMs === undefined ? undefined : { waitMs: options.lockWaitMs };

  async function run(
    requested: CacheRunActions = {},
    runOptions: CacheRunOptions = {},
  ): Promise<CacheRunSummary> {
    let { download = false, check = false, expire = false } = requested;
    if (!download && !check && !expire) {
      download = true;
      expire = true;
    }
    if (download) expire = true;
    const actions = { download, check, expire };
    try {
      await storage.prepare({ create: options.createDirectories ?? true });
      // Several workers take the lock around each change of the indexes (RunContext.critical), not for the run.
      if (settings.workers) return await execute(actions, runOptions.signal, runOptions.recorder);
      return await store.withLock(
        CACHE_LOCK,
        (signal) => execute(actions, anySignal(signal, runOptions.signal), runOptions.recorder),
        lockOptions,
      );
    } catch (err) {
      // Errors of the store and of the other packages keep their codes; anything else is a bug of ours.
      const e = err instanceof HepixError ? err : asCacheError(err);
      await runOptions.recorder
        ?.item({ action: 'failed', code: e.code, message: e.message })
        .catch((r) => log('warn', `cannot record the run history: ${messageOf(r)}`));
      throw e;
    }
  }

  async function execute(
    actions: RunActions,
    signal: AbortSignal | undefined,
    recorder: RunRecorder | undefined,
  ): Promise<CacheRunSummary> {
    const transport = createDownloadTransport(settings.download, log);
    let ctx: RunContext | undefined;
    try {
      const indexes = await loadIndexes(storage, log);
      ctx = new RunContext(store, storage, settings, actions, log, now, transport, indexes, signal, recorder);
      return await steps(ctx);
    } finally {
      await transport.close();
      if (ctx && recorder) {
        await ctx.flushRecords();
        const s = ctx.summary;
        for (const [name, n] of [
          ['downloaded', s.downloaded.length],
          ['expired', s.expired.length],
          ['verified', s.verified.length],
          ['failed', s.failed.length],
          ['vetoed', s.vetoed.length],
          ['eventFailures', s.eventFailures.length],
        ] as const) {
          recorder.count(name, n);
        }
        recorder.addBytes(ctx.bytesDownloaded);
      }
    }
  }

  async function steps(ctx: RunContext): Promise<CacheRunSummary> {
    // A run alone does everything under the lock its caller holds; a worker among several takes the lock around
    // the first steps, around each change of the indexes during the downloads (RunContext.critical), and around
    // the last save.
    const shared = ctx.settings.workers !== undefined;
    const part = (fn: () => Promise<void>) => (shared ? ctx.locked(fn) : fn());
    const processEvent: ProcessHookEvent = {
      session: ctx.session,
      dirs: { ...storage.locations },
      actions: { ...ctx.actions },
    };
    await part(async () => {
      await recover(ctx);
      await scanAreas(ctx);
      try {
        await callHooks(settings.hooks['process:before'], processEvent);
      } catch (cause) {
        throw new ImageCacheError('ERR_CACHE_VETOED', 'the process:before hook vetoed the run', { cause });
      }
      await ctx.events.fire('ProcessPrefix');
      await sendPending(ctx);
      await loadCandidates(ctx);
      if (ctx.actions.expire) await expireStep(ctx);
      if (ctx.actions.check) await checkStep(ctx);
      await pruneExpired(ctx);
      if (ctx.actions.download) await cleanPartials(ctx);
    });
    if (ctx.actions.download && shared) {
      ctx.summary.claimedElsewhere = [];
      await downloadClaimed(ctx);
    } else if (ctx.actions.download) await downloadWanted(ctx);
    await part(async () => {
      await ctx.indexes.save();
      await ctx.indexes.removeUnusedMessages();
    });
    await ctx.events.fire('ProcessPostfix');
    await ctx.events.after('process:after', { ...processEvent, result: ctx.summary }, log);
    return ctx.summary;
  }

  return {
    dirs: storage.locations,
    storage,
    run,
    retryEvents: (o = {}) =>
      store.withLock(
        CACHE_LOCK,
        () =>
          retryFailedEvents(store, {
            ...o,
            eventCommand: options.eventCommand,
            newImageEventCommand: options.newImageEventCommand,
            maxAttempts: options.maxEventAttempts ?? DEFAULT_MAX_EVENT_ATTEMPTS,
            timeoutMs: settings.eventTimeoutMs,
            killGraceMs: settings.eventKillGraceMs,
            env: settings.eventEnv,
            log,
          }),
        lockOptions,
      ),
    failedEvents: () => store.subscriber.listFailedEvents(),
    dropEvent: (id) => store.subscriber.deleteFailedEvent(id),
  };
}
