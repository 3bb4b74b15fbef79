// vmcaster's messages on stderr: one Logger (of @hepix/common) handed to every library, formatted by the shared
// formatters: the text lines vmcaster always printed (`vmcaster: warn: …`), or one JSON object per line.
import { formatJsonRecord, formatPythonRecord, type Logger, type LogLevel } from '@hepix/common';
import { CliError } from './errors.js';

export type LogFormat = 'text' | 'json';

/** Python logging format strings giving vmcaster's own text lines (level names as vmcaster always wrote them). */
const TEXT_FORMATS: Record<LogLevel, string> = {
  debug: 'vmcaster: debug: %(message)s',
  info: 'vmcaster: %(message)s',
  warn: 'vmcaster: warn: %(message)s',
  error: 'vmcaster: error: %(message)s',
};

/** -q/-v: the least severe level shown at each verbosity (default info). */
const THRESHOLD: Record<LogLevel, number> = { error: -2, warn: -1, info: 0, debug: 1 };

export function parseLogFormat(value: string | undefined): LogFormat {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new CliError('ERR_CLI_USAGE', `--log-format must be text or json, not '${value}'`);
}

export interface CliLogger {
  log: Logger;
  /** An error and its details (validation issues) and, with -v, its causes. */
  error(err: unknown): void;
}

export function createCliLogger(
  write: (text: string) => void,
  verbosity: number,
  format: LogFormat,
  now: () => Date = () => new Date(),
): CliLogger {
  const log: Logger = (level, message, fields) => {
    if (verbosity < THRESHOLD[level]) return;
    const record = { time: now(), level, message, fields: { name: 'vmcaster', ...fields } };
    write(
      `${format === 'json' ? formatJsonRecord(record) : formatPythonRecord(record, TEXT_FORMATS[level])}\n`,
    );
  };
  return {
    log,
    error(err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: unknown } | null)?.code;
      const details = (err as { details?: unknown } | null)?.details;
      const issues = (err as { issues?: { path: string; message: string }[] } | null)?.issues;
      const lines = Array.isArray(details)
        ? details.map(String)
        : Array.isArray(issues)
          ? issues.map((i) => `${i.path || '/'}: ${i.message}`)
          : [];
      if (format === 'json') {
        log('error', message, {
          ...(typeof code === 'string' ? { code } : {}),
          ...(lines.length ? { details: lines.join('\n') } : {}),
        });
      } else {
        log('error', message, typeof code === 'string' ? { code } : undefined);
        if (verbosity >= THRESHOLD.error) for (const d of lines) write(`  ${d}\n`);
      }
      if (verbosity > 0) {
        // The chain of causes, and with -vv the stack: as indented lines, or JSON records.
        const more = (line: string) => (format === 'json' ? log('debug', line) : write(`  ${line}\n`));
        let cause = (err as { cause?: unknown } | null)?.cause;
        for (let depth = 0; cause && depth < 8; depth++) {
          const c = cause as { code?: string; message?: string; name?: string };
          more(`caused by: ${cause instanceof Error ? `${c.code ?? c.name}: ${c.message}` : String(cause)}`);
          cause = (cause as { cause?: unknown }).cause;
        }
        if (verbosity > 1 && err instanceof Error && err.stack) more(err.stack);
      }
    },
  };
}
