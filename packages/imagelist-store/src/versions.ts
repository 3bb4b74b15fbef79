// The version order of the originals (split_numeric_sort, reference §3.6), kept here so the store needs no
// runtime dependency on the schema package. Same sign convention as @hepix/hepix-imagelist-schema's
// compareVersions (a test cross-checks the two): -1 when `a` is older than `b`, 1 when newer, 0 when the same.

const DIGITS = /^\d+$/;

function pieces(s: string, re: RegExp): string[] {
  return s.split(re).filter((p) => p !== '');
}

function compareDigits(a: string, b: string): -1 | 0 | 1 {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareText(a: string, b: string): -1 | 0 | 1 {
  // Code point order, as Python compares strings.
  const xs = Array.from(a, (c) => c.codePointAt(0)!);
  const ys = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) if (xs[i] !== ys[i]) return xs[i] < ys[i] ? -1 : 1;
  return xs.length === ys.length ? 0 : xs.length < ys.length ? -1 : 1;
}

/** Both token lists compared the way the original does; digit tokens rank above text and end the comparison. */
function compareTokens(
  xs: string[],
  ys: string[],
  inner: ((x: string, y: string) => -1 | 0 | 1) | undefined,
): -1 | 0 | 1 {
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i];
    const y = ys[i];
    if (x === y) continue;
    const xd = DIGITS.test(x);
    const yd = DIGITS.test(y);
    if (xd && yd) return compareDigits(x, y);
    if (xd) return 1;
    if (yd) return -1;
    if (!inner) return compareText(x, y);
    const c = inner(x, y);
    if (c !== 0) return c;
  }
  return xs.length === ys.length ? 0 : xs.length < ys.length ? -1 : 1;
}

/** -1 when `a` is an older `hv:version` than `b`, 1 when newer, 0 when the same. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  return compareTokens(pieces(a, /([-,./])/), pieces(b, /([-,./])/), (x, y) =>
    compareTokens(pieces(x, /(\d+)/), pieces(y, /(\d+)/), undefined),
  );
}
