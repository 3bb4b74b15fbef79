// vmcatcher_cache (and `vmcatcher cache`): options and environment of reference §3.4 on the shared CLI context
// (-d/-v/-q/--log-config/--json, one error-to-exit-code mapping); the work is @hepix/image-cache's. A run's
// per-image failures become the exit status of their class (EXIT), so cron and monitoring can tell a full
// disk from a bad download.
import { join } from 'node:path';
import { createProgressRenderer, escapeControl, LEVEL_NUMBERS, type Logger, messageOf } from '@hepix/common';
import {
  type CacheHooks,
  type CacheRunSummary,
  type CacheStorage,
  createImageCache,
  DEFAULT_CLAIM_LEASE_MS,
  DEFAULT_EXPIRED_KEEP,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_MAX_EVENT_ATTEMPTS,
  DEFAULT_MIN_RATE_BYTES_PER_S,
  type ImageCacheErrorCode,
  type ProgressHookEvent,
  WORK_CHANNEL,
} from '@hepix/image-cache/cache';
import type { FailedEvent, Store } from '@hepix/imagelist-store';
import type { ObjectStore } from '@hepix/object-store';
import {
  type CliIo,
  type CommonContext,
  DEFAULT_CERT_DIR,
  processIo,
  runTool,
  type ToolDefinition,
  withStore,
} from '../common/context.js';
import { EXIT, exitCodeFor } from '../common/exit.js';
import { pipeSafe } from '../common/format.js';
import { count, flag, list, type OptionSpec, str, UsageError } from '../common/options.js';
import { POLICY_OPTION, policyFrom } from '../common/policy.js';
import { PROMETHEUS_OPTION, recordedRun, writePrometheus } from '../common/runs.js';
import {
  checkEventsUrl,
  drainEvents,
  type EventBusSettings,
  eventStoreOptions,
  outboxSink,
} from './events-bus.js';

