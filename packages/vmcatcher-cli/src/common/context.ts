// What every vmcatcher tool shares: -v/-q counters and --log-config, the database URL (-d, VMCATCHER_RDBMS),
// the output format (-f, VMCATCHER_OUTPUT_FORMAT, --json), and the one place mapping errors to exit codes.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogFields } from '@hepix/common';
import { type OpenStoreOptions, openStore, parseStoreUrl, type Store } from '@hepix/imagelist-store';
import pkg from '../../package.json' with { type: 'json' };
import { CliError, exitCodeFor } from './exit.js';
import { fourSlashUrl, type HintContext, hintFor } from './hints.js';
import { type CliLogger, type LogConfig, makeLogger, readLogConfig } from './logging.js';
import {
  formatHelp,
  type HelpSections,
  type OptionSpec,
  type ParsedOptions,
  parseOptions,
  UsageError,
} from './options.js';

export { CliError, exitCodeFor };

export const VERSION: string = pkg.version;
const DEFAULT_DATABASE = 'sqlite:///vmcatcher.db';
export const DEFAULT_CERT_DIR = '/etc/grid-security/certificates/';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

export type OutputFormat = 'lines' | 'json' | 'SMIME' | 'message';
/** The logger every tool gets in its context. */
type Logger = CliLogger;

/** Common options of all four tools (help text as in the originals). */
export const COMMON_OPTIONS: OptionSpec[] = [
  {
    dest: 'verbose',
    short: 'v',
    long: ['verbose'],
    kind: 'count',
    help: 'Change global log level, increasing log output.',
  },
  {
    dest: 'quiet',
    short: 'q',
    long: ['quiet'],
    kind: 'count',
    help: 'Change global log level, decreasing log output.',
  },
  {
    dest: 'database',
    short: 'd',
    long: ['database'],
    kind: 'value',
    metavar: 'RDBMS',
    help: `Database URL (env VMCATCHER_RDBMS, default ${DEFAULT_DATABASE}); sqlite:///rel.db, sqlite:////abs.db, postgres://...`,
  },
  {
    dest: 'format',
    short: 'f',
    long: ['format'],
    kind: 'value',
    metavar: 'FORMAT',
    choices: ['lines', 'json', 'SMIME', 'message'],
    help: 'Output format: lines (default), json, SMIME, message (env VMCATCHER_OUTPUT_FORMAT).',
  },
  { dest: 'json', long: ['json'], kind: 'flag', help: 'Same as --format json (stable JSON output).' },
  {
    dest: 'logConfig',
    long: ['log-config'],
    kind: 'value',
    metavar: 'FILE',
    help: 'Logging configuration file (env VMCATCHER_LOG_CONF); a missing file exits 1.',
  },
  {
    dest: 'logFormat',
    long: ['log-format'],
    kind: 'value',
    metavar: 'FORMAT',
    choices: ['text', 'json'],
    help: 'Log lines as text (default; the logging configuration formatter applies) or json, one object per line (env VMCATCHER_LOG_FORMAT).',
  },
  { dest: 'logSql', long: ['log-sql-info'], kind: 'flag', help: 'Log database statements (debug).' },
  { dest: 'version', long: ['version'], kind: 'flag', help: "Show the program's version number and exit." },
  { dest: 'help', short: 'h', long: ['help'], kind: 'flag', help: 'Show this help message and exit.' },
];

/** One tool: its name, usage, description, options (before the common ones), examples and exit statuses. */
export interface ToolDefinition extends HelpSections {
  name: string;
  usage: string;
  description: string;
  options: OptionSpec[];
  /** Common options that mean nothing to this tool (by `dest`): neither accepted nor offered. */
  withoutCommon?: readonly string[];
  /** The tool has its own parser and none of the common options. */
  standalone?: boolean;
}

