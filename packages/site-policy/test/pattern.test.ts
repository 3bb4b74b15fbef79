// The endorser pattern engine: whole-string matching, the supported syntax, what is refused, and agreement
// with JavaScript's RegExp on the common subset.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern, MAX_PATTERN_LENGTH, PatternSyntaxError } from '../src/pattern.js';

const CERN = '/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=Jane Doe';
const REX = '/C=DE/O=GermanGrid/OU=DESY/CN=Rex Revoked';

describe('matching', () => {
  it.each([
    // [pattern, text, matches]
    ['/DC=ch/DC=cern/.*', CERN, true],
    ['/DC=ch/DC=cern/.*', REX, false],
    ['.*CN=Rex Revoked.*', REX, true],
    ['.*CN=Rex Revoked.*', CERN, false],
    // anchored as a full match: a fragment matches nothing
    ['CN=Rex Revoked', REX, false],
    ['/DC=ch', CERN, false],
    ['/C=DE/O=GermanGrid/OU=DESY/CN=Rex Revoked', REX, true],
    ['^/C=DE/.*$', REX, true],
    ['/C=(DE|FR)/O=GermanGrid/.*', REX, true],
    ['/C=(?:FR|IT)/.*', REX, false],
    ['/C=[A-Z]{2}/O=GermanGrid/OU=DESY/CN=.+', REX, true],
    ['/C=[A-Z]{3}/.*', REX, false],
    ['/C=[^/]+/O=GermanGrid/.*', REX, true],
    ['.*/CN=\\d+/.*', CERN, true],
    ['.*/CN=\\d+/.*', REX, false],
    ['.*CN=Rex\\sRevoked', REX, true],
    ['\\/C\\=DE.*', REX, true],
    ['.*Revoked?', REX, true],
    ['.*Revokedd?', REX, true],
    ['.*Revokedd', REX, false],
    ['ab?c', 'ac', true],
    ['ab?c', 'abc', true],
    ['ab?c', 'abbc', false],
    ['(a|b)*c', 'ababc', true],
    ['(a|b)*c', 'ababx', false],
    ['a{2,3}', 'a', false],
    ['a{2,3}', 'aa', true],
    ['a{2,3}', 'aaa', true],
    ['a{2,3}', 'aaaa', false],
    ['a{2,}', 'aaaaaa', true],
    ['a{0}b', 'b', true],
    ['a*?b', 'aab', true],
    ['', '', true],
    ['', 'x', false],
    ['()', '', true],
    ['(a*)*', 'aaa', true],
    ['(a*)*b', 'aaac', false],
    ['a|', '', true],
    ['[\\d-]+', '12-3', true],
    ['[a\\-z]+', '-az', true],
    ['[a\\-z]+', 'b', false],
    ['[-a]+', 'a-', true],
    ['[\\W]+', '/=', true],
    ['[^\\D]+', '42', true],
    ['[^\\D]+', '4x', false],
    ['\\w+', 'ab_9', true],
    ['\\S+', 'a b', false],
    ['a^b', 'ab', false],
    ['(^a)', 'a', true],
    ['a$b', 'ab', false],
    ['é+', 'éé', true],
    ['.', '😀', true],
    ['..', '😀', false],
  ])('%j on %j → %s', (pattern, text, expected) => {
    expect(compilePattern(pattern).matches(text)).toBe(expected);
  });

  it('the same answer when asked again (remembered answers)', () => {
    const p = compilePattern('/DC=ch/DC=cern/.*');
    for (let i = 0; i < 600; i++) {
      expect(p.matches(CERN)).toBe(true);
      expect(p.matches(`${REX}${i}`)).toBe(false);
    }
  });
});

describe('linear time on patterns that make backtracking engines explode', () => {
  // These take exponential time in a backtracking engine (2^5000 paths); the NFA simulation answers them
  // at once. No timing is asserted: a backtracking implementation would simply never finish.
  const long = 'a'.repeat(5000);
  it.each([
    ['(a+)+b', long, false],
    ['(a|a)*b', long, false],
    ['(a|aa)*b', long, false],
    ['(a*)*b', long, false],
    ['(.*a){20}', long, true],
    ['(.*)*x', `${long}y`, false],
    ['(\\w+\\s?)+$', `${'word '.repeat(1000)}!`, false],
  ])('%s', (pattern, text, expected) => {
    expect(compilePattern(pattern).matches(text)).toBe(expected);
  });
});

