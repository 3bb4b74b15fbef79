import { ImageListVersionError, preview } from './errors.js';

// Version order of the original tools (vmcatcher stringsort.split_numeric_sort, the same code in vmcaster).

const DELIMITERS = /[-,./]/g;
const DIGIT_RUNS = /[0-9]+/g;
const ALL_DIGITS = /^[0-9]+$/;

/** Splits `s` at every match of `re`, keeping the matches as tokens and dropping empty pieces. */
function tokenize(s: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (m.index !== last) out.push(s.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last !== s.length) out.push(s.slice(last));
  return out;
}

/** Compares two digit strings as integers of any length (Python's int() has no size limit). */
function compareDigits(a: string, b: string): -1 | 0 | 1 {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Code point order, as Python compares unicode strings (JS `<` compares UTF-16 code units). */
function compareCodePoints(a: string, b: string): -1 | 0 | 1 {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done && cb.done ? 0 : ca.done ? -1 : 1;
    const pa = ca.value.codePointAt(0)!;
    const pb = cb.value.codePointAt(0)!;
    if (pa !== pb) return pa < pb ? -1 : 1;
  }
}

// Both helpers below return the ORDER sign: -1 when x is older than y (the originals return the opposite).

/** The originals' string_sort: digit runs compared as numbers, the rest as strings. */
function compareRuns(x: string, y: string): -1 | 0 | 1 {
  const xs = tokenize(x, DIGIT_RUNS);
  const ys = tokenize(y, DIGIT_RUNS);
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const a = xs[i]!;
    const b = ys[i]!;
    if (a === b) continue;
    const ad = ALL_DIGITS.test(a);
    const bd = ALL_DIGITS.test(b);
    // Numerically equal runs ("01" vs "1") end the comparison as equal, exactly as the original does.
    if (ad && bd) return compareDigits(a, b);
    if (ad) return 1;
    if (bd) return -1;
    return compareCodePoints(a, b);
  }
  return xs.length === ys.length ? 0 : xs.length < ys.length ? -1 : 1;
}

function assertString(v: unknown, name: string): asserts v is string {
  if (typeof v !== 'string') {
    throw new ImageListVersionError(`${name} must be a string, got ${typeof v} ${preview(v)}`);
  }
}

/**
 * Orders two `hv:version` strings as the original tools do (`split_numeric_sort`): split at `-`, `,`, `.`, `/`
 * (kept as tokens); all-digit tokens compare as integers and rank above any other token; other tokens compare by
 * digit runs and then by string order; when all shared tokens are equal the longer version is newer.
 *
 * Returns -1 when `a` is older than `b`, 1 when newer, 0 when the same. This is the sort order
 * (`versions.sort(compareVersions)` puts the oldest first), i.e. the opposite sign of `split_numeric_sort(a, b)`.
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  assertString(a, 'version a');
  assertString(b, 'version b');
  const xs = tokenize(a, DELIMITERS);
  const ys = tokenize(b, DELIMITERS);
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    const y = ys[i]!;
    if (x === y) continue;
    const xd = ALL_DIGITS.test(x);
    const yd = ALL_DIGITS.test(y);
    // "1.01" vs "1.1": numerically equal digit tokens stop the comparison as equal (original behaviour).
    if (xd && yd) return compareDigits(x, y);
    if (xd) return 1;
    if (yd) return -1;
    const rc = compareRuns(x, y);
    if (rc !== 0) return rc;
  }
  return xs.length === ys.length ? 0 : xs.length < ys.length ? -1 : 1;
}

/** Adds one to a string of decimal digits of any length; leading zeros are dropped like Python's str(int(x)+1). */
function increment(digits: string): string {
  return (BigInt(digits) + 1n).toString();
}

/**
 * The next version as vmcaster computes it: the last run of digits is incremented and everything else kept
 * (`0.0.9` → `0.0.10`, `0.0.1a` → `0.0.2a`, `3.3.0-1` → `3.3.0-2`). A version without digits, an empty string
 * or undefined gives `0.0.1` (vmcaster bumps `0.0.0` when there is no version).
 */
export function bumpVersion(v: string | undefined): string {
  if (v === undefined) return '0.0.1';
  assertString(v, 'version');
  const runs = tokenize(v, DIGIT_RUNS);
  for (let i = runs.length - 1; i >= 0; i--) {
    if (ALL_DIGITS.test(runs[i]!)) {
      runs[i] = increment(runs[i]!);
      return runs.join('');
    }
  }
  return '0.0.1';
}