/** The options a tool accepts and documents: its own, then the common ones that apply to it. */
export function toolOptions(tool: ToolDefinition): OptionSpec[] {
  if (tool.standalone) return tool.options;
  const without = new Set(tool.withoutCommon ?? []);
  return [...tool.options, ...COMMON_OPTIONS.filter((o) => !without.has(o.dest))];
}

/** Exit statuses every tool on the store shares (the tools add their own). */
export const COMMON_EXIT_STATUSES: readonly (readonly [number, string])[] = [
  [0, 'success'],
  [
    1,
    'a selection or option value error, a missing certificate directory or logging configuration, a store error',
  ],
  [2, 'usage error (unknown option, missing argument)'],
  [70, 'internal error (a bug: run with -vv for the stack)'],
  [75, 'another run holds the lock (ERR_STORE_LOCKED)'],
];

export interface CommonContext {
  options: ParsedOptions;
  positionals: string[];
  env: NodeJS.ProcessEnv;
  io: CliIo;
  log: Logger;
  format: OutputFormat;
  database: string;
  /** Logs the hint for an error (see hints.ts), each distinct one once per run. */
  hint(err: unknown, fields?: LogFields): void;
}

function hinter(log: () => Logger, context: () => HintContext): (err: unknown, fields?: LogFields) => void {
  const given = new Set<string>();
  return (err, fields) => {
    const text = hintFor(err, context());
    if (!text || given.has(text)) return;
    given.add(text);
    const code = (err as { code?: unknown } | null)?.code;
    log()('error', text, { ...fields, name: 'hint', ...(typeof code === 'string' ? { code } : {}) });
  };
}

const FORMATS: Record<string, OutputFormat> = {
  lines: 'lines',
  json: 'json',
  SMIME: 'SMIME',
  smime: 'SMIME',
  message: 'message',
};

/**
 * Parses argv and runs `body`, turning every failure into an exit code and an `ERROR:` log line.
 * Returns the exit code.
 */
export async function runTool(
  tool: ToolDefinition,
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
  body: (ctx: CommonContext) => Promise<number>,
): Promise<number> {
  const specs = toolOptions(tool);
  let log: Logger = makeLogger({ write: (line) => io.stderr(line) });
  let database: string | undefined;
  const hint = hinter(
    () => log,
    () => ({ tool: tool.name, ...(database ? { database } : {}) }),
  );
  try {
    const { options, positionals } = parseOptions(argv, specs);
    if (options.help) {
      io.stdout(formatHelp(tool.usage, tool.description, specs, tool));
      return 0;
    }
    if (options.version) {
      io.stdout(`${tool.name} ${VERSION}\n`);
      return 0;
    }
    // The format first: a logging configuration that cannot be read is reported in it.
    const logFormat = (options.logFormat as string | undefined) ?? env.VMCATCHER_LOG_FORMAT ?? 'text';
    if (logFormat !== 'text' && logFormat !== 'json') {
      throw new UsageError(`Invalid log format '${logFormat}': use text or json`);
    }
    log = makeLogger({ format: logFormat, write: (line) => io.stderr(line) });
    const logConfigPath = (options.logConfig as string | undefined) ?? env.VMCATCHER_LOG_CONF;
    let logConfig: LogConfig = {};
    if (logConfigPath) {
      if (!existsSync(logConfigPath)) {
        throw new CliError(
          'ERR_CLI_LOG_CONFIG',
          `Logfile configuration file '${logConfigPath}' was not found.`,
        );
      }
      try {
        logConfig = readLogConfig(logConfigPath);
      } catch (cause) {
        throw new CliError(
          'ERR_CLI_LOG_CONFIG',
          `Cannot read the logging configuration '${logConfigPath}': ${(cause as Error).message}`,
          { cause },
        );
      }
    }
    log = makeLogger({
      verbose: (options.verbose as number) ?? 0,
      quiet: (options.quiet as number) ?? 0,
      config: logConfig,
      format: logFormat,
      write: (line) => io.stderr(line),
    });
    const formatName = options.json
      ? 'json'
      : ((options.format as string | undefined) ?? env.VMCATCHER_OUTPUT_FORMAT ?? 'lines');
    const format = FORMATS[formatName];
    if (!format) throw new UsageError(`Invalid format '${formatName}': use lines, json, SMIME or message`);
    database = (options.database as string | undefined) ?? env.VMCATCHER_RDBMS;
    if (!database) {
      database = DEFAULT_DATABASE;
      log('info', `Defaulting DB connection to '${DEFAULT_DATABASE}'`);
    }
    return await body({ options, positionals, env, io, log, format, database, hint });
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`Usage: ${tool.usage}\n\n${tool.name}: error: ${err.message}\n`);
      return 2;
    }
    const { exitCode, message, code } = exitCodeFor(err);
    if (message) log('error', message, { code });
    hint(err);
    if (code === 'ERR_CLI_INTERNAL' && err instanceof Error && err.stack) log('debug', err.stack);
    return exitCode;
  }
}

