// Properties: a policy written by serializePolicy reads back to the same value; random files either parse
// or fail with a SitePolicyError naming a line of the file; definePolicy agrees with the parser.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  definePolicy,
  parsePolicy,
  SitePolicyError,
  type SitePolicyInput,
  serializePolicy,
} from '../src/index.js';
import { unwritable } from '../src/policy.js';
import { formatAge, formatSize, parseAge, parseSize } from '../src/values.js';
import { expectPolicyError, SUM_A } from './helpers.js';

const patternArb = fc
  .array(
    fc.constantFrom(
      '/DC=ch',
      '/C=DE',
      '/CN=',
      'Jane Doe',
      '.*',
      '.+',
      '[A-Z]',
      '\\d+',
      '(a|b)',
      '(?:x)?',
      ' ',
      ';',
      '#',
      '\\s',
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => parts.join(''))
  .filter((p) => unwritable(p) === undefined);
const idArb = fc.stringMatching(/^[A-Za-z0-9_.:;#-]{1,40}$/).filter((s) => unwritable(s) === undefined);
const sumArb = fc.stringMatching(/^[0-9a-f]{128}$/);
const formatArb = fc.stringMatching(/^[a-z0-9][a-z0-9._+-]{0,10}$/);
const allowDeny = <T>(arb: fc.Arbitrary<T>) =>
  fc.record({ allow: fc.array(arb, { maxLength: 4 }), deny: fc.array(arb, { maxLength: 4 }) });

const policyArb: fc.Arbitrary<SitePolicyInput> = fc.record(
  {
    source: fc.string({ minLength: 1, maxLength: 20 }),
    endorsers: allowDeny(patternArb),
    images: allowDeny(idArb),
    checksums: allowDeny(sumArb),
    limits: fc.record(
      {
        formats: fc.array(formatArb, { maxLength: 5 }),
        maxSizeBytes: fc.oneof(
          fc.maxSafeNat(),
          fc.nat(64).map((n) => n * 1024 ** 3),
        ),
        deprecated: fc.constantFrom('refuse' as const, 'warn' as const),
        maxListAgeSeconds: fc.oneof(
          fc.maxSafeNat(),
          fc.nat(400).map((n) => n * 86_400),
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('parse(serialise(p)) = p', () => {
  it('for any policy', () => {
    fc.assert(
      fc.property(policyArb, (input) => {
        const p = definePolicy(input);
        const text = serializePolicy(p);
        const back = parsePolicy(text, p.source === undefined ? {} : { source: p.source });
        expect(back).toEqual(p);
        expect(serializePolicy(back)).toBe(text);
        // the JSON of the effective policy (--json) is a policy too
        expect(definePolicy(JSON.parse(JSON.stringify(p)))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });

  it('the default policy', () => {
    expect(serializePolicy(DEFAULT_POLICY)).toBe('[limits]\ndeprecated = refuse\n');
    expect(parsePolicy(serializePolicy(DEFAULT_POLICY))).toEqual(DEFAULT_POLICY);
  });

  it('the written form', () => {
    const p = definePolicy({
      endorsers: { allow: ['/DC=ch/DC=cern/.*', '/C=DE/.*'], deny: ['.*CN=Rex Revoked.*'] },
      checksums: { deny: [SUM_A.toUpperCase()] },
      limits: { formats: ['QCOW2', 'raw'], maxSizeBytes: 20 * 1024 ** 3, maxListAgeSeconds: 36 * 3600 },
    });
    expect(serializePolicy(p)).toBe(
      [
        '[endorsers]',
        'allow =',
        '    /DC=ch/DC=cern/.*',
        '    /C=DE/.*',
        'deny = .*CN=Rex Revoked.*',
        '',
        '[checksums]',
        `deny = ${SUM_A}`,
        '',
        '[limits]',
        'formats = qcow2 raw',
        'max-size = 20G',
        'deprecated = refuse',
        'max-list-age = 36h',
        '',
      ].join('\n'),
    );
  });
});

describe('random files', () => {
  const fragment = fc.oneof(
    fc.constantFrom(
      '[endorsers]',
      '[images]',
      '[checksums]',
      '[limits]',
      '[other]',
      'allow = /C=DE/.*',
      'deny = .*(x',
      'whitelist =',
      '  a-b-c',
      '\tb',
      `deny = ${SUM_A}`,
      'formats = qcow2 raw',
      'max-size = 20G',
      'max-size = 1.5',
      'max-list-age = 30d',
      'deprecated = warn',
      '; comment',
      '# comment',
      '',
      '   ',
      'junk',
      '= x',
    ),
    fc.string({ maxLength: 20 }),
  );
  it('parse or fail with a SitePolicyError on a line of the file; what parses round-trips', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 14 }), (lines) => {
        const text = lines.join('\n');
        let policy: ReturnType<typeof parsePolicy>;
        try {
          policy = parsePolicy(text);
        } catch (err) {
          expect(err).toBeInstanceOf(SitePolicyError);
          const e = err as SitePolicyError;
          expect(e.code).not.toBe('ERR_POLICY_INTERNAL');
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.line).toBeLessThanOrEqual(Math.max(1, text.split(/\r\n|\n|\r/).length));
          expect(e.message.startsWith(`policy.cfg:${e.line}: `)).toBe(true);
          return;
        }
        expect(parsePolicy(serializePolicy(policy))).toEqual(policy);
      }),
      { numRuns: 500 },
    );
  });
});

describe('definePolicy', () => {
  it.each([
    ['an unknown field', { limit: {} }, 'ERR_POLICY_UNKNOWN_KEY', 'limit'],
    ['an unknown limit', { limits: { maxSize: 1 } }, 'ERR_POLICY_UNKNOWN_KEY', 'limits.maxSize'],
    ['an unknown list', { images: { whitelist: [] } }, 'ERR_POLICY_UNKNOWN_KEY', 'images.whitelist'],
    ['a list that is a string', { images: { allow: 'a' } }, 'ERR_POLICY_VALUE', 'images.allow'],
    ['a number in a list', { images: { allow: [1] } }, 'ERR_POLICY_VALUE', 'images.allow'],
    ['a short checksum', { checksums: { deny: ['6f3a'] } }, 'ERR_POLICY_VALUE', 'checksums.deny'],
    ['a bad pattern', { endorsers: { allow: ['(a'] } }, 'ERR_POLICY_REGEX', 'endorsers.allow'],
    ['a pattern with a comment', { endorsers: { allow: ['a ;b'] } }, 'ERR_POLICY_VALUE', 'endorsers.allow'],
    ['a value with a new line', { images: { deny: ['a\nb'] } }, 'ERR_POLICY_VALUE', 'images.deny'],
    [
      'a value with white space around',
      { endorsers: { deny: [' x'] } },
      'ERR_POLICY_VALUE',
      'endorsers.deny',
    ],
    ['a value starting a comment', { images: { deny: ['#a'] } }, 'ERR_POLICY_VALUE', 'images.deny'],
    ['an empty value', { images: { deny: [''] } }, 'ERR_POLICY_VALUE', 'images.deny'],
    ['a bad format', { limits: { formats: ['q cow'] } }, 'ERR_POLICY_VALUE', 'limits.formats'],
    ['a negative size', { limits: { maxSizeBytes: -1 } }, 'ERR_POLICY_VALUE', 'limits.maxSizeBytes'],
    ['a fractional size', { limits: { maxSizeBytes: 0.5 } }, 'ERR_POLICY_VALUE', 'limits.maxSizeBytes'],
    ['a size as text', { limits: { maxSizeBytes: '20G' } }, 'ERR_POLICY_VALUE', 'limits.maxSizeBytes'],
    [
      'an unsafe age',
      { limits: { maxListAgeSeconds: 2 ** 53 } },
      'ERR_POLICY_VALUE',
      'limits.maxListAgeSeconds',
    ],
    ['a bad action', { limits: { deprecated: 'ignore' } }, 'ERR_POLICY_VALUE', 'limits.deprecated'],
    ['a source that is no string', { source: 1 }, 'ERR_POLICY_VALUE', 'source'],
    ['not an object', [], 'ERR_POLICY_VALUE', 'policy'],
  ] as const)('%s', (_name, input, code, key) => {
    const before = structuredClone(input);
    const err = expectPolicyError(() => definePolicy(input as never), code);
    expect(err.key).toBe(key);
    expect(input).toEqual(before);
  });

  it('fills in what is left out and normalises like the parser', () => {
    expect(definePolicy({})).toEqual(DEFAULT_POLICY);
    const p = definePolicy({ checksums: { allow: [SUM_A.toUpperCase()] }, limits: { formats: ['QCOW2'] } });
    expect(p.checksums.allow).toEqual([SUM_A]);
    expect(p.limits.formats).toEqual(['qcow2']);
    expect(Object.isFrozen(p.checksums.allow)).toBe(true);
  });
});

describe('sizes and ages', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['512B', 512],
    ['1K', 1024],
    ['1k', 1024],
    ['1KiB', 1024],
    ['2 MiB', 2 * 1024 ** 2],
    ['20G', 20 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['0.5K', 512],
    ['1T', 1024 ** 4],
    ['8191T', 8191 * 1024 ** 4],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('size %s = %d', (text, bytes) => {
    expect(parseSize(text)).toEqual({ ok: true, value: bytes });
    const written = formatSize(bytes);
    expect(parseSize(written)).toEqual({ ok: true, value: bytes });
  });

  it.each(['9007199254740992', '8192T', '-1', '1.5', '0.1K', '1GB', '1 gb', 'G', '', '1e3', '0x10'])(
    'size %j is refused',
    (text) => {
      expect(parseSize(text).ok).toBe(false);
    },
  );

  it.each([
    ['30d', 30 * 86_400, '30d'],
    ['36h', 36 * 3600, '36h'],
    ['90m', 5400, '90m'],
    ['1.5d', 129_600, '36h'],
    ['61s', 61, '61s'],
    ['0s', 0, '0s'],
  ])('age %s = %d s, written %s', (text, seconds, written) => {
    expect(parseAge(text)).toEqual({ ok: true, value: seconds });
    expect(formatAge(seconds)).toBe(written);
  });

  it.each(['30', '30D', '1M', '1w', '-1d', '0.5s', 'd'])('age %j is refused', (text) => {
    expect(parseAge(text).ok).toBe(false);
  });

  it('formatSize chooses the largest exact unit', () => {
    expect([0, 1000, 1536 * 1024, 3 * 1024 ** 3, 1024 ** 4 + 1].map(formatSize)).toEqual([
      '0',
      '1000',
      '1536K',
      '3G',
      '1099511627777',
    ]);
  });
});
