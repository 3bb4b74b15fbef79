import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  parsePolicy,
  SITE_POLICY_ERROR_CODES,
  SitePolicyError,
  type SitePolicyErrorCode,
} from '../src/index.js';
import { internal } from '../src/errors.js';
import { expectPolicyError, SUM_A, SUM_B } from './helpers.js';

describe('the file of the issue', () => {
  const text = `[endorsers]
allow = /DC=ch/DC=cern/.*        ; regular expressions over the one-line DN, one per line
deny  = .*CN=Rex Revoked.*
[images]
allow = 858a817e-0ca2-473f-89d3-d5bdfc51968e
deny  =
[checksums]
deny  = ${SUM_A}                     ; sha512 values
[limits]
formats = qcow2 raw ova           ; hv:format values, case-insensitive
max-size = 20G
deprecated = refuse               ; refuse | warn
max-list-age = 30d                ; refuse a list whose dc:date:created is older: a replayed but unexpired list
`;

  it('parses to the plain, frozen value', () => {
    const policy = parsePolicy(text, { source: '/etc/vmcatcher/policy.cfg' });
    expect(policy).toEqual({
      source: '/etc/vmcatcher/policy.cfg',
      endorsers: { allow: ['/DC=ch/DC=cern/.*'], deny: ['.*CN=Rex Revoked.*'] },
      images: { allow: ['858a817e-0ca2-473f-89d3-d5bdfc51968e'], deny: [] },
      checksums: { allow: [], deny: [SUM_A] },
      limits: {
        formats: ['qcow2', 'raw', 'ova'],
        maxSizeBytes: 20 * 1024 ** 3,
        deprecated: 'refuse',
        maxListAgeSeconds: 30 * 86_400,
      },
    });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.endorsers.allow)).toBe(true);
    expect(Object.isFrozen(policy.limits)).toBe(true);
    expect(JSON.parse(JSON.stringify(policy))).toEqual(policy);
  });

  it('without a source, the value has none and messages say policy.cfg', () => {
    expect(parsePolicy(text)).not.toHaveProperty('source');
    const err = expectPolicyError(() => parsePolicy('[nope]'), 'ERR_POLICY_UNKNOWN_SECTION');
    expect(err.message).toMatch(/^policy\.cfg:1: /);
    expect(err).not.toHaveProperty('source');
  });
});

