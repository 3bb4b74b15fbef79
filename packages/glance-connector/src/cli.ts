// vmcatcher-glance: the event command (`vmcatcher_cache -x vmcatcher-glance`) and `vmcatcher-glance sync`.
// Arguments, configuration, output and the one exit table; the work is the connector's.
import { parseArgs } from 'node:util';
import {
  formatJsonRecord,
  formatPythonRecord,
  LEVEL_NUMBERS,
  type Logger,
  type LogLevel,
  messageOf,
} from '@hepix/common';
import type { VmcatcherEvent } from '@hepix/image-cache';
import { openStore, type Store } from '@hepix/imagelist-store';
import { resolveCloud } from './cloud.js';
import { type ConnectorConfig, loadConnectorConfig } from './config.js';
import { createGlanceConnector, type SyncReport } from './connector.js';
import { GlanceConnectorError, type GlanceErrorCode } from './errors.js';
import { DEFAULT_MAPPING } from './mapping.js';
import { describeAction } from './plan.js';

/** Every code the command can end with, and its exit status. */
const EXIT = {
  OK: 0,
  ERR_GLANCE_INTERNAL: 1,
  USAGE: 2,
  ERR_GLANCE_CONFIG: 3,
  ERR_GLANCE_EVENT: 4,
  ERR_GLANCE_AUTH: 5,
  ERR_GLANCE_CONNECT: 6,
  ERR_GLANCE_HTTP: 7,
  ERR_GLANCE_IMAGE_MISSING: 8,
  ERR_GLANCE_STORE: 9,
  ERR_GLANCE_OBJECT_STORE: 10,
  ERR_GLANCE_BACKING_FILE: 20,
  ERR_GLANCE_DATA_FILE: 21,
  ERR_GLANCE_VMDK_EXTENTS: 22,
  ERR_GLANCE_VIRTUAL_SIZE: 23,
  ERR_GLANCE_FORMAT_MISMATCH: 24,
  ERR_GLANCE_FORMAT_UNSUPPORTED: 25,
  ERR_GLANCE_COMPRESSION_UNSUPPORTED: 26,
  ERR_GLANCE_DECOMPRESSION: 27,
  ERR_GLANCE_TOO_LARGE: 28,
  ERR_GLANCE_OVA_DISKS: 29,
  ERR_GLANCE_OVA_INVALID: 30,
  ERR_GLANCE_PROBE: 31,
  ERR_GLANCE_CONVERSION: 32,
  ERR_GLANCE_SANDBOX: 33,
  ERR_GLANCE_HASH_MISMATCH: 34,
  ERR_GLANCE_UPLOAD: 35,
  ERR_GLANCE_CACHE_INTEGRITY: 36,
} as const satisfies Record<GlanceErrorCode | 'OK' | 'USAGE', number>;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The event JSON on standard input ('' when there is none). */
  readStdin(): Promise<string>;
}

const USAGE = `usage: vmcatcher-glance [options]            handle the vmcatcher_cache event in VMCATCHER_* and on stdin
       vmcatcher-glance sync [--dry-run] [options]  reconcile Glance with the cache and the store

options:
  -c, --config FILE     connector configuration (env VMCATCHER_GLANCE_CONFIG)
  -d, --database URL    vmcatcher store (env VMCATCHER_RDBMS)
  -C, --cache-dir DIR   vmcatcher cache directory (env VMCATCHER_CACHE_DIR_CACHE)
      --dry-run         sync: print the plan, change nothing
      --json            print the report as JSON
  -v, --verbose         more log lines (-vv: debug)   -q, --quiet  errors only
      --log-format F    text (default) or json
  -h, --help            --version
Glance and Keystone come from clouds.yaml (cloud in the configuration, or OS_CLOUD) or the OS_* variables.
`;

class UsageError extends Error {}

// Reference §3.5: the event variables and the metadata keys they come from.
const EVENT_ENV: [string, string][] = [
  ['VMCATCHER_EVENT_DC_IDENTIFIER', 'dc:identifier'],
  ['VMCATCHER_EVENT_DC_TITLE', 'dc:title'],
  ['VMCATCHER_EVENT_DC_DESCRIPTION', 'dc:description'],
  ['VMCATCHER_EVENT_HV_URI', 'hv:uri'],
  ['VMCATCHER_EVENT_HV_SIZE', 'hv:size'],
  ['VMCATCHER_EVENT_HV_HYPERVISOR', 'hv:hypervisor'],
  ['VMCATCHER_EVENT_HV_VERSION', 'hv:version'],
  ['VMCATCHER_EVENT_HV_FORMAT', 'hv:image.hv:format'],
  ['VMCATCHER_EVENT_SL_ARCH', 'sl:arch'],
  ['VMCATCHER_EVENT_SL_CHECKSUM_SHA512', 'sl:checksum:sha512'],
  ['VMCATCHER_EVENT_SL_COMMENTS', 'sl:comments'],
  ['VMCATCHER_EVENT_SL_OS', 'sl:os'],
  ['VMCATCHER_EVENT_SL_OSVERSION', 'sl:osversion'],
  ['VMCATCHER_EVENT_FILENAME', 'filename'],
  ['VMCATCHER_EVENT_IL_DC_IDENTIFIER', 'hv:imagelist.dc:identifier'],
  ['VMCATCHER_EVENT_AD_MPURI', 'hv:image.ad:mpuri'],
  ['VMCATCHER_EVENT_VO', 'hv:imagelist.ad:vo'],
  ['VMCATCHER_EVENT_CACHE_URL', 'vmcatcher:cache.url'],
];