describe('refused patterns', () => {
  it.each([
    ['(abc', 4, /missing '\)'/],
    ['abc)', 3, /unbalanced/],
    ['[abc', 0, /missing '\]'/],
    ['*abc', 0, /nothing to repeat/],
    ['a**', 2, /multiple repeat/],
    ['a+*', 2, /multiple repeat/],
    ['a*??', 3, /multiple repeat/],
    ['a{2}{3}', 4, /multiple repeat/],
    ['^*', 1, /nothing to repeat/],
    ['a{', 1, /starts no repetition/],
    ['a{,3}', 1, /starts no repetition/],
    ['a{3,2}', 1, /greater than/],
    ['a{1001}', 1, /above 1000/],
    ['{', 0, /starts no repetition/],
    ['a}', 1, /write \\}/],
    ['a]', 1, /write \\]/],
    ['(?=a)', 0, /non-capturing/],
    ['(?i)abc', 0, /non-capturing/],
    ['(?P<n>a)', 0, /non-capturing/],
    ['(a)\\1', 3, /unsupported escape \\1/],
    ['\\bword', 0, /unsupported escape \\b/],
    ['\\x41', 0, /unsupported escape \\x/],
    ['\\u0041', 0, /unsupported escape \\u/],
    ['abc\\', 3, /lone backslash/],
    ['[]a]', 1, /cannot start with '\]'/],
    ['[^]', 2, /cannot start with '\]'/],
    ['[[:alpha:]]', 1, /write \\\[/],
    ['[z-a]', 2, /out of order/],
    ['[\\d-z]', 3, /single character/],
    ['[a-\\d]', 2, /single character/],
    ['[\\b]', 1, /unsupported escape \\b in a class/],
    [`${'('.repeat(101)}a${')'.repeat(101)}`, 100, /nested deeper/],
    ['((a{1000}){1000})', 0, /too complex/],
    ['x'.repeat(MAX_PATTERN_LENGTH + 1), MAX_PATTERN_LENGTH, /longer than 1024/],
  ])('%j', (pattern, index, message) => {
    let err: unknown;
    try {
      compilePattern(pattern);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PatternSyntaxError);
    expect((err as PatternSyntaxError).message).toMatch(message);
    expect((err as PatternSyntaxError).index).toBe(index);
  });

  it('a pattern of the longest length is accepted', () => {
    expect(compilePattern('x'.repeat(MAX_PATTERN_LENGTH)).matches('x'.repeat(MAX_PATTERN_LENGTH))).toBe(true);
  });
});

describe('agrees with RegExp on the common subset', () => {
  // Patterns built from the syntax both accept, over a small alphabet so that matches are frequent.
  const alphabet = ['a', 'b', '/', '=', ' '];
  const atom: fc.Arbitrary<string> = fc.oneof(
    fc.constantFrom(...alphabet),
    fc.constantFrom('.', '\\/', '\\.', '\\s', '\\w', '\\d', '\\W', '[ab]', '[^a]', '[a-b/]', '[\\s=]'),
  );
  const pattern: fc.Arbitrary<string> = fc.letrec<{ p: string; t: string }>((tie) => ({
    p: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      atom,
      fc.tuple(tie('t'), tie('t')).map(([x, y]) => x + y),
      fc.tuple(tie('t'), tie('t')).map(([x, y]) => `${x}|${y}`),
    ),
    t: fc.oneof(
      { depthSize: 'small' },
      atom,
      tie('p').map((x) => `(${x})`),
      tie('p').map((x) => `(?:${x})`),
      fc.tuple(atom, fc.constantFrom('*', '+', '?', '{2}', '{1,2}', '{0,}', '*?')).map(([a, q]) => a + q),
      fc.tuple(tie('p'), fc.constantFrom('*', '+', '?', '{1,3}')).map(([x, q]) => `(${x})${q}`),
    ),
  })).p;
  const text = fc.array(fc.constantFrom(...alphabet, 'c', '1'), { maxLength: 12 }).map((a) => a.join(''));

  it('whole-string match equals RegExp ^(?:p)$ with the u and s flags', () => {
    fc.assert(
      fc.property(pattern, fc.array(text, { minLength: 1, maxLength: 8 }), (p, texts) => {
        const ours = compilePattern(p);
        const theirs = new RegExp(`^(?:${p})$`, 'su');
        for (const t of texts) expect(ours.matches(t), `${p} on ${JSON.stringify(t)}`).toBe(theirs.test(t));
      }),
      { numRuns: 400 },
    );
  });

  it('a text the pattern was built to match is matched', () => {
    // Generates (pattern, matching text) pairs, so that positive answers are checked as much as negative ones.
    const pair: fc.Arbitrary<[string, string]> = fc.letrec<{ n: [string, string] }>((tie) => ({
      n: fc.oneof(
        { depthSize: 'small' },
        fc
          .constantFrom(...alphabet)
          .map((c): [string, string] => [c === ' ' ? '\\s' : c === '/' ? '\\/' : c, c]),
        fc
          .tuple(tie('n'), tie('n'))
          .map(([a, b]): [string, string] => [`(?:${a[0]})(?:${b[0]})`, a[1] + b[1]]),
        fc.tuple(tie('n'), tie('n')).map(([a, b]): [string, string] => [`(?:${a[0]}|${b[0]})`, b[1]]),
        fc
          .tuple(tie('n'), fc.integer({ min: 0, max: 3 }))
          .map(([a, k]): [string, string] => [`(?:${a[0]})*`, a[1].repeat(k)]),
      ),
    })).n;
    fc.assert(
      fc.property(pair, ([p, t]) => {
        expect(compilePattern(p).matches(t)).toBe(true);
        expect(new RegExp(`^(?:${p})$`, 'su').test(t)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
