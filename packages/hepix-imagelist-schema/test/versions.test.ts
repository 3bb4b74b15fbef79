import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bumpVersion, compareVersions, ImageListError } from '../src/index.js';

// [older, newer] pairs, in the order split_numeric_sort (§3.6) gives them.
const OLDER_NEWER: [string, string][] = [
  ['1', '2'],
  ['1.2', '1.2.1'], // all shared tokens equal: the longer version is newer
  ['0.0.9', '0.0.10'], // numeric, not string, compare
  ['1.9', '1.10'],
  ['0.0.7', '0.1'],
  ['2', '10'],
  ['3.3.0', '3.3.0-1'],
  ['3.3.0-1', '3.3.0-2'],
  ['3.3.0-9', '3.3.0-10'],
  ['3.3.0-1', '3.3.1'],
  ['20150618211359', '20150618211400'],
  ['9', '20150618211400'],
  ['20150618211400', '99999999999999999999999'], // beyond 2^53: still numeric
  ['1.a', '1.1'], // a digit token ranks above a non-digit token
  ['1.2a', '1.2'], // "2" is all digits, "2a" is not
  ['1.0rc1', '1.0'],
  ['1.2a', '1.2b'], // runs: equal numbers, then string order
  ['rc9', 'rc10'], // digit runs inside a token compare numerically
  ['1a9', '1a10'],
  ['alpha', 'beta'],
  ['1-2', '1.2'], // delimiters are tokens too: "-" sorts before "."
  ['1,2', '1-2'],
  ['', '0'],
  ['0.0.1a', '0.0.2a'],
];

describe('compareVersions', () => {
  for (const [older, newer] of OLDER_NEWER) {
    it(`${JSON.stringify(older)} < ${JSON.stringify(newer)}`, () => {
      expect(compareVersions(older, newer)).toBe(-1);
      expect(compareVersions(newer, older)).toBe(1);
    });
  }

  it('equal versions, including the original quirk that numerically equal tokens stop the comparison', () => {
    expect(compareVersions('3.3.0-1', '3.3.0-1')).toBe(0);
    expect(compareVersions('1.01', '1.1')).toBe(0);
    // "01" vs "1" ends the comparison as equal even though later tokens differ (as in the original).
    expect(compareVersions('1.01.5', '1.1.2')).toBe(0);
    // inside a token the equal digit run ends only that token's comparison; the next token decides
    expect(compareVersions('a01b.2', 'a1c.3')).toBe(-1);
  });

  it('sorts oldest first as an Array.prototype.sort comparator', () => {
    const versions = ['0.0.10', '1.2.1', '0.0.9', '1.2', '3.3.0-1', '20150618211400', '1', '0.1'];
    expect([...versions].sort(compareVersions)).toEqual([
      '0.0.9',
      '0.0.10',
      '0.1',
      '1',
      '1.2',
      '1.2.1',
      '3.3.0-1',
      '20150618211400',
    ]);
  });

  const versionLike = fc.string({ unit: fc.constantFrom(...'0123456789.-/,abZé'.split('')), maxLength: 12 });

  it('is antisymmetric and reflexive', () => {
    fc.assert(
      fc.property(versionLike, versionLike, (a, b) => {
        expect(compareVersions(a, b)).toBe(-compareVersions(b, a) || 0);
        expect(compareVersions(a, a)).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('a bumped version is always newer', () => {
    fc.assert(
      fc.property(
        versionLike.filter((v) => /[0-9]/.test(v)),
        (v) => {
          expect(compareVersions(bumpVersion(v), v)).toBe(1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('throws ERR_IMAGELIST_VERSION for a non-string (a JSON number crashed the original)', () => {
    expect(() => compareVersions(3 as never, '1')).toThrow(ImageListError);
    try {
      compareVersions('1', undefined as never);
    } catch (err) {
      expect((err as ImageListError).code).toBe('ERR_IMAGELIST_VERSION');
    }
    expect.assertions(2);
  });
});

describe('bumpVersion', () => {
  const table: [string | undefined, string][] = [
    ['0.0.1', '0.0.2'],
    ['0.0.9', '0.0.10'],
    ['0.0.1a', '0.0.2a'],
    ['3.3.0-1', '3.3.0-2'],
    ['1', '2'],
    ['3', '4'],
    ['v1.9-rc', 'v1.10-rc'],
    ['20150618211400', '20150618211401'],
    ['99999999999999999999', '100000000000000000000'],
    ['1.007', '1.8'], // like Python's str(int("007") + 1)
    ['0.0.0', '0.0.1'],
    ['release', '0.0.1'],
    ['', '0.0.1'],
    [undefined, '0.0.1'],
  ];
  for (const [from, to] of table) {
    it(`${JSON.stringify(from)} → ${to}`, () => {
      expect(bumpVersion(from)).toBe(to);
    });
  }

  it('throws ERR_IMAGELIST_VERSION for a non-string', () => {
    expect(() => bumpVersion(7 as never)).toThrow(/must be a string/);
  });
});
