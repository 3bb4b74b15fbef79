// Logging of the vmcatcher tools: the -v/-q counters, a Python logging configuration file (--log-config,
// VMCATCHER_LOG_CONF: the root level, a FileHandler or StreamHandler and its formatter's `format`/`datefmt`),
// and `--log-format json`. Lines are formatted by @hepix/common, so `%(asctime)s` is honoured (in UTC) and
// publisher-controlled text in a message cannot forge a line.
import { appendFileSync, readFileSync } from 'node:fs';
import {
  formatContext,
  formatJsonRecord,
  formatPythonRecord,
  LEVEL_NUMBERS,
  type LogFields,
  type Logger,
  type LogLevel,
} from '@hepix/common';

/**
 * The default line: a UTC timestamp, then the originals' `logging.BASIC_FORMAT`; the subscription, URI and image
 * the line is about follow in brackets (a configured formatter gets them only through `%(context)s` or by name).
 */
const DEFAULT_LOG_FORMAT = '%(asctime)s %(levelname)s:%(name)s:%(message)s';

/** The tools' logger: a `Logger` that also tells which levels it prints. */
export interface CliLogger extends Logger {
  readonly threshold: number;
}

export interface LogConfig {
  /** Root logger level (Python numbers: 10 DEBUG … 50 CRITICAL). */
  level?: number;
  /** FileHandler target; lines go to stderr otherwise. */
  file?: string;
  /** The handler's formatter `format` and `datefmt`. */
  format?: string;
  datefmt?: string;
  /** The handler's own level, applied on top of the root level. */
  handlerLevel?: number;
}

const LEVEL_BY_NAME: Record<string, number> = {
  NOTSET: 0,
  DEBUG: 10,
  INFO: 20,
  WARN: 30,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
  FATAL: 50,
};

/** Python's configparser `%(x)s` interpolation is escaped as `%%` in format strings. */
function unescapePercent(value: string): string {
  return value.replace(/%%/g, '%');
}

/**
 * Reads what matters of a Python `logging.config.fileConfig` file: the root logger's level and first
 * handler, that handler's class (FileHandler with its file, or a stream), level and formatter, and the
 * formatter's `format` and `datefmt`.
 */
export function parseLogConfig(text: string): LogConfig {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*[#;]/.test(raw) || raw.trim() === '') continue;
    const sec = /^\[(.+)\]\s*$/.exec(raw.trim());
    if (sec) {
      current = new Map();
      sections.set(sec[1].trim().toLowerCase(), current);
      lastKey = undefined;
      continue;
    }
    if (current && lastKey && /^\s/.test(raw)) {
      current.set(lastKey, `${current.get(lastKey)}\n${raw.trim()}`);
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(raw);
    if (!kv || !current) continue;
    lastKey = kv[1].trim().toLowerCase();
    current.set(lastKey, kv[2].trim());
  }
  const cfg: LogConfig = {};
  const root = sections.get('logger_root');
  const level = root?.get('level');
  if (level && LEVEL_BY_NAME[level.toUpperCase()] !== undefined)
    cfg.level = LEVEL_BY_NAME[level.toUpperCase()];
  const handlerName = root?.get('handlers')?.split(',')[0]?.trim();
  const handler = handlerName ? sections.get(`handler_${handlerName.toLowerCase()}`) : undefined;
  if (handler) {
    const args = handler.get('args') ?? '';
    if (/FileHandler/.test(handler.get('class') ?? '')) {
      const m = /^\(\s*['"]([^'"]+)['"]/.exec(args);
      if (m) cfg.file = m[1];
    }
    const hl = handler.get('level');
    if (hl && LEVEL_BY_NAME[hl.toUpperCase()] !== undefined)
      cfg.handlerLevel = LEVEL_BY_NAME[hl.toUpperCase()];
    const formatterName = handler.get('formatter')?.trim();
    const formatter = formatterName ? sections.get(`formatter_${formatterName.toLowerCase()}`) : undefined;
    const format = formatter?.get('format');
    const datefmt = formatter?.get('datefmt');
    if (format) cfg.format = unescapePercent(format);
    if (datefmt) cfg.datefmt = unescapePercent(datefmt);
  }
  return cfg;
}

export function readLogConfig(path: string): LogConfig {
  return parseLogConfig(readFileSync(path, 'utf8'));
}

export interface MakeLoggerOptions {
  verbose?: number;
  quiet?: number;
  config?: LogConfig;
  /** `text` (default): Python-style lines; `json`: one JSON object per line. */
  format?: 'text' | 'json';
  /** Where lines go when the configuration names no file. */
  write: (line: string) => void;
  now?: () => Date;
}

function withContext(line: string, fields: LogFields | undefined): string {
  const context = formatContext(fields);
  return context ? `${line} [${context}]` : line;
}

/** The default level is WARNING; each -v lowers it by one step, each -q raises it (reference §3). */
export function makeLogger(options: MakeLoggerOptions): CliLogger {
  const config = options.config ?? {};
  const counted = Math.min(50, Math.max(10, 30 - 10 * (options.verbose ?? 0) + 10 * (options.quiet ?? 0)));
  const threshold = Math.max(config.level ?? counted, config.handlerLevel ?? 0);
  const now = options.now ?? (() => new Date());
  const fn = ((level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVEL_NUMBERS[level] < threshold) return;
    const record = { time: now(), level, message, ...(fields ? { fields } : {}) };
    const line =
      options.format === 'json'
        ? formatJsonRecord(record)
        : config.format
          ? formatPythonRecord(record, config.format, config.datefmt)
          : withContext(formatPythonRecord(record, DEFAULT_LOG_FORMAT, config.datefmt), fields);
    if (config.file) appendFileSync(config.file, `${line}\n`);
    else options.write(`${line}\n`);
  }) as CliLogger;
  Object.defineProperty(fn, 'threshold', { value: threshold });
  return fn;
}
