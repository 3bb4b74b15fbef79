// What the steps of one cache run share: the options, the storage, the store, the three indexes, the
// candidates, the summary, and the locks that keep commits and name choices one at a time.
import { randomUUID } from 'node:crypto';
import { type Logger, messageOf, withFields } from '@hepix/common';
import type { RunItemInput, RunRecorder, Store, StoredImageList } from '@hepix/imagelist-store';
import type { PolicyDecision, SitePolicy } from '@hepix/site-policy';
import type { Transport } from '@hepix/transport';
import type { AnyVmcatcherEvent, ExtendedEventType } from '../../events/types.js';
import type { Candidate } from '../entries.js';
import type { CacheHooks, CacheRunSummary } from '../hooks.js';
import type { CacheStorage, StoredFile } from '../storage.js';
import type { DownloadOptions } from '../transfer.js';
import { RunEvents } from './events.js';
import type { Indexes } from './indexes.js';
import { SpaceLedger } from './space.js';

/** The options of createImageCache with their defaults applied. */
export interface Settings {
  concurrency: number;
  maxAttempts: number;
  download: DownloadOptions;
  allowFileUris: boolean;
  certDir: string | undefined;
  expiredKeep: number;
  hooks: CacheHooks;
  commandEvents: readonly ExtendedEventType[];
  eventCommand: string | undefined;
  eventTimeoutMs: number;
  eventKillGraceMs: number | undefined;
  eventEnv: NodeJS.ProcessEnv | undefined;
  sleep: ((ms: number) => Promise<void>) | undefined;
  policy: SitePolicy;
  eventSink: ((event: AnyVmcatcherEvent) => Promise<void>) | undefined;
  /** How long a run waits for the store lock `vmcatcher-cache`. */
  lockWaitMs: number | undefined;
  /** Several workers share the cache (see ImageCacheOptions.workers); undefined: one run at a time. */
  workers: { leaseMs: number } | undefined;
}

/** The store lock of the cache: a whole run (one worker), or each change of the indexes (several). */
export const CACHE_LOCK = 'vmcatcher-cache';

/** One async operation at a time, in call order. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => {});
    return next;
  }
}

export interface RunActions {
  download: boolean;
  check: boolean;
  expire: boolean;
}

export class RunContext {
  readonly session = randomUUID();
  readonly summary: CacheRunSummary;
  readonly candidates = new Map<string, Candidate>();
  /** Candidates by identifier alone, for entries of old versions that do not name their subscription. */
  readonly byIdentifier = new Map<string, Candidate[]>();
  /** Paths already reported as `ERR_CACHE_UNSAFE_FILE`. */
  readonly unsafeReported = new Set<string>();
  /** Subscriptions whose newest list this run found expired (and marked so). */
  readonly listExpired = new Set<string>();
  /** Images (by slot key) the store makes available and the site policy refuses: not candidates. */
  readonly policyRefused = new Map<string, PolicyDecision>();
  /** What each area held when the run started (name → what was found). */
  readonly found = {
    cache: new Map<string, StoredFile>(),
    partial: new Map<string, StoredFile>(),
    expired: new Map<string, StoredFile>(),
  };
  /** Commits and expiries (hooks, events, moves, index) one at a time, as the originals delivered events. */
  readonly serial = new Mutex();
  /** Name choices and space reservations one at a time, so that two downloads never pick the same. */
  readonly allocation = new Mutex();
  readonly #lists = new Map<string, Promise<StoredImageList | undefined>>();
  readonly events: RunEvents;
  /** Free space promised to the downloads in flight (they write into the partial area). */
  readonly space: SpaceLedger;
  /** Bytes written into partial files by this run's transfers. */
  bytesDownloaded = 0;
  readonly #records: Promise<void>[] = [];

  constructor(
    readonly store: Store,
    readonly storage: CacheStorage,
    readonly settings: Settings,
    readonly actions: RunActions,
    readonly log: Logger,
    readonly now: () => Date,
    readonly transport: Transport,
    readonly indexes: Indexes,
    readonly signal: AbortSignal | undefined,
    readonly recorder?: RunRecorder,
  ) {
    this.summary = {
      session: this.session,
      downloaded: [],
      expired: [],
      verified: [],
      vetoed: [],
      failed: [],
      foreign: [],
      pruned: [],
      eventFailures: [],
    };
    this.events = new RunEvents(store, settings, log, this.session, storage.locations, this.summary);
    this.space = new SpaceLedger(storage, 'partial');
  }

  /**
   * Runs a change of the indexes (a name choice, a commit, undoing a failed attempt): one at a time in this
   * run (`mutex`); with several workers, also under the store lock and on the indexes as they are now, so
   * that what another worker changed meanwhile is kept.
   */
  critical<T>(mutex: Mutex, fn: () => Promise<T>): Promise<T> {
    if (!this.settings.workers) return mutex.run(fn);
    return this.serial.run(() => this.locked(fn));
  }

  /** With several workers: `fn` under the store lock, after reading the indexes again. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const wait = this.settings.lockWaitMs;
    return this.store.withLock(
      CACHE_LOCK,
      async () => {
        await this.indexes.reload(this.log);
        return fn();
      },
      wait === undefined ? undefined : { waitMs: wait },
    );
  }

  /** A logger whose lines name the image and its subscription. */
  about(image: string, subscription: string | undefined): Logger {
    return withFields(this.log, { image, ...(subscription ? { subscription } : {}) });
  }

  /**
   * Records an item of the run history (when the run has a recorder). Not awaited by the step: the history
   * must not slow or fail the cache; `flushRecords` waits for all of them at the end.
   */
  record(item: RunItemInput): void {
    if (!this.recorder) return;
    this.#records.push(
      this.recorder
        .item(item)
        .catch((err) => this.log('warn', `cannot record the run history: ${messageOf(err)}`)),
    );
  }

  async flushRecords(): Promise<void> {
    while (this.#records.length) await Promise.all(this.#records.splice(0));
  }

  /** The subscription's newest stored list (its bytes and list-level keys), read once per run, when needed. */
  list(subscription: string): Promise<StoredImageList | undefined> {
    let p = this.#lists.get(subscription);
    if (!p) {
      p = this.store.subscriber.getLatestImageList(subscription);
      this.#lists.set(subscription, p);
    }
    return p;
  }
}
