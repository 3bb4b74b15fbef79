// The one logger type of every package, and the formatting that both CLIs share. A library logs through a
// plain function it is given; it never writes to the console. Fields name what a line is about (the
// subscription, its URL, the image), so a formatter can print them whatever the message says.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What a log line is about. Values are short strings or numbers; publisher-controlled text is escaped on output. */
export interface LogFields {
  /** The subscription (image list `dc:identifier`) concerned. */
  subscription?: string;
  /** The URL concerned, without credentials. */
  uri?: string;
  /** The image `dc:identifier` concerned. */
  image?: string;
  /** The component, as Python logging's `%(name)s` (e.g. `db`, `cache`); formatters default it to `main`. */
  name?: string;
  /** The stable error code of the failure being reported. */
  code?: string;
  [key: string]: string | number | boolean | undefined;
}

/** The logger every `@hepix/*` library accepts. Cheap to call; a library never awaits it. */
export type Logger = (level: LogLevel, message: string, fields?: LogFields) => void;

/** Discards everything. */
export const noopLogger: Logger = () => {};

/** A logger that adds `fields` to every line (the caller's own fields win). */
export function withFields(log: Logger, fields: LogFields): Logger {
  return (level, message, more) => log(level, message, more ? { ...fields, ...more } : fields);
}

/** Python logging's numeric levels, which logging configuration files use. */
export const LEVEL_NUMBERS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Python logging's level names (`%(levelname)s`). */
export const PYTHON_LEVEL_NAMES: Readonly<Record<LogLevel, string>> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
};

/** One line to format. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  message: string;
  fields?: LogFields;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * A small strftime for `datefmt` (always in UTC): `%Y %m %d %H %M %S %y %j %b %a %Z %z %%`, plus `%f`
 * (microseconds) as Python's datetime knows it.
 */
export function formatUtcTime(time: Date, datefmt: string): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const startOfYear = Date.UTC(time.getUTCFullYear(), 0, 1);
  return datefmt.replace(/%([YmdHMSyjbaZzf%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(time.getUTCFullYear());
      case 'm':
        return pad(time.getUTCMonth() + 1);
      case 'd':
        return pad(time.getUTCDate());
      case 'H':
        return pad(time.getUTCHours());
      case 'M':
        return pad(time.getUTCMinutes());
      case 'S':
        return pad(time.getUTCSeconds());
      case 'y':
        return pad(time.getUTCFullYear() % 100);
      case 'j':
        return pad(Math.floor((time.getTime() - startOfYear) / 86_400_000) + 1, 3);
      case 'b':
        return months[time.getUTCMonth()];
      case 'a':
        return days[time.getUTCDay()];
      case 'Z':
        return 'UTC';
      case 'z':
        return '+0000';
      case 'f':
        return pad(time.getUTCMilliseconds() * 1000, 6);
      default:
        return '%';
    }
  });
}

/** Python's default `asctime` (`2026-12-01 15:23:49,123`), in UTC. */
export function asctime(time: Date, datefmt?: string): string {
  if (datefmt) return formatUtcTime(time, datefmt);
  return `${formatUtcTime(time, '%Y-%m-%d %H:%M:%S')},${pad(time.getUTCMilliseconds(), 3)}`;
}

/** Escapes control characters (tabs, newlines, ESC, DEL, C1) so that one value can never forge a line. */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    switch (c) {
      case '\t':
        return '\\t';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
}

/** `subscription=… uri=… image=…` for the fields a line is about (empty when there are none). */
export function formatContext(fields: LogFields | undefined): string {
  if (!fields) return '';
  const parts: string[] = [];
  for (const key of ['subscription', 'uri', 'image'] as const) {
    const v = fields[key];
    if (v !== undefined && v !== '') parts.push(`${key}=${escapeControl(String(v))}`);
  }
  return parts.join(' ');
}

/**
 * Formats a record with a Python logging format string: `%(asctime)s`, `%(levelname)s`, `%(levelno)d`,
 * `%(name)s`, `%(message)s`, `%(process)d`, `%(created)f`, `%(context)s` (the fields a line is about) and
 * any field by name (`%(subscription)s`, `%(image)s`, …), with Python's flags and widths (`%(levelname)-8s`).
 * The message and field values are control-character escaped; times are UTC.
 */
export function formatPythonRecord(
  record: LogRecord,
  format = '%(levelname)s:%(name)s:%(message)s',
  datefmt?: string,
): string {
  const fields = record.fields ?? {};
  const values: Record<string, string | number> = {
    asctime: asctime(record.time, datefmt),
    levelname: PYTHON_LEVEL_NAMES[record.level],
    levelno: LEVEL_NUMBERS[record.level],
    name: fields.name ?? 'main',
    message: escapeControl(record.message),
    process: process.pid,
    created: record.time.getTime() / 1000,
    context: formatContext(fields),
  };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && !(k in values)) values[k] = escapeControl(String(v));
  }
  return format.replace(
    /%\((\w+)\)([-#0 +]*)(\d+)?(?:\.(\d+))?([sdifr])|%%/g,
    (whole, key: string, flags: string, width: string, precision: string, conv: string) => {
      if (whole === '%%') return '%';
      let v: string | number = values[key] ?? '';
      if (conv === 'd' || conv === 'i') v = String(Math.trunc(Number(v) || 0));
      else if (conv === 'f') v = (Number(v) || 0).toFixed(precision === undefined ? 6 : Number(precision));
      else {
        v = String(v);
        if (precision !== undefined) v = v.slice(0, Number(precision));
      }
      const w = width ? Number(width) : 0;
      if (v.length >= w) return v;
      return flags.includes('-')
        ? v.padEnd(w)
        : v.padStart(w, flags.includes('0') && conv !== 's' ? '0' : ' ');
    },
  );
}

/** One JSON object per line: `{"time","level","name","message",…fields}` (time in ISO 8601 UTC). */
export function formatJsonRecord(record: LogRecord): string {
  const { name, ...rest } = record.fields ?? {};
  const out: Record<string, unknown> = {
    time: record.time.toISOString(),
    level: record.level,
    name: name ?? 'main',
    message: record.message,
  };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) out[k] = v;
  // JSON.stringify escapes control characters, and U+2028/9 are escaped so that no line can be split.
  return JSON.stringify(out)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