/** The SQLite file of a database URL, when it names one that exists. */
function existingSqliteFile(url: string): string | undefined {
  try {
    const parsed = parseStoreUrl(url);
    return parsed.dialect === 'sqlite' && parsed.path !== ':memory:' && existsSync(parsed.path)
      ? parsed.path
      : undefined;
  } catch {
    return undefined; // openStore reports the URL
  }
}

/** Basic-auth passwords in a file other users can read: say so, with the command that fixes it. */
async function warnIfReadable(ctx: CommonContext, store: Store, path: string): Promise<void> {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o044) === 0) return;
  if (!(await store.subscriber.listSubscriptions()).some((s) => s.hasPassword)) return;
  const files = [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f));
  ctx.log(
    'warn',
    `${path} holds Basic-auth passwords and other users can read it (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${files.join(' ')}`,
    { name: 'db' },
  );
}

export async function withStore<T>(
  ctx: CommonContext,
  fn: (store: Store) => Promise<T>,
  options: Omit<OpenStoreOptions, 'log'> = {},
): Promise<T> {
  // Only a database that existed before: one this tool creates is private (0600) already.
  const existing = existingSqliteFile(ctx.database);
  // The silent case: a new, empty database about to be created beside the one that was meant.
  const meant = fourSlashUrl(ctx.database);
  const parsed = meant ? parseStoreUrl(ctx.database) : undefined;
  if (meant && parsed?.dialect === 'sqlite' && existsSync(dirname(parsed.path)))
    ctx.log(
      'warn',
      `'${ctx.database}' is relative to the working directory ${process.cwd()} and does not exist there; for the absolute path use four slashes: ${meant}`,
      { name: 'db' },
    );
  const store = await openStore(ctx.database, {
    ...options,
    log: (level, message) => {
      if (level === 'debug' && !ctx.options.logSql) return;
      ctx.log(level, message, { name: 'db' });
    },
  });
  try {
    if (existing) await warnIfReadable(ctx, store, existing);
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** VMCATCHER_DIR_CERT or -c; must exist. */
export function certDirFrom(ctx: CommonContext, option: string | undefined): string {
  const dir = option ?? ctx.env.VMCATCHER_DIR_CERT ?? DEFAULT_CERT_DIR;
  if (!existsSync(dir))
    throw new CliError('ERR_CLI_CERT_DIR', `Certificate directory '${dir}' does not exist.`);
  return dir;
}

/** OpenSSL/original date form `YYYY-mm-ddTHH:MM:SSZ`. */
export function fmtDate(d: Date | undefined): string {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : 'False';
}

/** Writes `text` to stdout, or to the file paired with selection `index` (-o FILE, append). */
export function emit(ctx: CommonContext, text: string | Uint8Array, outputs: string[], index: number): void {
  const target = outputs[index];
  if (target) {
    writeFileSync(target, text);
    return;
  }
  ctx.io.stdout(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
}
