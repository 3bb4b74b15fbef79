import { existsSync } from 'node:fs';
import {
  type CacheRunSummary,
  createImageCache,
  type EventLogLevel,
  ImageCacheError,
  type ProgressHookEvent,
} from '@hepix/image-cache';
import { openStore } from '@hepix/imagelist-store';
import { parseArgs, UsageError } from './args.js';

const HELP = `Usage: vmcatcher_cache [options]

Downloads the subscribed images, verifies them against the signed lists, moves them into the cache, expires
what is no longer endorsed and runs the event command for each change.

  -C, --cache-dir DIR      cache directory (VMCATCHER_CACHE_DIR_CACHE, default "cache")
  -p, --partial-dir DIR    download directory (VMCATCHER_CACHE_DIR_DOWNLOAD, default <cache>/partial)
  -e, --expired-dir DIR    expired images (VMCATCHER_CACHE_DIR_EXPIRE, default <cache>/expired)
  -D, --download           download new images (VMCATCHER_CACHE_ACTION_DOWNLOAD=1); implies --expire
  -s, --sha512             re-hash cached images, expire corrupt ones (VMCATCHER_CACHE_ACTION_CHECK=1)
  -E, --expire             expire images no longer endorsed (VMCATCHER_CACHE_ACTION_EXPIRE=1)
                           (no action given: --download and --expire)
  -x, --execute CMD        event command, run by /bin/sh -c (VMCATCHER_CACHE_EVENT)
      --event-timeout SEC  event command timeout in seconds (VMCATCHER_CACHE_EVENT_TIMEOUT, default 10)
      --retry-events       re-deliver the recorded failed events, oldest first, then exit
                           (SubscriptionImageNew events go to VMCATCHER_SUB_EVENT)
      --concurrency N      parallel downloads (VMCATCHER_CACHE_CONCURRENCY, default 2)
  -d, --database URL       database (VMCATCHER_RDBMS, default sqlite:///vmcatcher.db)
      --json               print the run summary as JSON on standard output
  -v, --verbose            more messages (-vv for debug)
  -q, --quiet              fewer messages
      --log-config FILE    logging configuration (VMCATCHER_LOG_CONF); must exist
      --log-sql-info       accepted for compatibility
  -h, --help               this help
      --version            print the version

Exit status: 0 success, 1 an image or the run failed, 2 usage error, 3 another run holds the lock.
`;

