// The value forms of the policy file: sizes, ages, checksums, formats, identifiers. Each parser returns the
// normalised value or a sentence saying what is wrong (the caller adds where: file, line, key).

/** A value or why it is not one. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; why: string };

const SIZE_UNITS: Record<string, bigint> = {
  '': 1n,
  b: 1n,
  k: 1024n,
  kib: 1024n,
  m: 1024n ** 2n,
  mib: 1024n ** 2n,
  g: 1024n ** 3n,
  gib: 1024n ** 3n,
  t: 1024n ** 4n,
  tib: 1024n ** 4n,
};

const AGE_UNITS: Record<string, bigint> = { s: 1n, m: 60n, h: 3600n, d: 86_400n };

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** `digits[.digits]` times `unit`, exactly; undefined when the product is not a whole number. */
function exact(whole: string, fraction: string | undefined, unit: bigint): bigint | undefined {
  const f = fraction ?? '';
  const scale = 10n ** BigInt(f.length);
  const scaled = (BigInt(whole) * scale + BigInt(f === '' ? '0' : f)) * unit;
  return scaled % scale === 0n ? scaled / scale : undefined;
}

/**
 * A byte count: plain bytes or with K, M, G, T (powers of 1024; also KiB … TiB and B), e.g. `20G`, `1.5G`,
 * `512MiB`, `1048576`. Refuses negative values, results that are not a whole number of bytes, decimal units
 * (`GB`, whose meaning is ambiguous) and values above Number.MAX_SAFE_INTEGER.
 */
export function parseSize(text: string): Parsed<number> {
  const t = text.trim();
  if (t.startsWith('-')) return { ok: false, why: 'a size cannot be negative' };
  const m = /^(\d+)(?:\.(\d+))?\s*([A-Za-z]*)$/.exec(t);
  if (!m) return { ok: false, why: 'not a size (bytes, or a number with K, M, G or T)' };
  const unitName = m[3].toLowerCase();
  const unit = SIZE_UNITS[unitName];
  if (unit === undefined) {
    if (/^[kmgt]b$/.test(unitName)) {
      const u = unitName[0].toUpperCase();
      return { ok: false, why: `ambiguous unit ${m[3]}: write ${u} or ${u}iB (powers of 1024)` };
    }
    return { ok: false, why: `unknown size unit ${m[3]} (K, M, G, T, KiB, MiB, GiB, TiB or B)` };
  }
  const bytes = exact(m[1], m[2], unit);
  if (bytes === undefined) return { ok: false, why: 'not a whole number of bytes' };
  if (bytes > MAX) return { ok: false, why: 'too large (above 2^53 - 1 bytes)' };
  return { ok: true, value: Number(bytes) };
}

/** An age: a number with s, m, h or d (`30d`, `12h`, `1.5d`), a whole number of seconds. */
export function parseAge(text: string): Parsed<number> {
  const t = text.trim();
  if (t.startsWith('-')) return { ok: false, why: 'an age cannot be negative' };
  const m = /^(\d+)(?:\.(\d+))?\s*([A-Za-z]*)$/.exec(t);
  if (!m) return { ok: false, why: 'not an age (a number with s, m, h or d)' };
  const unit = AGE_UNITS[m[3]];
  if (unit === undefined) {
    return {
      ok: false,
      why: m[3] === '' ? 'an age needs a unit: s, m, h or d' : `unknown age unit ${m[3]} (s, m, h or d)`,
    };
  }
  const seconds = exact(m[1], m[2], unit);
  if (seconds === undefined) return { ok: false, why: 'not a whole number of seconds' };
  if (seconds > MAX) return { ok: false, why: 'too large' };
  return { ok: true, value: Number(seconds) };
}

/** The shortest exact spelling of a byte count (`20G`, `1536K`, `1000`). */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['T', 1024 ** 4],
    ['G', 1024 ** 3],
    ['M', 1024 ** 2],
    ['K', 1024],
  ] as const) {
    if (bytes !== 0 && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/** The shortest exact spelling of an age in seconds (`30d`, `36h`, `90s`). */
export function formatAge(seconds: number): string {
  for (const [unit, factor] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds !== 0 && seconds % factor === 0) return `${seconds / factor}${unit}`;
  }
  return `${seconds}s`;
}

/** A sha512 value: 128 hexadecimal digits, returned in lower case (the form image lists carry). */
export function parseChecksum(text: string): Parsed<string> {
  const t = text.trim();
  if (/^[0-9a-fA-F]{128}$/.test(t)) return { ok: true, value: t.toLowerCase() };
  if (/^[0-9a-fA-F]{40}$/.test(t)) {
    return { ok: false, why: 'a SHA-1 value (StratusLab); this policy takes sha512 values (128 hex digits)' };
  }
  return { ok: false, why: 'not a sha512 value (128 hexadecimal digits)' };
}

/** An `hv:format` value: letters, digits and `. _ + -` (`qcow2`, `vdi.gz`), returned in lower case. */
export function parseFormat(text: string): Parsed<string> {
  if (/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(text)) return { ok: true, value: text.toLowerCase() };
  return { ok: false, why: 'not an image format (letters, digits and . _ + -, such as qcow2 or vdi.gz)' };
}

/** An image `dc:identifier`: non-empty, no white space. */
export function parseIdentifier(text: string): Parsed<string> {
  if (text === '') return { ok: false, why: 'an image identifier cannot be empty' };
  if (/\s/.test(text))
    return { ok: false, why: 'an image identifier has no white space (one value per line)' };
  return { ok: true, value: text };
}

/** `refuse` or `warn`, case-insensitive. */
export function parseDeprecated(text: string): Parsed<'refuse' | 'warn'> {
  const t = text.toLowerCase();
  if (t === 'refuse' || t === 'warn') return { ok: true, value: t };
  return { ok: false, why: 'deprecated is refuse or warn' };
}