describe('file syntax', () => {
  it('an empty file, comments and blank lines only, empty sections: the default policy', () => {
    for (const text of [
      '',
      '\n\n',
      '; nothing\n# at all\n',
      '[endorsers]\n[images]\n[checksums]\n[limits]\n',
    ]) {
      expect(parsePolicy(text)).toEqual(DEFAULT_POLICY);
    }
  });

  it("StratusLab's spellings (whitelist…, blacklist…, whitelistendorsers…) and its continuation layout", () => {
    const policy = parsePolicy(`[endorsers]
whitelistendorsers=
 /DC=ch/DC=cern/.*
 /C=DE/O=GermanGrid/.*

blacklistendorsers=
 .*CN=Rex Revoked.*

[images]
whitelistimages=
 GOaxJFdoEXvqAm9ArJgnZ0_ky6F
blacklistimages=
 GOaxJFdoEXvqAm9ArJgnZ0_GGG

[checksums]
whitelist=
 ${SUM_A}
blacklist =
 ${SUM_B}
`);
    expect(policy.endorsers).toEqual({
      allow: ['/DC=ch/DC=cern/.*', '/C=DE/O=GermanGrid/.*'],
      deny: ['.*CN=Rex Revoked.*'],
    });
    expect(policy.images).toEqual({
      allow: ['GOaxJFdoEXvqAm9ArJgnZ0_ky6F'],
      deny: ['GOaxJFdoEXvqAm9ArJgnZ0_GGG'],
    });
    expect(policy.checksums).toEqual({ allow: [SUM_A], deny: [SUM_B] });
  });

  it('continuation lines: tabs, blank lines and comments between them, a value on the key line too', () => {
    const policy = parsePolicy(
      [
        '[images]',
        'allow = a-1',
        '\ta-2',
        '',
        '   ; a comment between values',
        '# another',
        '    a-3   ; and an inline one',
        'deny: b-1',
      ].join('\n'),
    );
    expect(policy.images).toEqual({ allow: ['a-1', 'a-2', 'a-3'], deny: ['b-1'] });
  });

  it('section and key names are case-insensitive; `:` works like `=`; values keep `=` and `:`', () => {
    const policy = parsePolicy('[Endorsers]\nALLOW: /CN=a:b=c\n[LIMITS]\nMax-Size = 1k\nDeprecated=WARN\n');
    expect(policy.endorsers.allow).toEqual(['/CN=a:b=c']);
    expect(policy.limits.maxSizeBytes).toBe(1024);
    expect(policy.limits.deprecated).toBe('warn');
  });

  it('an inline comment needs white space before ; or #, so they may appear inside a value', () => {
    const policy = parsePolicy('[images]\nallow = a;b#c ;comment\n  d\t# comment\n');
    expect(policy.images.allow).toEqual(['a;b#c', 'd']);
  });

  it('CRLF and CR line ends, a UTF-8 byte order mark, bytes as input', () => {
    const text = '\ufeff[limits]\r\nformats = qcow2,raw\r\n  OVA  vmdk\rmax-size = 1.5G\r\n';
    const expected = {
      formats: ['qcow2', 'raw', 'ova', 'vmdk'],
      maxSizeBytes: 1610612736,
      deprecated: 'refuse',
    };
    expect(parsePolicy(text).limits).toEqual(expected);
    expect(parsePolicy(new TextEncoder().encode(text)).limits).toEqual(expected);
  });

  it('patterns keep their inner spaces; checksums are lower-cased; identifiers are kept as written', () => {
    const policy = parsePolicy(
      `[endorsers]\ndeny = .*CN=Rex  Revoked.*  \n[checksums]\ndeny = ${SUM_A.toUpperCase()}\n[images]\ndeny = ABC-Def\n`,
    );
    expect(policy.endorsers.deny).toEqual(['.*CN=Rex  Revoked.*']);
    expect(policy.checksums.deny).toEqual([SUM_A]);
    expect(policy.images.deny).toEqual(['ABC-Def']);
  });

  it('empty values switch a rule off', () => {
    const policy = parsePolicy(
      '[images]\nallow =\ndeny = ; none\n[limits]\nmax-size =\nmax-list-age=\nformats=\n',
    );
    expect(policy).toEqual(DEFAULT_POLICY);
  });
});

