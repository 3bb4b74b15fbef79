import { ImageListDateError, preview } from './errors.js';

// The originals parse with strptime("%Y-%m-%dT%H:%M:%SZ"): no fractions, no offsets, no date-only values.
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
const FORMAT = 'YYYY-MM-DDTHH:MM:SSZ';

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Why `value` is not a valid image list date, or undefined when it is one. */
export function dateProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string in the form ${FORMAT}`;
  const m = DATE_RE.exec(value);
  if (!m) return `must be exactly ${FORMAT} (UTC, no fractions, no offset), got "${preview(value)}"`;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < 1) return `year 0000 does not exist, got "${value}"`;
  if (month < 1 || month > 12) return `month out of range, got "${value}"`;
  if (day < 1 || day > daysInMonth(year, month)) return `day out of range for the month, got "${value}"`;
  if (hour > 23 || minute > 59 || second > 59) return `time of day out of range, got "${value}"`;
  return undefined;
}

/**
 * Parses an image list date (`dc:date:created`, `dc:date:expires`): exactly `YYYY-MM-DDTHH:MM:SSZ`, UTC, a real
 * calendar date. Throws ImageListDateError (`ERR_IMAGELIST_DATE`) naming `field` otherwise.
 */
export function parseImageListDate(value: string, field?: string): Date {
  const problem = dateProblem(value);
  if (problem !== undefined) {
    const shown = typeof value === 'string' ? preview(value) : preview(typeof value);
    throw new ImageListDateError(`${field ?? 'date'}: ${problem}`, field, shown);
  }
  const m = DATE_RE.exec(value)!;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  return date;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * Formats a date as an image list date, `YYYY-MM-DDTHH:MM:SSZ` in UTC; milliseconds are dropped (truncated).
 * Throws ImageListDateError for an invalid Date or a year outside 0001-9999.
 */
export function formatImageListDate(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new ImageListDateError('cannot format an invalid Date', undefined, preview(date));
  }
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999) {
    throw new ImageListDateError(
      `year ${year} cannot be written as ${FORMAT}`,
      undefined,
      preview(date.toISOString()),
    );
  }
  return (
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}Z`
  );
}