/**
 * The event: the JSON on standard input (this project's vmcatcher_cache), or else the VMCATCHER_* variables
 * alone (the original Python vmcatcher).
 */
export function readEvent(stdin: string, env: NodeJS.ProcessEnv): VmcatcherEvent {
  const type = env.VMCATCHER_EVENT_TYPE;
  const line = stdin.trim().split('\n')[0] ?? '';
  if (line !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (cause) {
      throw new GlanceConnectorError('ERR_GLANCE_EVENT', 'standard input is not the event JSON', { cause });
    }
    const e = parsed as Partial<VmcatcherEvent> | null;
    if (!e || typeof e !== 'object' || typeof e.type !== 'string')
      throw new GlanceConnectorError('ERR_GLANCE_EVENT', 'the event JSON has no type');
    if (type && type !== e.type)
      throw new GlanceConnectorError(
        'ERR_GLANCE_EVENT',
        `VMCATCHER_EVENT_TYPE is ${type}, the JSON says ${e.type}`,
      );
    return e as VmcatcherEvent;
  }
  if (!type)
    throw new GlanceConnectorError(
      'ERR_GLANCE_EVENT',
      'no event: VMCATCHER_EVENT_TYPE is not set and standard input is empty (run it as vmcatcher_cache -x, or use sync)',
    );
  const metadata: Record<string, unknown> = {};
  for (const [name, key] of EVENT_ENV) if (env[name]) metadata[key] = env[name];
  const dirs: VmcatcherEvent['dirs'] = {};
  if (env.VMCATCHER_CACHE_DIR_CACHE) dirs.cache = env.VMCATCHER_CACHE_DIR_CACHE;
  if (env.VMCATCHER_CACHE_DIR_DOWNLOAD) dirs.partial = env.VMCATCHER_CACHE_DIR_DOWNLOAD;
  if (env.VMCATCHER_CACHE_DIR_EXPIRE) dirs.expired = env.VMCATCHER_CACHE_DIR_EXPIRE;
  return {
    type: type as VmcatcherEvent['type'],
    session: env.VMCATCHER_EVENT_UUID_SESSION ?? '',
    metadata,
    dirs,
    ...(env.VMCATCHER_RDBMS ? { database: env.VMCATCHER_RDBMS } : {}),
  };
}

