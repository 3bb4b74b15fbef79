// What every vmcatcher tool shares: -v/-q counters and --log-config, the database URL (-d, VMCATCHER_RDBMS),
// the output format (-f, VMCATCHER_OUTPUT_FORMAT, --json), and the one place mapping errors to exit codes.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type OpenStoreOptions, openStore, type Store } from '@hepix/imagelist-store';
import pkg from '../../package.json' with { type: 'json' };
import { formatHelp, type OptionSpec, type ParsedOptions, parseOptions, UsageError } from './options.js';

export const VERSION: string = pkg.version;
export const DEFAULT_DATABASE = 'sqlite:///vmcatcher.db';
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
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevelName, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const PY_NAMES: Record<LogLevelName, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
};

export interface Logger {
  (level: LogLevelName, message: string, name?: string): void;
  readonly threshold: number;
}

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
  { dest: 'logSql', long: ['log-sql-info'], kind: 'flag', help: 'Log database statements (debug).' },
  { dest: 'version', long: ['version'], kind: 'flag', help: "Show the program's version number and exit." },
  { dest: 'help', short: 'h', long: ['help'], kind: 'flag', help: 'Show this help message and exit.' },
];

/** An error the CLI reports with a given exit code (already logged or with a message to log). */
export class CliExit extends Error {
  override readonly name = 'CliExit';
  readonly exitCode: number;
  constructor(exitCode: number, message = '') {
    super(message);
    this.exitCode = exitCode;
  }
}

interface LogConfig {
  level?: number;
  file?: string;
}

/** Reads the parts of a Python logging fileConfig INI that matter here: the root level and a FileHandler. */
function readLogConfig(path: string): LogConfig {
  const text = readFileSync(path, 'utf8');
  const cfg: LogConfig = {};
  let section = '';
  let handlerClass = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1].trim();
      handlerClass = '';
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(line);
    if (!kv) continue;
    const key = kv[1].trim().toLowerCase();
    const value = kv[2].trim();
    if (section === 'logger_root' && key === 'level') {
      const n = { DEBUG: 10, INFO: 20, WARNING: 30, WARN: 30, ERROR: 40, CRITICAL: 50, FATAL: 50, NOTSET: 0 }[
        value.toUpperCase()
      ];
      if (n !== undefined) cfg.level = n;
    }
    if (section.startsWith('handler_') && key === 'class') handlerClass = value;
    if (section.startsWith('handler_') && key === 'args' && /FileHandler/.test(handlerClass)) {
      const m = /^\(\s*['"]([^'"]+)['"]/.exec(value);
      if (m) cfg.file = m[1];
    }
  }
  return cfg;
}

export function makeLogger(verbose: number, quiet: number, io: CliIo, config: LogConfig = {}): Logger {
  const threshold = config.level ?? Math.min(50, Math.max(10, 30 - 10 * verbose + 10 * quiet));
  const fn = ((level: LogLevelName, message: string, name = 'main') => {
    if (LEVELS[level] < threshold) return;
    const line = `${PY_NAMES[level]}:${name}:${message}\n`;
    if (config.file) appendFileSync(config.file, line);
    else io.stderr(line);
  }) as Logger;
  Object.defineProperty(fn, 'threshold', { value: threshold });
  return fn;
}

export interface CommonContext {
  options: ParsedOptions;
  positionals: string[];
  env: NodeJS.ProcessEnv;
  io: CliIo;
  log: Logger;
  format: OutputFormat;
  database: string;
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
  tool: { name: string; usage: string; description: string; options: OptionSpec[] },
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
  body: (ctx: CommonContext) => Promise<number>,
): Promise<number> {
  const specs = [...tool.options, ...COMMON_OPTIONS];
  let log: Logger = makeLogger(0, 0, io);
  try {
    const { options, positionals } = parseOptions(argv, specs);
    if (options.help) {
      io.stdout(formatHelp(tool.usage, tool.description, specs));
      return 0;
    }
    if (options.version) {
      io.stdout(`${tool.name} ${VERSION}\n`);
      return 0;
    }
    const logConfigPath = (options.logConfig as string | undefined) ?? env.VMCATCHER_LOG_CONF;
    let logConfig: LogConfig = {};
    if (logConfigPath) {
      if (!existsSync(logConfigPath)) {
        log('error', `Logfile configuration file '${logConfigPath}' was not found.`);
        return 1;
      }
      logConfig = readLogConfig(logConfigPath);
    }
    log = makeLogger((options.verbose as number) ?? 0, (options.quiet as number) ?? 0, io, logConfig);
    const formatName = options.json
      ? 'json'
      : ((options.format as string | undefined) ?? env.VMCATCHER_OUTPUT_FORMAT ?? 'lines');
    const format = FORMATS[formatName];
    if (!format) throw new UsageError(`Invalid format '${formatName}': use lines, json, SMIME or message`);
    let database = (options.database as string | undefined) ?? env.VMCATCHER_RDBMS;
    if (!database) {
      database = DEFAULT_DATABASE;
      log('info', `Defaulting DB connection to '${DEFAULT_DATABASE}'`);
    }
    return await body({ options, positionals, env, io, log, format, database });
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`Usage: ${tool.usage}\n\n${tool.name}: error: ${err.message}\n`);
      return 2;
    }
    const { exitCode, message } = exitCodeFor(err);
    if (message) log('error', message);
    return exitCode;
  }
}

/** The one mapping from library errors to exit codes and messages. */
export function exitCodeFor(err: unknown): { exitCode: number; message: string } {
  if (err instanceof CliExit) return { exitCode: err.exitCode, message: err.message };
  const e = err as { code?: unknown; status?: unknown; message?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('ERR_SUB_') && typeof e.status === 'number') {
    return { exitCode: e.status, message: e.message ?? code };
  }
  if (code.startsWith('ERR_STORE_')) {
    const map: Record<string, number> = { ERR_STORE_CONFLICT: 15, ERR_STORE_LOCKED: 1 };
    return { exitCode: map[code] ?? 1, message: `${e.message ?? code}` };
  }
  if (code.startsWith('ERR_SMIME_')) return { exitCode: 11, message: e.message ?? code };
  return { exitCode: 1, message: (err as Error)?.message ?? String(err) };
}

export async function withStore<T>(
  ctx: CommonContext,
  fn: (store: Store) => Promise<T>,
  options: Omit<OpenStoreOptions, 'log'> = {},
): Promise<T> {
  const store = await openStore(ctx.database, {
    ...options,
    log: (level, message) => {
      if (level === 'debug' && !ctx.options.logSql) return;
      ctx.log(level, message, 'db');
    },
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** VMCATCHER_DIR_CERT or -c; must exist. */
export function certDirFrom(ctx: CommonContext, option: string | undefined): string {
  const dir = option ?? ctx.env.VMCATCHER_DIR_CERT ?? DEFAULT_CERT_DIR;
  if (!existsSync(dir)) throw new CliExit(1, `Certificate directory '${dir}' does not exist.`);
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