describe('every problem is an error naming the line', () => {
  const cases: [string, string, SitePolicyErrorCode, number, string, RegExp][] = [
    // [name, text, code, line, offending text, message]
    ['key before any section', 'allow = x\n', 'ERR_POLICY_SYNTAX', 1, 'allow = x', /before any \[section\]/],
    [
      'a line that is no key',
      '[images]\nallow = a\njust words\n',
      'ERR_POLICY_SYNTAX',
      3,
      'just words',
      /expected \[section\], key = value/,
    ],
    ['a key without a name', '[images]\n= a\n', 'ERR_POLICY_SYNTAX', 2, '= a', /expected \[section\]/],
    ['a key with spaces', '[images]\nal low = a\n', 'ERR_POLICY_SYNTAX', 2, 'al low = a', /bad key "al low"/],
    [
      'an indented line after a section header',
      '[images]\n  a\n',
      'ERR_POLICY_SYNTAX',
      2,
      '  a',
      /continues no key/,
    ],
    ['an indented first line', '   [images]\n', 'ERR_POLICY_SYNTAX', 1, '   [images]', /continues no key/],
    ['an unterminated section header', '[images\n', 'ERR_POLICY_SYNTAX', 1, '[images', /bad section header/],
    [
      'text after a section header',
      '[images] x\n',
      'ERR_POLICY_SYNTAX',
      1,
      '[images] x',
      /bad section header/,
    ],
    ['an empty section header', '[ ]\n', 'ERR_POLICY_SYNTAX', 1, '[ ]', /bad section header/],
    [
      'a control character',
      '[images]\nallow = a\u0000b\n',
      'ERR_POLICY_SYNTAX',
      2,
      'allow = a\u0000b',
      /control character in "allow = a\\u0000b"/,
    ],
    [
      'an unknown section',
      '[images]\n\n[policy]\n',
      'ERR_POLICY_UNKNOWN_SECTION',
      3,
      '[policy]',
      /unknown section \[policy\]: expected \[endorsers\]/,
    ],
    [
      'StratusLab [validatemetadatafile]',
      '[validatemetadatafile]\nactivate=False\n',
      'ERR_POLICY_UNKNOWN_SECTION',
      1,
      '[validatemetadatafile]',
      /cannot be turned off/,
    ],
    [
      'a [DEFAULT] section',
      '[DEFAULT]\n',
      'ERR_POLICY_UNKNOWN_SECTION',
      1,
      '[DEFAULT]',
      /unknown section \[DEFAULT\]/,
    ],
    [
      'an unknown key',
      '[limits]\nformats = raw\nmax_size = 1G\n',
      'ERR_POLICY_UNKNOWN_KEY',
      3,
      'max_size = 1G',
      /\[limits\] unknown key "max_size": expected formats, max-size, deprecated, max-list-age/,
    ],
    [
      'a limits key in another section',
      '[images]\nformats = raw\n',
      'ERR_POLICY_UNKNOWN_KEY',
      2,
      'formats = raw',
      /expected allow, deny/,
    ],
    [
      'a section twice',
      '[images]\nallow = a\n[limits]\n[images]\n',
      'ERR_POLICY_DUPLICATE',
      4,
      '[images]',
      /section \[images\] again \(first at line 1\)/,
    ],
    [
      'a key twice',
      '[images]\nallow = a\ndeny = b\nallow = c\n',
      'ERR_POLICY_DUPLICATE',
      4,
      'allow = c',
      /allow again \(first at line 2\)/,
    ],
    [
      'a key and its other spelling',
      '[images]\nallow = a\nwhitelist = b\n',
      'ERR_POLICY_DUPLICATE',
      3,
      'whitelist = b',
      /whitelist \(the same as allow\) again/,
    ],
    [
      'a short checksum',
      `[checksums]\ndeny = ${SUM_A}\n  6f3a\n`,
      'ERR_POLICY_VALUE',
      3,
      '6f3a',
      /\[checksums\] deny "6f3a": not a sha512 value/,
    ],
    [
      'a SHA-1 checksum (StratusLab)',
      '[checksums]\nblacklistchecksums=\n 639ac4915da045efa809bd02b2609d9d3f932e85\n',
      'ERR_POLICY_VALUE',
      3,
      '639ac4915da045efa809bd02b2609d9d3f932e85',
      /SHA-1/,
    ],
    [
      'a checksum that is not hex',
      `[checksums]\nallow = ${'g'.repeat(128)}\n`,
      'ERR_POLICY_VALUE',
      2,
      'g'.repeat(128),
      /not a sha512 value/,
    ],
    [
      'two identifiers on one line',
      '[images]\ndeny = a b\n',
      'ERR_POLICY_VALUE',
      2,
      'a b',
      /one value per line/,
    ],
    [
      'a bad format',
      '[limits]\nformats = qcow2 .raw\n',
      'ERR_POLICY_VALUE',
      2,
      '.raw',
      /not an image format/,
    ],
    ['a negative size', '[limits]\nmax-size = -1G\n', 'ERR_POLICY_VALUE', 2, '-1G', /cannot be negative/],
    [
      'fractional bytes',
      '[limits]\nmax-size = 1.5\n',
      'ERR_POLICY_VALUE',
      2,
      '1.5',
      /not a whole number of bytes/,
    ],
    [
      'a fraction that is not a whole byte',
      '[limits]\nmax-size = 0.0001K\n',
      'ERR_POLICY_VALUE',
      2,
      '0.0001K',
      /whole number of bytes/,
    ],
    ['a size beyond 2^53', '[limits]\nmax-size = 8193T\n', 'ERR_POLICY_VALUE', 2, '8193T', /too large/],
    [
      'a decimal unit',
      '[limits]\nmax-size = 20GB\n',
      'ERR_POLICY_VALUE',
      2,
      '20GB',
      /ambiguous unit GB: write G or GiB/,
    ],
    [
      'an unknown size unit',
      '[limits]\nmax-size = 20X\n',
      'ERR_POLICY_VALUE',
      2,
      '20X',
      /unknown size unit X/,
    ],
    ['a size that is no number', '[limits]\nmax-size = big\n', 'ERR_POLICY_VALUE', 2, 'big', /not a size/],
    [
      'two sizes',
      '[limits]\nmax-size = 1G\n   2G\n',
      'ERR_POLICY_VALUE',
      3,
      '2G',
      /a second value: max-size takes one/,
    ],
    ['an age without a unit', '[limits]\nmax-list-age = 30\n', 'ERR_POLICY_VALUE', 2, '30', /needs a unit/],
    ['an age in months', '[limits]\nmax-list-age = 1M\n', 'ERR_POLICY_VALUE', 2, '1M', /unknown age unit M/],
    ['a negative age', '[limits]\nmax-list-age = -3d\n', 'ERR_POLICY_VALUE', 2, '-3d', /cannot be negative/],
    [
      'an age in fractions of a second',
      '[limits]\nmax-list-age = 1.5s\n',
      'ERR_POLICY_VALUE',
      2,
      '1.5s',
      /whole number of seconds/,
    ],
    [
      'a bad deprecated action',
      '[limits]\ndeprecated = ignore\n',
      'ERR_POLICY_VALUE',
      2,
      'ignore',
      /refuse or warn/,
    ],
    [
      'a pattern that does not compile',
      '[endorsers]\nallow = /DC=ch/.*\n  .*(CN=x\n',
      'ERR_POLICY_REGEX',
      3,
      '.*(CN=x',
      /\[endorsers\] allow "\.\*\(CN=x": not a supported regular expression: missing '\)'/,
    ],
    [
      'a back-reference',
      '[endorsers]\ndeny = (a)\\1\n',
      'ERR_POLICY_REGEX',
      2,
      '(a)\\1',
      /unsupported escape \\1 .*at character 4/,
    ],
    [
      'a pattern too long',
      `[endorsers]\ndeny = ${'a'.repeat(1025)}\n`,
      'ERR_POLICY_REGEX',
      2,
      'a'.repeat(1025),
      /longer than 1024 characters/,
    ],
  ];

  it.each(cases)('%s', (_name, text, code, line, offending, message) => {
    const err = expectPolicyError(() => parsePolicy(text, { source: 'site.cfg' }), code);
    expect(err.line).toBe(line);
    expect(err.source).toBe('site.cfg');
    expect(err.text).toBe(offending);
    expect(err.message.startsWith(`site.cfg:${line}: `), err.message).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('the first problem in the file is the one reported', () => {
    const text = '[limits]\nmax-size = huge\n[checksums]\ndeny = short\n';
    expect(expectPolicyError(() => parsePolicy(text), 'ERR_POLICY_VALUE').line).toBe(2);
    const swapped = '[checksums]\ndeny = short\n[limits]\nmax-size = huge\n';
    expect(expectPolicyError(() => parsePolicy(swapped), 'ERR_POLICY_VALUE').line).toBe(2);
  });

  it('invalid UTF-8 is an error on its line', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('[images]\nallow = a\ndeny = '), 0xff, 0x0a]);
    const err = expectPolicyError(() => parsePolicy(bytes), 'ERR_POLICY_SYNTAX');
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/not valid UTF-8/);
  });

  it('errors carry the section and key', () => {
    const err = expectPolicyError(() => parsePolicy('[limits]\nmax-size = x\n'), 'ERR_POLICY_VALUE');
    expect(err.section).toBe('limits');
    expect(err.key).toBe('max-size');
  });

  it('every code is declared once, and the error is a HepixError with a name', () => {
    expect(new Set(SITE_POLICY_ERROR_CODES).size).toBe(SITE_POLICY_ERROR_CODES.length);
    const err = new SitePolicyError('ERR_POLICY_SYNTAX', 'x');
    expect(err.name).toBe('SitePolicyError');
    expect(err).toBeInstanceOf(Error);
    expect(Object.keys(err)).not.toContain('line');
  });
});

describe('calls that are wrong', () => {
  it('policy text that is neither a string nor bytes', () => {
    expectPolicyError(() => parsePolicy(42 as never), 'ERR_POLICY_INPUT');
    expectPolicyError(() => parsePolicy(undefined as never), 'ERR_POLICY_INPUT');
  });

  it('an unexpected failure inside the package is ERR_POLICY_INTERNAL, with the cause', () => {
    const boom = new TypeError('boom');
    const err = expectPolicyError(
      () =>
        internal('step', () => {
          throw boom;
        }),
      'ERR_POLICY_INTERNAL',
    );
    expect(err.cause).toBe(boom);
    expect(err.message).toBe('step: unexpected failure: TypeError: boom');
    const own = new SitePolicyError('ERR_POLICY_VALUE', 'x');
    expect(
      expectPolicyError(
        () =>
          internal('step', () => {
            throw own;
          }),
        'ERR_POLICY_VALUE',
      ),
    ).toBe(own);
  });
});
