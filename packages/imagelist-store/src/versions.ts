// A local copy of the ordering of the originals' split_numeric_sort (reference §3.6), so the store does not
// depend on the schema package. Returns +1 when `b` is newer, -1 when `a` is newer, 0 when equal.

const DIGITS = /^\d+$/;

function compareBig(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? 1 : -1;
  if (x === y) return 0;
  return x < y ? 1 : -1;
}

/** The original string_sort: digit runs compare numerically, other runs by reversed string order. */
function compareMixed(a: string, b: string): number {
  const xs = a.split(/(\d+)/).filter((s) => s !== '');
  const ys = b.split(/(\d+)/).filter((s) => s !== '');
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    const y = ys[i];
    if (x === y) continue;
    const xd = DIGITS.test(x);
    const yd = DIGITS.test(y);
    if (xd && yd) {
      const c = compareBig(x, y);
      if (c !== 0) return c;
      continue;
    }
    if (xd !== yd) return xd ? -1 : 1;
    return x > y ? -1 : 1;
  }
  if (xs.length === ys.length) return 0;
  return xs.length < ys.length ? 1 : -1;
}

/** split_numeric_sort(a, b): +1 if `b` is newer, -1 if `a` is newer, 0 if they are the same version. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const xs = a.split(/([-,./])/).filter((s) => s !== '');
  const ys = b.split(/([-,./])/).filter((s) => s !== '');
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    const y = ys[i];
    if (x === y) continue;
    const xd = DIGITS.test(x);
    const yd = DIGITS.test(y);
    let c: number;
    if (xd && yd) c = compareBig(x, y);
    else if (xd !== yd) c = xd ? -1 : 1;
    else c = compareMixed(x, y);
    if (c !== 0) return c < 0 ? -1 : 1;
  }
  if (xs.length === ys.length) return 0;
  return xs.length < ys.length ? 1 : -1;
}