function printReport(io: CliIo, report: SyncReport, json: boolean): void {
  if (json) {
    io.stdout(
      `${JSON.stringify({
        dryRun: report.dryRun,
        actions: report.actions.map(describeAction),
        results: report.results.map((r) => ({
          action: describeAction(r.action),
          ok: r.ok,
          ...(r.glanceId ? { glanceId: r.glanceId } : {}),
          ...(r.error ? { error: r.error } : {}),
          ...(r.prepared ? { prepared: r.prepared } : {}),
        })),
        unmapped: report.unmapped,
      })}\n`,
    );
    return;
  }
  const done = new Set(report.results.map((r) => r.action));
  for (const a of report.actions) {
    const r = report.results.find((x) => x.action === a);
    const state = report.dryRun
      ? 'plan'
      : !done.has(a)
        ? 'skipped'
        : r?.ok
          ? 'done'
          : `FAILED ${r?.error?.code}`;
    io.stdout(`${state}\t${describeAction(a)}${r?.glanceId ? ` → ${r.glanceId}` : ''}\n`);
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        database: { type: 'string', short: 'd' },
        'cache-dir': { type: 'string', short: 'C' },
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v', multiple: true },
        quiet: { type: 'boolean', short: 'q', multiple: true },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  }
  try {
    ({ values, positionals } = parse());
    if (positionals.length > 1 || (positionals[0] && positionals[0] !== 'sync'))
      throw new UsageError(`unknown command ${positionals.join(' ')}`);
    if (values['dry-run'] && positionals[0] !== 'sync')
      throw new UsageError('--dry-run is an option of sync');
    if (values['log-format'] && values['log-format'] !== 'text' && values['log-format'] !== 'json')
      throw new UsageError('--log-format is text or json');
  } catch (err) {
    io.stderr(`vmcatcher-glance: ${messageOf(err)}\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (values.help) {
    io.stdout(USAGE);
    return EXIT.OK;
  }
  if (values.version) {
    io.stdout('vmcatcher-glance 0.0.0\n');
    return EXIT.OK;
  }
  const verbosity = (values.verbose?.length ?? 0) - (values.quiet?.length ?? 0);
  const threshold = verbosity >= 2 ? 10 : verbosity === 1 ? 20 : verbosity < 0 ? 40 : 30;
  const json = values['log-format'] === 'json';
  const log: Logger = (level: LogLevel, message, fields) => {
    if (LEVEL_NUMBERS[level] < threshold) return;
    const record = { time: new Date(), level, message, fields: { name: 'glance', ...fields } };
    io.stderr(`${json ? formatJsonRecord(record) : formatPythonRecord(record)}\n`);
  };

  const sync = positionals[0] === 'sync';
  let store: Store | undefined;
  let connector: ReturnType<typeof createGlanceConnector> | undefined;
  try {
    const configFile = values.config ?? env.VMCATCHER_GLANCE_CONFIG;
    const config: ConnectorConfig = configFile
      ? await loadConnectorConfig(configFile)
      : { mapping: DEFAULT_MAPPING };
    const event = sync ? undefined : readEvent(await io.readStdin(), env);
    const cloud = await resolveCloud({
      env,
      ...(config.cloud ? { cloud: config.cloud } : {}),
      ...(config.cloudsFile ? { cloudsFiles: [config.cloudsFile] } : {}),
    });
    const database = values.database ?? config.database ?? env.VMCATCHER_RDBMS ?? event?.database;
    const cacheDir =
      values['cache-dir'] ?? config.cacheDir ?? env.VMCATCHER_CACHE_DIR_CACHE ?? event?.dirs?.cache;
    // An upload needs no store; an expiry asks it whether a newer version follows; sync reads it.
    const needsStore = sync || event?.type === 'ExpirePostfix' || event?.type === 'ProcessPostfix';
    if (sync && !database)
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'sync needs the database (-d or VMCATCHER_RDBMS)');
    if (sync && !cacheDir)
      throw new GlanceConnectorError(
        'ERR_GLANCE_CONFIG',
        'sync needs the cache directory (-C or VMCATCHER_CACHE_DIR_CACHE)',
      );
    if (needsStore && database) {
      try {
        store = await openStore(database, { mustExist: true });
      } catch (cause) {
        throw new GlanceConnectorError('ERR_GLANCE_STORE', `cannot open the store: ${messageOf(cause)}`, {
          cause,
        });
      }
    }
    connector = createGlanceConnector({
      cloud,
      mapping: config.mapping,
      log,
      env,
      ...(config.formats ? { formats: config.formats } : {}),
      ...(config.scratchDir ? { scratchDir: config.scratchDir } : {}),
      ...(config.maxVirtualSize ? { maxVirtualSize: config.maxVirtualSize } : {}),
      ...(config.maxFileSize ? { maxFileSize: config.maxFileSize } : {}),
      ...(config.limits ? { limits: config.limits } : {}),
      ...(config.sandbox ? { sandbox: config.sandbox } : {}),
      ...(config.expire ? { expire: config.expire } : {}),
      ...(config.tag ? { tag: config.tag } : {}),
      ...(config.namePrefix ? { namePrefix: config.namePrefix } : {}),
      ...(config.uploadTimeoutMs ? { uploadTimeoutMs: config.uploadTimeoutMs } : {}),
      ...(config.s3 ? { s3: config.s3 } : {}),
      ...(store ? { store } : {}),
      ...(cacheDir ? { cacheDir } : {}),
    });
    const report = event
      ? await connector.handleEvent(event)
      : await connector.sync({ dryRun: Boolean(values['dry-run']) });
    printReport(io, report, Boolean(values.json));
    const failed = report.results.find((r) => !r.ok);
    if (failed?.error) {
      io.stderr(`vmcatcher-glance: ${failed.error.code}: ${failed.error.message}\n`);
      return EXIT[failed.error.code as GlanceErrorCode] ?? EXIT.ERR_GLANCE_INTERNAL;
    }
    return EXIT.OK;
  } catch (err) {
    const e =
      err instanceof GlanceConnectorError
        ? err
        : new GlanceConnectorError('ERR_GLANCE_INTERNAL', messageOf(err), { cause: err });
    // The code first: vmcatcher_cache keeps the start of stderr in its failure record.
    io.stderr(`vmcatcher-glance: ${e.code}: ${e.message}\n`);
    if (e.code === 'ERR_GLANCE_INTERNAL' && err instanceof Error && err.stack) log('debug', err.stack);
    return EXIT[e.code];
  } finally {
    await connector?.close();
    await store?.close();
  }
}
