// vmcatcher_cache (and `vmcatcher cache`): options and environment of reference §3.4 on the shared CLI context
// (-d/-v/-q/--log-config/--json, one error-to-exit-code mapping); the work is @hepix/image-cache's.
import { LEVEL_NUMBERS, type Logger } from '@hepix/common';
import { type CacheRunSummary, createImageCache, type ProgressHookEvent } from '@hepix/image-cache';
import { type CliIo, type CommonContext, processIo, runTool, withStore } from '../common/context.js';
import { count, flag, type OptionSpec, str, UsageError } from '../common/options.js';

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
    dest: 'concurrency',
    long: ['concurrency'],
    kind: 'value',
    metavar: 'N',
    help: 'Parallel downloads (env VMCATCHER_CACHE_CONCURRENCY, default 2).',
  },
];

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
  const actions = {
    download: flag(o, 'download') || truthy(env.VMCATCHER_CACHE_ACTION_DOWNLOAD),
    check: flag(o, 'sha512') || truthy(env.VMCATCHER_CACHE_ACTION_CHECK),
    expire: flag(o, 'expire') || truthy(env.VMCATCHER_CACHE_ACTION_EXPIRE),
  };
  const json = ctx.format === 'json';

  // Progress on a terminal only; a log line first clears the progress line.
  const tty = Boolean(process.stderr.isTTY) && !json && ctx.log.threshold <= 30 && count(o, 'quiet') === 0;
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) io.stderr('\r\x1b[K');
    progressShown = false;
  };
  const log: Logger = (level, message, fields) => {
    if (progressShown && ctx.log.threshold <= LEVEL_NUMBERS[level]) clearProgress();
    ctx.log(level, message, { name: 'cache', ...fields });
  };
  const progress = (p: ProgressHookEvent) => {
    const pct = p.total ? Math.floor((p.bytes / p.total) * 100) : 100;
    io.stderr(
      `\r\x1b[K${p.identifier}: ${pct}% (${Math.round(p.bytes / 1048576)} of ${Math.round(p.total / 1048576)} MiB)`,
    );
    progressShown = true;
  };

  return withStore(ctx, async (store) => {
    const imageCache = createImageCache({
      store,
      dirs: { cache, ...(partial ? { partial } : {}), ...(expired ? { expired } : {}) },
      concurrency,
      log,
      ...(command ? { eventCommand: command } : {}),
      ...(env.VMCATCHER_SUB_EVENT ? { newImageEventCommand: env.VMCATCHER_SUB_EVENT } : {}),
      eventTimeoutMs: timeoutSec * 1000,
      eventEnv: env,
      ...(tty ? { hooks: { progress } } : {}),
    });
    if (flag(o, 'retryEvents')) {
      if (!command && !env.VMCATCHER_SUB_EVENT) {
        throw new UsageError(
          '--retry-events needs an event command: -x, VMCATCHER_CACHE_EVENT or VMCATCHER_SUB_EVENT',
        );
      }
      const r = await imageCache.retryEvents();
      if (json) io.stdout(`${JSON.stringify(r)}\n`);
      else
        ctx.log('info', `re-delivered ${r.delivered} events, ${r.remaining} still failed`, { name: 'cache' });
      return r.remaining === 0 ? 0 : 1;
    }
    let summary: CacheRunSummary;
    try {
      summary = await imageCache.run(actions);
    } finally {
      if (progressShown) io.stderr('\n');
      progressShown = false;
    }
    if (json) io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
    return summary.failed.length ? 1 : 0;
  });
}

/** `vmcatcher_cache` and `vmcatcher cache`: returns the exit code. */
export function runCacheCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo = processIo,
): Promise<number> {
  return runTool(
    {
      name: 'vmcatcher_cache',
      usage: 'vmcatcher_cache [options]',
      description:
        'Downloads the subscribed images, verifies them against the signed lists, moves them into the cache, ' +
        'expires what is no longer endorsed and runs the event command for every change.',
      options: CACHE_OPTIONS,
    },
    argv,
    env,
    io,
    cacheMain,
  );
}