export const CACHE_OPTIONS: OptionSpec[] = [
  {
    dest: 'cacheDir',
    short: 'C',
    long: ['cache-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Cache directory (env VMCATCHER_CACHE_DIR_CACHE, default "cache"); created if missing.',
  },
  {
    dest: 'partialDir',
    short: 'p',
    long: ['partial-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Download directory (env VMCATCHER_CACHE_DIR_DOWNLOAD, default <cache>/partial).',
  },
  {
    dest: 'expiredDir',
    short: 'e',
    long: ['expired-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Expired images (env VMCATCHER_CACHE_DIR_EXPIRE, default <cache>/expired).',
  },
  {
    dest: 'download',
    short: 'D',
    long: ['download'],
    kind: 'flag',
    help: 'Download new images (env VMCATCHER_CACHE_ACTION_DOWNLOAD=1); implies --expire.',
  },
  {
    dest: 'sha512',
    short: 's',
    long: ['sha512'],
    kind: 'flag',
    help: 'Re-hash cached images, expire corrupt ones (env VMCATCHER_CACHE_ACTION_CHECK=1).',
  },
  {
    dest: 'expire',
    short: 'E',
    long: ['expire'],
    kind: 'flag',
    help: 'Expire images no longer endorsed (env VMCATCHER_CACHE_ACTION_EXPIRE=1). No action: download and expire.',
  },
  {
    dest: 'execute',
    short: 'x',
    long: ['execute'],
    kind: 'value',
    metavar: 'CMD',
    help: 'Event command, run by /bin/sh -c with VMCATCHER_* variables (env VMCATCHER_CACHE_EVENT).',
  },
  {
    dest: 'eventTimeout',
    long: ['event-timeout'],
    kind: 'value',
    metavar: 'SECONDS',
    help: 'Event command timeout, then SIGTERM/SIGKILL (env VMCATCHER_CACHE_EVENT_TIMEOUT, default 10).',
  },
  {
    dest: 'retryEvents',
    long: ['retry-events'],
    kind: 'flag',
    help: 'Re-deliver recorded failed events, oldest first, then exit (SubscriptionImageNew: VMCATCHER_SUB_EVENT).',
  },
  {
    dest: 'includeDead',
    long: ['include-dead'],
    kind: 'flag',
    help: 'With --retry-events: re-deliver the dead-letter list too.',
  },
  {
    dest: 'failedEvents',
    long: ['failed-events'],
    kind: 'flag',
    help: 'List the recorded failed events: <id> <queued|dead> <attempts> <type> <recorded> <image> <error>; then exit.',
  },
  {
    dest: 'dropEvent',
    long: ['drop-event'],
    kind: 'append',
    metavar: 'ID',
    help: 'Forget a recorded failed event (queued or dead), then exit.',
  },
  {
    dest: 'eventAttempts',
    long: ['event-attempts'],
    kind: 'value',
    metavar: 'N',
    help: `Deliveries of a failed event before it moves to the dead-letter list (env VMCATCHER_CACHE_EVENT_ATTEMPTS, default ${DEFAULT_MAX_EVENT_ATTEMPTS}).`,
  },
  {
    dest: 'concurrency',
    long: ['concurrency'],
    kind: 'value',
    metavar: 'N',
    help: 'Parallel downloads (env VMCATCHER_CACHE_CONCURRENCY, default 2).',
  },
  {
    dest: 'lockWait',
    long: ['lock-wait'],
    kind: 'value',
    metavar: 'SECONDS',
    help: 'How long to wait for another run holding the cache lock, then exit 75 (env VMCATCHER_CACHE_LOCK_WAIT, default 30).',
  },
  {
    dest: 'certDir',
    long: ['cert-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: `Grid CA directory authenticating the https image servers of igtf subscriptions (env VMCATCHER_DIR_CERT, default ${DEFAULT_CERT_DIR}).`,
  },
  {
    dest: 'allowFileUris',
    long: ['allow-file-uris'],
    kind: 'flag',
    help: 'Also copy images whose hv:uri is a local file: URI (a local mirror; env VMCATCHER_CACHE_ALLOW_FILE_URIS=1). Default: http and https only.',
  },
  {
    dest: 'minRate',
    long: ['min-rate'],
    kind: 'value',
    metavar: 'BYTES_PER_S',
    help: `Lowest average download rate: an image download must end within --fetch-timeout + size/rate, else it is retried or fails (env VMCATCHER_CACHE_MIN_RATE, default ${DEFAULT_MIN_RATE_BYTES_PER_S}).`,
  },
  {
    dest: 'fetchTimeout',
    long: ['fetch-timeout'],
    kind: 'value',
    metavar: 'SECONDS',
    help: `Fixed part of each download's deadline (env VMCATCHER_CACHE_FETCH_TIMEOUT, default ${DEFAULT_FETCH_TIMEOUT_MS / 1000}).`,
  },
  {
    dest: 'expiredKeep',
    long: ['expired-keep'],
    kind: 'value',
    metavar: 'N',
    help: `Expired copies kept per image, newest first; older ones are deleted (env VMCATCHER_CACHE_EXPIRED_KEEP, default ${DEFAULT_EXPIRED_KEEP}; "all" keeps every one).`,
  },
  POLICY_OPTION,
  PROMETHEUS_OPTION,
  {
    dest: 'cacheUrl',
    long: ['cache-url'],
    kind: 'value',
    metavar: 'URL',
    help: 'Keep the cache and expired images in an S3 bucket, s3://BUCKET/PREFIX (env VMCATCHER_CACHE_URL); downloads stay in --partial-dir. Credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.',
  },
  {
    dest: 's3Endpoint',
    long: ['s3-endpoint'],
    kind: 'value',
    metavar: 'URL',
    help: 'S3 endpoint of --cache-url (env AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, default AWS).',
  },
  {
    dest: 's3Region',
    long: ['s3-region'],
    kind: 'value',
    metavar: 'REGION',
    help: 'S3 region of --cache-url (env AWS_REGION or AWS_DEFAULT_REGION, default us-east-1).',
  },
  {
    dest: 'events',
    long: ['events'],
    kind: 'value',
    metavar: 'URL',
    help: 'Also publish every event to RabbitMQ, amqp://USER:PASSWORD@HOST:PORT/VHOST (env VMCATCHER_CACHE_EVENTS_URL), through an outbox in the database: nothing is lost while the broker is down.',
  },
  {
    dest: 'eventsExchange',
    long: ['events-exchange'],
    kind: 'value',
    metavar: 'NAME',
    help: 'Durable topic exchange of --events; the routing key is the event type (default vmcatcher).',
  },
  {
    dest: 'eventsQueue',
    long: ['events-queue'],
    kind: 'value',
    metavar: 'NAME',
    help: 'Durable queue declared and bound to every event of --events, so they are kept before a consumer exists ("" for none; default vmcatcher).',
  },
  {
    dest: 'eventsWait',
    long: ['events-wait'],
    kind: 'value',
    metavar: 'SECONDS',
    help: 'How long the end of a run keeps trying to publish to a broker that is down; what is left goes at the next run (default 30).',
  },
  {
    dest: 'noProgress',
    long: ['no-progress'],
    kind: 'flag',
    help: 'No progress lines on a terminal (there are none when standard error is not one).',
  },
  {
    dest: 'worker',
    long: ['worker'],
    kind: 'flag',
    help: 'Keep running: a run, then wait for new lists (PostgreSQL LISTEN/NOTIFY from -U) or --poll, again; SIGTERM or SIGINT stops it (partial files kept, claims released), exit 0.',
  },
  {
    dest: 'poll',
    long: ['poll'],
    kind: 'value',
    metavar: 'SECONDS',
    help: 'With --worker: the longest wait between two runs (env VMCATCHER_CACHE_POLL, default 300).',
  },
  {
    dest: 'claimLease',
    long: ['claim-lease'],
    kind: 'value',
    metavar: 'SECONDS',
    help: "On PostgreSQL, where several workers share the cache: the lease of an image claim, renewed while the download runs; a dead worker's image is taken over after it (env VMCATCHER_CACHE_CLAIM_LEASE, default 60).",
  },
];

/**
 * When a run has several kinds of failure, the first of these decides the exit status (the statuses are in
 * EXIT): what needs an administrator most comes first.
 */
const FAILURE_ORDER: readonly ImageCacheErrorCode[] = [
  'ERR_CACHE_INTERNAL',
  'ERR_CACHE_NO_SPACE',
  'ERR_CACHE_OBJECT_STORE',
  'ERR_CACHE_UNSAFE_FILE',
  'ERR_CACHE_VERIFY',
  'ERR_CACHE_CORRUPT',
  'ERR_CACHE_TRUST',
  'ERR_CACHE_TLS',
  'ERR_CACHE_REDIRECT',
  'ERR_CACHE_URI_REFUSED',
  'ERR_CACHE_DEADLINE',
  'ERR_CACHE_DOWNLOAD',
  'ERR_CACHE_GAVE_UP',
  'ERR_CACHE_EVENT',
];

/** The exit status of a finished run: 0, or the status of its most important kind of failure. */
function runExitStatus(summary: CacheRunSummary): number {
  const codes = new Set<ImageCacheErrorCode>(summary.failed.map((f) => f.code));
  if (summary.eventFailures.length) codes.add('ERR_CACHE_EVENT');
  for (const code of FAILURE_ORDER) if (codes.has(code)) return EXIT[code];
  const [other] = codes;
  return other === undefined ? 0 : EXIT[other];
}

/** What each class of failure means (--help, the manual). */
const FAILURE_MEANINGS: Partial<Record<ImageCacheErrorCode, string>> = {
  ERR_CACHE_INTERNAL: 'internal error (a bug: run with -vv for the stack)',
  ERR_CACHE_NO_SPACE: 'not enough disk space, or the disk filled up',
  ERR_CACHE_UNSAFE_FILE: 'a link or other non-regular file where the cache reads or writes',
  ERR_CACHE_VERIFY: 'a downloaded image did not match its size or sha512',
  ERR_CACHE_CORRUPT: '-s found a corrupt or missing cached file (and expired it)',
  ERR_CACHE_TRUST: 'no usable trust: an igtf subscription and an empty or missing CA directory',
  ERR_CACHE_TLS: 'an https image server was not authenticated',
  ERR_CACHE_REDIRECT: 'a redirect was refused (https to http)',
  ERR_CACHE_URI_REFUSED: 'an image URI was refused (file: without --allow-file-uris, another scheme)',
  ERR_CACHE_DEADLINE: 'a download ran past its deadline (--min-rate, --fetch-timeout)',
  ERR_CACHE_DOWNLOAD: 'a download failed after its retries (network, HTTP status)',
  ERR_CACHE_GAVE_UP: 'an image failed 5 times for the same list: left until a new list',
  ERR_CACHE_EVENT: 'the event command failed for an event (recorded for --retry-events)',
};

const CACHE_EXIT_STATUSES: readonly (readonly [number, string])[] = [
  [0, 'success (also: foreign files found and left alone, a hook vetoed a step)'],
  [1, 'the run could not start or went wrong as a whole: directories, cache.index, the store'],
  [2, 'usage error'],
  ...[...FAILURE_ORDER]
    .filter((c) => c !== 'ERR_CACHE_INTERNAL')
    .sort((a, b) => EXIT[a] - EXIT[b])
    .map((c) => [EXIT[c], `${c}: ${FAILURE_MEANINGS[c]}`] as const),
  [EXIT.ERR_STORE_LOCKED, 'another run holds the lock longer than --lock-wait (ERR_STORE_LOCKED)'],
  [EXIT.ERR_CACHE_INTERNAL, 'internal error (a bug: run with -vv for the stack)'],
];

/** The storage of `--cache-url s3://BUCKET/PREFIX`: the bucket for the cache and expired areas, `partial` local. */
async function cacheStorage(
  url: string,
  partial: string,
  o: { endpoint: string | undefined; region: string | undefined; env: NodeJS.ProcessEnv; log: Logger },
): Promise<{ storage: CacheStorage; close: () => void }> {
  if (!url.startsWith('s3://')) throw new UsageError(`--cache-url takes an s3://BUCKET/PREFIX URL: ${url}`);
  // Loaded here: the AWS SDK is a quarter of a second of CPU and 25 MiB for every run that has no bucket.
  const [{ createObjectStore, ObjectStoreError }, { createS3Storage }] = await Promise.all([
    import('@hepix/object-store'),
    import('@hepix/image-cache'),
  ]);
  let objects: ObjectStore;
  try {
    objects = createObjectStore({
      url,
      env: o.env,
      log: o.log,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(o.region ? { region: o.region } : {}),
    });
  } catch (err) {
    // A malformed URL, endpoint or CA bundle: the command line's to fix.
    if (err instanceof ObjectStoreError) throw new UsageError(err.message);
    throw err;
  }
  return { storage: createS3Storage({ objects, partial }), close: () => objects.close() };
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

function positiveNumber(text: string | undefined, fallback: number, what: string, integer: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${what} must be a positive ${integer ? 'integer' : 'number'}: ${text}`);
  }
  return n;
}

function keepCount(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EXPIRED_KEEP;
  if (text.trim().toLowerCase() === 'all') return Number.POSITIVE_INFINITY;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--expired-keep must be a whole number of copies or "all": ${text}`);
  return n;
}

function failedEventLine(f: FailedEvent): string {
  const metadata = (f.payload.metadata ?? {}) as Record<string, unknown>;
  const image = metadata['dc:identifier'] ?? '';
  return [
    f.id,
    f.dead ? 'dead' : 'queued',
    f.attempts,
    escapeControl(f.type),
    f.recorded.toISOString(),
    escapeControl(String(image)),
    escapeControl(f.error),
  ].join('\t');
}

async function cacheMain(ctx: CommonContext): Promise<number> {
  const { options: o, env, io } = ctx;
  if (ctx.positionals.length) throw new UsageError(`unexpected argument ${ctx.positionals[0]}`);
  const cache = str(o, 'cacheDir') ?? env.VMCATCHER_CACHE_DIR_CACHE ?? 'cache';
  const partial = str(o, 'partialDir') ?? env.VMCATCHER_CACHE_DIR_DOWNLOAD;
  const expired = str(o, 'expiredDir') ?? env.VMCATCHER_CACHE_DIR_EXPIRE;
  const command = str(o, 'execute') ?? env.VMCATCHER_CACHE_EVENT;
  const timeoutSec = positiveNumber(
    str(o, 'eventTimeout') ?? env.VMCATCHER_CACHE_EVENT_TIMEOUT,
    10,
    '--event-timeout',
    false,
  );
  const concurrency = positiveNumber(
    str(o, 'concurrency') ?? env.VMCATCHER_CACHE_CONCURRENCY,
    2,
    '--concurrency',
    true,
  );
  const minRate = positiveNumber(
    str(o, 'minRate') ?? env.VMCATCHER_CACHE_MIN_RATE,
    DEFAULT_MIN_RATE_BYTES_PER_S,
    '--min-rate',
    false,
  );
  const fetchTimeoutSec = positiveNumber(
    str(o, 'fetchTimeout') ?? env.VMCATCHER_CACHE_FETCH_TIMEOUT,
    DEFAULT_FETCH_TIMEOUT_MS / 1000,
    '--fetch-timeout',
    false,
  );
  const eventAttempts = positiveNumber(
    str(o, 'eventAttempts') ?? env.VMCATCHER_CACHE_EVENT_ATTEMPTS,
    DEFAULT_MAX_EVENT_ATTEMPTS,
    '--event-attempts',
    true,
  );
  const lockWaitSec = positiveNumber(
    str(o, 'lockWait') ?? env.VMCATCHER_CACHE_LOCK_WAIT,
    30,
    '--lock-wait',
    false,
  );
  const expiredKeep = keepCount(str(o, 'expiredKeep') ?? env.VMCATCHER_CACHE_EXPIRED_KEEP);
  const worker = flag(o, 'worker');
  const pollMs = positiveNumber(str(o, 'poll') ?? env.VMCATCHER_CACHE_POLL, 300, '--poll', false) * 1000;
  const claimLeaseMs =
    positiveNumber(
      str(o, 'claimLease') ?? env.VMCATCHER_CACHE_CLAIM_LEASE,
      DEFAULT_CLAIM_LEASE_MS / 1000,
      '--claim-lease',
      false,
    ) * 1000;
  if (claimLeaseMs < 1000) throw new UsageError('--claim-lease must be at least 1 second');
  const drop = list(o, 'dropEvent').map((id) => {
    const n = Number(id);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--drop-event takes an event id: ${id}`);
    return n;
  });
  if (flag(o, 'includeDead') && !flag(o, 'retryEvents'))
    throw new UsageError('--include-dead goes with --retry-events');
  const actions = {
    download: flag(o, 'download') || truthy(env.VMCATCHER_CACHE_ACTION_DOWNLOAD),
    check: flag(o, 'sha512') || truthy(env.VMCATCHER_CACHE_ACTION_CHECK),
    expire: flag(o, 'expire') || truthy(env.VMCATCHER_CACHE_ACTION_EXPIRE),
  };
  const json = ctx.format === 'json';
  // A cache run judges every image by the site policy; read before the store is opened, so that a policy
  // that cannot be used changes nothing. The event-queue actions do not need it.
  const eventsOnly = flag(o, 'failedEvents') || drop.length > 0 || flag(o, 'retryEvents');
  const policy = eventsOnly ? undefined : await policyFrom(ctx);

  // Progress on a terminal only (one line per active download, a summary at the end); a log line is written
  // above the progress lines.
  const tty =
    Boolean(process.stderr.isTTY) &&
    !json &&
    !flag(o, 'noProgress') &&
    ctx.log.threshold <= 30 &&
    count(o, 'quiet') === 0;
  const bar = tty
    ? createProgressRenderer({
        write: (t) => io.stderr(t),
        columns: () => process.stderr.columns,
        verb: 'downloaded',
      })
    : undefined;
  // Progress events are delivered asynchronously: one may arrive after its transfer ended.
  const ended = new Set<string>();
  const finish = (id: string, ok: boolean) => {
    ended.add(id);
    bar?.finish(id, ok);
  };
  const log: Logger = (level, message, fields) => {
    const line = () => ctx.log(level, message, { name: 'cache', ...fields });
    if (bar && ctx.log.threshold <= LEVEL_NUMBERS[level]) bar.interrupt(line);
    else line();
    if (bar && level === 'error' && fields?.image) finish(fields.image, false);
  };
  const hooks: CacheHooks = {
    progress: (p: ProgressHookEvent) => {
      if (!ended.has(p.identifier))
        bar?.update(p.identifier, p.bytes, p.total, escapeControl(p.identifier), p.resumedFrom);
    },
    'image:available:after': (e) => finish(e.identifier, true),
    'image:verify:failed': (e) => finish(e.identifier, false),
  };

  const cacheUrl = str(o, 'cacheUrl') ?? env.VMCATCHER_CACHE_URL;
  const s3 = cacheUrl
    ? await cacheStorage(cacheUrl, partial ?? join(cache, 'partial'), {
        endpoint: str(o, 's3Endpoint'),
        region: str(o, 's3Region'),
        env,
        log,
      })
    : undefined;

  const eventsUrl = str(o, 'events') ?? env.VMCATCHER_CACHE_EVENTS_URL;
  if (eventsUrl) checkEventsUrl(eventsUrl);
  const bus: EventBusSettings | undefined = eventsUrl
    ? {
        url: eventsUrl,
        exchange: str(o, 'eventsExchange') ?? 'vmcatcher',
        queue: str(o, 'eventsQueue') ?? 'vmcatcher',
        waitMs: positiveNumber(str(o, 'eventsWait'), 30, '--events-wait', false) * 1000,
      }
    : undefined;

  return withStore(
    ctx,
    async (store) => {
      const imageCache = createImageCache({
        store,
        ...(bus ? { eventSink: outboxSink(store) } : {}),
        dirs: { cache, ...(partial ? { partial } : {}), ...(expired ? { expired } : {}) },
        ...(s3 ? { storage: s3.storage } : {}),
        concurrency,
        log,
        ...(command ? { eventCommand: command } : {}),
        ...(env.VMCATCHER_SUB_EVENT ? { newImageEventCommand: env.VMCATCHER_SUB_EVENT } : {}),
        eventTimeoutMs: timeoutSec * 1000,
        eventEnv: env,
        certDir: str(o, 'certDir') ?? env.VMCATCHER_DIR_CERT ?? DEFAULT_CERT_DIR,
        allowFileUris: flag(o, 'allowFileUris') || truthy(env.VMCATCHER_CACHE_ALLOW_FILE_URIS),
        download: { minRate, fetchTimeoutMs: fetchTimeoutSec * 1000 },
        expiredKeep,
        maxEventAttempts: eventAttempts,
        lockWaitMs: lockWaitSec * 1000,
        workers: store.dialect === 'postgres' && { leaseMs: claimLeaseMs },
        ...(policy ? { policy } : {}),
        ...(bar ? { hooks } : {}),
      });
      if (flag(o, 'failedEvents')) {
        const all = await imageCache.failedEvents();
        if (json) io.stdout(`${JSON.stringify(all, null, 2)}\n`);
        else for (const f of all) io.stdout(`${failedEventLine(f)}\n`);
        return 0;
      }
      if (drop.length) {
        for (const id of drop) {
          await imageCache.dropEvent(id);
          ctx.log('info', `dropped the failed event ${id}`, { name: 'cache' });
        }
        return 0;
      }
      if (flag(o, 'retryEvents')) {
        if (!command && !env.VMCATCHER_SUB_EVENT) {
          throw new UsageError(
            '--retry-events needs an event command: -x, VMCATCHER_CACHE_EVENT or VMCATCHER_SUB_EVENT',
          );
        }
        const r = await imageCache.retryEvents({ includeDead: flag(o, 'includeDead') });
        if (json) io.stdout(`${JSON.stringify(r)}\n`);
        else
          ctx.log(
            'info',
            `re-delivered ${r.delivered} events; ${r.remaining} still queued, ${r.movedToDead} moved to the dead-letter list (${r.dead} there)`,
            { name: 'cache' },
          );
        return r.remaining === 0 && r.movedToDead === 0 ? 0 : EXIT.ERR_CACHE_EVENT;
      }
      // Recorded in the run history (a run-level failure too); the metrics file follows the run's end.
      const once = async (signal?: AbortSignal): Promise<{ status: number; summary?: CacheRunSummary }> => {
        let status: number;
        let last: CacheRunSummary | undefined;
        try {
          status = await recordedRun(store, 'cache', async (recorder) => {
            let summary: CacheRunSummary;
            try {
              summary = await imageCache.run(actions, { recorder, ...(signal ? { signal } : {}) });
            } finally {
              bar?.end();
            }
            last = summary;
            for (const f of summary.failed)
              ctx.hint(f.code, {
                image: f.identifier,
                ...(f.subscription ? { subscription: f.subscription } : {}),
              });
            if (bus) await drainEvents(store, bus, log);
            if (json) io.stdout(`${JSON.stringify(summary, null, worker ? undefined : 2)}\n`);
            const exit = runExitStatus(summary);
            return { status: exit, outcome: exit === 0 ? 'success' : 'partial' };
          });
        } catch (err) {
          await writePrometheus(ctx, store, 1, imageCache.dirs.cache);
          throw err;
        }
        return { status: await writePrometheus(ctx, store, status, imageCache.dirs.cache), summary: last };
      };
      if (!worker) return (await once()).status;
      return workLoop(ctx, store, once, { pollMs, claimLeaseMs, log });
    },
    bus ? eventStoreOptions : {},
  ).finally(() => s3?.close());
}

/**
 * `--worker`: runs until SIGTERM or SIGINT, which abort the run in progress (its downloads keep their partial
 * files, its claims are released) and end the loop with status 0. Between runs it waits for a notification on
 * WORK_CHANNEL or for `pollMs`; when images were left to other workers, at most one claim lease, so that the
 * work of a worker that died is taken over. A run that fails as a whole is logged and tried again at the next
 * wake-up: a service outlives a database or bucket that is down for a while.
 */
async function workLoop(
  ctx: CommonContext,
  store: Store,
  once: (signal: AbortSignal) => Promise<{ status: number; summary?: CacheRunSummary }>,
  o: { pollMs: number; claimLeaseMs: number; log: Logger },
): Promise<number> {
  const stop = new AbortController();
  const onSignal = (name: string) => () => {
    if (stop.signal.aborted) return;
    o.log('info', `${name}: stopping after the run in progress (partial files are kept)`);
    stop.abort();
  };
  const onTerm = onSignal('SIGTERM');
  const onInt = onSignal('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  let woken = false;
  let wake: () => void = () => {
    woken = true;
  };
  const unlisten = await store
    .listen(WORK_CHANNEL, () => wake())
    .catch((err: unknown) => {
      o.log('warn', `cannot listen for new lists (${messageOf(err)}); polling every ${o.pollMs / 1000} s`);
      return async () => {};
    });
  try {
    o.log(
      'info',
      `worker started (pid ${process.pid}); ${store.dialect === 'postgres' ? 'woken by new lists, ' : ''}polling every ${o.pollMs / 1000} s`,
    );
    while (!stop.signal.aborted) {
      woken = false;
      let wait = o.pollMs;
      try {
        const r = await once(stop.signal);
        if (r.summary?.claimedElsewhere?.length) wait = Math.min(wait, o.claimLeaseMs + 1000);
      } catch (err) {
        if (stop.signal.aborted) break;
        const e = exitCodeFor(err);
        o.log('error', `the run failed (${e.code}): ${e.message}; trying again in ${wait / 1000} s`, {
          code: e.code,
        });
        ctx.hint(err);
      }
      if (stop.signal.aborted || woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => done(), wait);
        const done = () => {
          clearTimeout(timer);
          stop.signal.removeEventListener('abort', done);
          wake = () => {
            woken = true;
          };
          resolve();
        };
        wake = done;
        stop.signal.addEventListener('abort', done);
      });
    }
    o.log('info', 'worker stopped');
    return 0;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    await unlisten();
  }
}

export const CACHE_TOOL: ToolDefinition = {
  name: 'vmcatcher_cache',
  usage: 'vmcatcher_cache [options]',
  description:
    'Downloads the subscribed images, verifies them against the signed lists, moves them into the cache, ' +
    'expires what is no longer endorsed and runs the event command for every change. When several kinds of ' +
    'failure occur, the exit status is that of the first in this order: ' +
    `${FAILURE_ORDER.map((c) => EXIT[c]).join(', ')}.`,
  options: CACHE_OPTIONS,
  // One output format (--json): the list formats of the other tools mean nothing here.
  withoutCommon: ['format'],
  examples: [
    {
      command:
        'vmcatcher_cache -C /var/cache/vmcatcher/endorsed -x "vmcatcher_eventHndlExpl --output_file=/var/log/vmcatcher/events.jsonl"',
      text: 'download, verify and expire, running the example event handler for every change',
    },
    { command: 'vmcatcher_cache -s', text: 're-hash the cached images, expiring corrupt ones' },
    { command: 'vmcatcher_cache --failed-events', text: 'list the events whose command failed' },
    { command: 'vmcatcher_cache --retry-events', text: 'deliver them again' },
    {
      command: 'vmcatcher_cache --worker --cache-url s3://images/site-a  # with a postgresql:// store',
      text: 'one of several workers sharing the downloads (see "Running at scale" in the README)',
    },
  ],
  exitStatus: CACHE_EXIT_STATUSES,
};

/** `vmcatcher_cache` and `vmcatcher cache`: returns the exit code. */
export function runCacheCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo = processIo,
): Promise<number> {
  return runTool(CACHE_TOOL, argv, env, pipeSafe(io), cacheMain);
}