const LEVELS: EventLogLevel[] = ['debug', 'info', 'warn', 'error'];

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/** Where the command writes (the dispatcher passes its own). */
export interface CacheCommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CacheCommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** `vmcatcher_cache` and `vmcatcher cache`: returns the exit code. */
export async function runCacheCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CacheCommandIo = processIo,
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv, [
      { short: 'C', long: 'cache-dir', value: true },
      { short: 'p', long: 'partial-dir', value: true },
      { short: 'e', long: 'expired-dir', value: true },
      { short: 'D', long: 'download' },
      { short: 's', long: 'sha512' },
      { short: 'E', long: 'expire' },
      { short: 'x', long: 'execute', value: true },
      { long: 'event-timeout', value: true },
      { long: 'retry-events' },
      { long: 'concurrency', value: true },
      { short: 'd', long: 'database', value: true },
      { long: 'json' },
      { short: 'v', long: 'verbose', count: true },
      { short: 'q', long: 'quiet', count: true },
      { long: 'log-config', value: true },
      { long: 'log-sql-info' },
      { short: 'h', long: 'help' },
      { long: 'version' },
    ]);
    if (parsed.rest.length) throw new UsageError(`unexpected argument ${parsed.rest[0]}`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`vmcatcher_cache: ${err.message}\nTry --help.\n`);
      return 2;
    }
    throw err;
  }
  const { values, flags } = parsed;
  if (flags.help) {
    io.stdout(HELP);
    return 0;
  }
  if (flags.version) {
    io.stdout('vmcatcher_cache (hepix-vmtools)\n');
    return 0;
  }

  // WARNING by default; -v INFO, -vv DEBUG; -q ERROR (reference §3).
  const level = Math.min(3, Math.max(0, 2 - (flags.verbose ?? 0) + (flags.quiet ?? 0)));
  const progressLine = { active: false };
  const log = (lvl: EventLogLevel, message: string) => {
    if (LEVELS.indexOf(lvl) < level) return;
    if (progressLine.active) {
      io.stderr('\r\x1b[K');
      progressLine.active = false;
    }
    io.stderr(`${lvl.toUpperCase()}: ${message}\n`);
  };

  const logConfig = values['log-config'] ?? env.VMCATCHER_LOG_CONF;
  if (logConfig && !existsSync(logConfig)) {
    log('error', `logging configuration ${logConfig} does not exist`);
    return 1;
  }

  const database = values.database ?? env.VMCATCHER_RDBMS ?? 'sqlite:///vmcatcher.db';
  if (!values.database && !env.VMCATCHER_RDBMS) log('info', `Defaulting DB connection to '${database}'`);
  const cache = values['cache-dir'] ?? env.VMCATCHER_CACHE_DIR_CACHE ?? 'cache';
  const partial = values['partial-dir'] ?? env.VMCATCHER_CACHE_DIR_DOWNLOAD;
  const expired = values['expired-dir'] ?? env.VMCATCHER_CACHE_DIR_EXPIRE;
  const command = values.execute ?? env.VMCATCHER_CACHE_EVENT;
  const timeoutText = values['event-timeout'] ?? env.VMCATCHER_CACHE_EVENT_TIMEOUT;
  const timeoutSec = timeoutText === undefined ? 10 : Number(timeoutText);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
    io.stderr(`vmcatcher_cache: --event-timeout must be a positive number of seconds\n`);
    return 2;
  }
  const concurrencyText = values.concurrency ?? env.VMCATCHER_CACHE_CONCURRENCY;
  const concurrency = concurrencyText === undefined ? 2 : Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    io.stderr(`vmcatcher_cache: --concurrency must be a positive integer\n`);
    return 2;
  }
  const actions = {
    download: Boolean(flags.download) || truthy(env.VMCATCHER_CACHE_ACTION_DOWNLOAD),
    check: Boolean(flags.sha512) || truthy(env.VMCATCHER_CACHE_ACTION_CHECK),
    expire: Boolean(flags.expire) || truthy(env.VMCATCHER_CACHE_ACTION_EXPIRE),
  };

  const tty = Boolean(process.stderr.isTTY) && !flags.json && level <= 2;
  const progress = (p: ProgressHookEvent) => {
    const pct = p.total ? Math.floor((p.bytes / p.total) * 100) : 100;
    io.stderr(
      `\r\x1b[K${p.identifier}: ${pct}% (${Math.round(p.bytes / 1048576)} of ${Math.round(p.total / 1048576)} MiB)`,
    );
    progressLine.active = true;
  };

  let store: Awaited<ReturnType<typeof openStore>> | undefined;
  try {
    store = await openStore(database, { log: (lvl, msg) => log(lvl, msg) });
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
    if (flags['retry-events']) {
      if (!command && !env.VMCATCHER_SUB_EVENT) {
        log('error', 'no event command: give -x, VMCATCHER_CACHE_EVENT or VMCATCHER_SUB_EVENT');
        return 2;
      }
      const r = await imageCache.retryEvents();
      if (flags.json) io.stdout(`${JSON.stringify(r)}\n`);
      else log('info', `re-delivered ${r.delivered} events, ${r.remaining} still failed`);
      return r.remaining === 0 ? 0 : 1;
    }
    const summary: CacheRunSummary = await imageCache.run(actions);
    if (progressLine.active) io.stderr('\n');
    if (flags.json) io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
    return summary.failed.length ? 1 : 0;
  } catch (err) {
    if (progressLine.active) io.stderr('\n');
    const code = (err as { code?: string }).code;
    log('error', (err as Error).message);
    if (code === 'ERR_STORE_LOCKED') return 3;
    if (!(err instanceof ImageCacheError) && !code) throw err;
    return 1;
  } finally {
    await store?.close();
  }
}
