import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  definePolicy,
  deprecationOf,
  evaluateCandidates,
  evaluateListPolicy,
  evaluatePolicy,
  imageLocations,
  POLICY_RULES,
  type PolicyDecision,
  type PolicyRule,
  parsePolicy,
  type SitePolicy,
} from '../src/index.js';
import {
  CERN_DN,
  DESY_DN,
  expectPolicyError,
  image,
  list,
  NOW,
  REX_DN,
  SUM_A,
  SUM_B,
  SUM_C,
} from './helpers.js';

const GiB = 1024 ** 3;

interface Row {
  name: string;
  policy: string;
  image?: Record<string, unknown>;
  list?: Record<string, unknown>;
  /** undefined = allowed */
  refusedBy?: PolicyRule;
  /** rules expected to fail besides refusedBy */
  alsoFailed?: PolicyRule[];
  warnings?: number;
  /** a fragment of the detail of the deciding rule (refusedBy, or `detailOf`) */
  detail?: RegExp;
  detailOf?: PolicyRule;
}

const rows: Row[] = [
  // The default policy: only deprecation is on.
  {
    name: 'default policy, plain image',
    policy: '',
    detailOf: 'limits.deprecated',
    detail: /^not deprecated$/,
  },

  // [endorsers]
  {
    name: 'endorser in the allow list',
    policy: '[endorsers]\nallow = /C=DE/O=GermanGrid/.*',
    detailOf: 'endorsers.allow',
    detail: /matches allowed pattern \/C=DE\/O=GermanGrid\/\.\*/,
  },
  {
    name: 'endorser outside the allow list',
    policy: '[endorsers]\nallow = /DC=ch/DC=cern/.*',
    refusedBy: 'endorsers.allow',
    detail: /signer \/C=DE\/O=GermanGrid\/OU=DESY\/CN=Owen Synge matches no allowed pattern/,
  },
  {
    name: 'second allow pattern matches',
    policy: '[endorsers]\nallow = /DC=ch/DC=cern/.*\n  /C=DE/.*',
    detailOf: 'endorsers.allow',
    detail: /allowed pattern \/C=DE\/\.\*/,
  },
  {
    name: 'endorser in the deny list',
    policy: '[endorsers]\ndeny = .*CN=Rex Revoked.*',
    list: { signer: { subject: REX_DN } },
    refusedBy: 'endorsers.deny',
    detail: /matches denied pattern \.\*CN=Rex Revoked\.\*/,
  },
  {
    name: 'endorser not in the deny list',
    policy: '[endorsers]\ndeny = .*CN=Rex Revoked.*',
    detailOf: 'endorsers.deny',
    detail: /matches no denied pattern/,
  },
  {
    name: 'deny wins over allow',
    policy: '[endorsers]\nallow = /C=DE/.*\ndeny = .*CN=Rex Revoked.*',
    list: { signer: { subject: REX_DN } },
    refusedBy: 'endorsers.deny',
  },
  {
    name: 'patterns match the whole DN, not a part',
    policy: '[endorsers]\ndeny = CN=Rex Revoked',
    list: { signer: { subject: REX_DN } },
  },
  {
    name: 'patterns are case-sensitive',
    policy: '[endorsers]\nallow = /c=de/.*',
    refusedBy: 'endorsers.allow',
  },
  {
    name: 'denied and outside the allow list: both fail, deny first',
    policy: '[endorsers]\nallow = /DC=ch/.*\ndeny = /C=DE/.*',
    refusedBy: 'endorsers.deny',
    alsoFailed: ['endorsers.allow'],
  },

  // [images]
  { name: 'image in the allow list', policy: '[images]\nallow = 858a817e-0ca2-473f-89d3-d5bdfc51968e' },
  {
    name: 'image allow list compared case-insensitively',
    policy: '[images]\nallow = 858A817E-0CA2-473F-89D3-D5BDFC51968E',
  },
  {
    name: 'image outside the allow list',
    policy: '[images]\nallow = 11111111-2222-3333-4444-555555555555',
    refusedBy: 'images.allow',
    detail: /858a817e-0ca2-473f-89d3-d5bdfc51968e is not in the allow list/,
  },
  {
    name: 'image in the deny list',
    policy: '[images]\ndeny = 858a817e-0ca2-473f-89d3-d5bdfc51968e',
    refusedBy: 'images.deny',
    detail: /is denied/,
  },
  {
    name: 'image deny wins over allow',
    policy:
      '[images]\nallow = 858a817e-0ca2-473f-89d3-d5bdfc51968e\ndeny = 858a817e-0ca2-473f-89d3-d5bdfc51968e',
    refusedBy: 'images.deny',
  },
  {
    name: 'no dc:identifier, allow list set',
    policy: '[images]\nallow = x',
    image: { 'dc:identifier': undefined },
    refusedBy: 'images.allow',
    detail: /no dc:identifier/,
  },
  {
    name: 'no dc:identifier, deny list only',
    policy: '[images]\ndeny = x',
    image: { 'dc:identifier': undefined },
    detailOf: 'images.deny',
    detail: /no dc:identifier/,
  },

  // [checksums]
  {
    name: 'deny-listed checksum',
    policy: `[checksums]\ndeny = ${SUM_B}\n  ${SUM_A}`,
    refusedBy: 'checksums.deny',
    detail: new RegExp(`sha512 ${SUM_A.slice(0, 16)}… is denied`),
  },
  {
    name: 'deny-listed checksum published in upper case',
    policy: `[checksums]\ndeny = ${SUM_A}`,
    image: { 'sl:checksum:sha512': SUM_A.toUpperCase() },
    refusedBy: 'checksums.deny',
  },
  { name: 'checksum not denied', policy: `[checksums]\ndeny = ${SUM_B}` },
  { name: 'checksum in the allow list', policy: `[checksums]\nallow = ${SUM_A}` },
  {
    name: 'checksum outside the allow list',
    policy: `[checksums]\nallow = ${SUM_C}`,
    refusedBy: 'checksums.allow',
    detail: /is not in the allow list/,
  },
  {
    name: 'checksum deny wins over allow',
    policy: `[checksums]\nallow = ${SUM_A}\ndeny = ${SUM_A}`,
    refusedBy: 'checksums.deny',
  },
  {
    name: 'no checksum, allow list set',
    policy: `[checksums]\nallow = ${SUM_A}`,
    image: { 'sl:checksum:sha512': undefined },
    refusedBy: 'checksums.allow',
    detail: /no sl:checksum:sha512/,
  },

  // [limits] formats
  {
    name: 'format allowed, case-insensitive',
    policy: '[limits]\nformats = qcow2 raw ova',
    detailOf: 'limits.formats',
    detail: /format QCOW2 is allowed/,
  },
  {
    name: 'format not allowed',
    policy: '[limits]\nformats = raw ova',
    refusedBy: 'limits.formats',
    detail: /format QCOW2 is not allowed \(allowed: raw ova\)/,
  },
  {
    name: 'no hv:format while formats are restricted',
    policy: '[limits]\nformats = qcow2',
    image: { 'hv:format': undefined },
    refusedBy: 'limits.formats',
    detail: /no hv:format/,
  },
  { name: 'no hv:format and no format rule', policy: '', image: { 'hv:format': undefined } },
  { name: 'compressed format names', policy: '[limits]\nformats = vdi.gz', image: { 'hv:format': 'VDI.GZ' } },

  // [limits] max-size
  { name: 'size equal to max-size', policy: '[limits]\nmax-size = 2G' },
  {
    name: 'oversized image',
    policy: '[limits]\nmax-size = 2G',
    image: { 'hv:size': 2 * GiB + 1 },
    refusedBy: 'limits.max-size',
    detail: /hv:size 2147483649 bytes exceeds max-size 2G/,
  },
  {
    name: 'size as a numeric string (AppDB)',
    policy: '[limits]\nmax-size = 1G',
    image: { 'hv:size': '121243136' },
  },
  {
    name: 'oversized, size as a string',
    policy: '[limits]\nmax-size = 1K',
    image: { 'hv:size': '1025' },
    refusedBy: 'limits.max-size',
  },
  {
    name: 'size that is not a byte count',
    policy: '[limits]\nmax-size = 1G',
    image: { 'hv:size': '2G' },
    refusedBy: 'limits.max-size',
    detail: /no valid hv:size/,
  },
  {
    name: 'negative size',
    policy: '[limits]\nmax-size = 1G',
    image: { 'hv:size': -1 },
    refusedBy: 'limits.max-size',
  },
  {
    name: 'no size',
    policy: '[limits]\nmax-size = 1G',
    image: { 'hv:size': undefined },
    refusedBy: 'limits.max-size',
  },
  { name: 'no size and no size rule', policy: '', image: { 'hv:size': undefined } },

  // [limits] deprecated
  {
    name: 'deprecated, refused by default',
    policy: '',
    image: { 'sl:deprecated': 'replaced by 2.0' },
    refusedBy: 'limits.deprecated',
    detail: /deprecated: replaced by 2\.0/,
  },
  {
    name: 'deprecated = refuse',
    policy: '[limits]\ndeprecated = refuse',
    image: { 'sl:deprecated': 'CVE-2024-1' },
    refusedBy: 'limits.deprecated',
  },
  {
    name: 'deprecated = warn',
    policy: '[limits]\ndeprecated = warn',
    image: { 'sl:deprecated': 'CVE-2024-1' },
    warnings: 1,
    detailOf: 'limits.deprecated',
    detail: /allowed by deprecated = warn/,
  },
  {
    name: 'deprecated: true',
    policy: '',
    image: { 'sl:deprecated': true },
    refusedBy: 'limits.deprecated',
    detail: /no reason given/,
  },
  {
    name: 'deprecated: empty reason',
    policy: '',
    image: { 'sl:deprecated': '' },
    refusedBy: 'limits.deprecated',
  },
  { name: 'deprecated: false', policy: '', image: { 'sl:deprecated': false } },
  { name: 'deprecated: null', policy: '', image: { 'sl:deprecated': null } },

  // [limits] max-list-age (list created 2026-11-20T00:00:00Z, now 2026-12-01T12:00:00Z: 11.5 days)
  {
    name: 'list younger than max-list-age',
    policy: '[limits]\nmax-list-age = 30d',
    detailOf: 'limits.max-list-age',
    detail: /11\.5 days ago: within max-list-age 30d/,
  },
  {
    name: 'old but unexpired list',
    policy: '[limits]\nmax-list-age = 7d',
    refusedBy: 'limits.max-list-age',
    detail: /list created 2026-11-20T00:00:00Z, 11\.5 days ago: older than max-list-age 7d/,
  },
  { name: 'list exactly max-list-age old', policy: '[limits]\nmax-list-age = 276h' },
  {
    name: 'list one second older',
    policy: '[limits]\nmax-list-age = 993599s',
    refusedBy: 'limits.max-list-age',
  },
  {
    name: 'created as written in the list',
    policy: '[limits]\nmax-list-age = 7d',
    list: { created: '2026-11-30T00:00:00Z' },
  },
  {
    name: 'created in the future',
    policy: '[limits]\nmax-list-age = 7d',
    list: { created: '2027-01-01T00:00:00Z' },
    detailOf: 'limits.max-list-age',
    detail: /in the future/,
  },
  {
    name: 'no created date',
    policy: '[limits]\nmax-list-age = 7d',
    list: { created: undefined },
    refusedBy: 'limits.max-list-age',
    detail: /no valid dc:date:created/,
  },
  {
    name: 'an unparsable created date',
    policy: '[limits]\nmax-list-age = 7d',
    list: { created: 'yesterday' },
    refusedBy: 'limits.max-list-age',
  },
  { name: 'no created date and no age rule', policy: '', list: { created: undefined } },

  // Combinations: every rule is evaluated; the first refusing one in decision order decides.
  {
    name: 'everything wrong at once',
    policy: `[endorsers]\nallow = /DC=ch/.*\n[images]\ndeny = 858a817e-0ca2-473f-89d3-d5bdfc51968e\n[checksums]\ndeny = ${SUM_A}\n[limits]\nformats = raw\nmax-size = 1G\nmax-list-age = 1d`,
    image: { 'sl:deprecated': 'old' },
    refusedBy: 'limits.max-list-age',
    alsoFailed: [
      'endorsers.allow',
      'images.deny',
      'checksums.deny',
      'limits.formats',
      'limits.max-size',
      'limits.deprecated',
    ],
  },
  {
    name: 'policy refusal before deprecation',
    policy: '[limits]\nformats = raw',
    image: { 'sl:deprecated': 'old' },
    refusedBy: 'limits.formats',
    alsoFailed: ['limits.deprecated'],
  },
  {
    name: 'everything right at once',
    policy: `[endorsers]\nallow = /C=DE/.*\ndeny = .*Revoked.*\n[images]\nallow = 858a817e-0ca2-473f-89d3-d5bdfc51968e\n[checksums]\nallow = ${SUM_A}\ndeny = ${SUM_B}\n[limits]\nformats = qcow2\nmax-size = 2G\nmax-list-age = 30d\ndeprecated = warn`,
  },
  {
    name: 'deprecated under warn, but oversized',
    policy: '[limits]\ndeprecated = warn\nmax-size = 1G',
    image: { 'sl:deprecated': 'old' },
    refusedBy: 'limits.max-size',
    warnings: 1,
  },
];

function lookup(decision: PolicyDecision, rule: PolicyRule) {
  const r = decision.reasons.find((x) => x.rule === rule);
  expect(r, rule).toBeDefined();
  return r!;
}

describe('evaluatePolicy: every rule and combination', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const policy = parsePolicy(row.policy);
    const img = image(row.image);
    const facts = list(row.list);
    const before = structuredClone({ img, facts });
    const d = evaluatePolicy(policy, img, facts, { now: NOW });

    // one reason per rule, in decision order
    expect(d.reasons.map((r) => r.rule)).toEqual([...POLICY_RULES]);
    const failed = d.reasons.filter((r) => !r.passed).map((r) => r.rule);
    if (row.refusedBy === undefined) {
      expect(d.decision).toBe('allow');
      expect(d).not.toHaveProperty('refusedBy');
      expect(d).not.toHaveProperty('expiryReason');
      expect(failed).toEqual([]);
    } else {
      expect(d.decision).toBe('refuse');
      expect(d.refusedBy).toBe(row.refusedBy);
      expect(failed).toEqual(POLICY_RULES.filter((r) => r === row.refusedBy || row.alsoFailed?.includes(r)));
      expect(d.expiryReason).toBe(
        row.refusedBy === 'limits.deprecated'
          ? 'deprecated'
          : row.refusedBy === 'limits.max-list-age'
            ? 'expired'
            : 'policy',
      );
    }
    expect(d.warnings).toHaveLength(row.warnings ?? 0);
    if (row.detail) expect(lookup(d, row.detailOf ?? row.refusedBy!).detail).toMatch(row.detail);
    // a rule the policy does not set is inactive and passes
    for (const r of d.reasons) if (!r.active) expect(r.passed).toBe(true);
    // inputs untouched, answer frozen
    expect({ img, facts }).toEqual(before);
    expect(Object.isFrozen(d)).toBe(true);
    expect(Object.isFrozen(d.reasons)).toBe(true);
    expect(Object.isFrozen(d.reasons[0])).toBe(true);
  });
});

describe('evaluatePolicy: details', () => {
  it('the deprecation reason is given, and the warning names the image', () => {
    const policy = parsePolicy('[limits]\ndeprecated = warn');
    const d = evaluatePolicy(policy, image({ 'sl:deprecated': 'use 2.0' }), list(), { now: NOW });
    expect(d.decision).toBe('allow');
    expect(d.deprecated).toBe('use 2.0');
    expect(d.warnings).toEqual(['image 858a817e-0ca2-473f-89d3-d5bdfc51968e is deprecated: use 2.0']);
    expect(evaluatePolicy(policy, image(), list(), { now: NOW })).not.toHaveProperty('deprecated');
  });

  it('publisher-controlled text in details is escaped and cut', () => {
    const policy = parsePolicy('[limits]\nformats = raw');
    const d = evaluatePolicy(policy, image({ 'hv:format': 'qcow2\u001b[31m\nFAKE' }), list(), { now: NOW });
    const detail = lookup(d, 'limits.formats').detail;
    expect(detail).not.toMatch(/[\u0000-\u001f]/);
    expect(detail).toContain('qcow2\\x1b[31m\\nFAKE');
    const long = evaluatePolicy(DEFAULT_POLICY, image({ 'sl:deprecated': 'x'.repeat(5000) }), list(), {
      now: NOW,
    });
    expect(lookup(long, 'limits.deprecated').detail.length).toBeLessThan(260);
    expect(long.deprecated).toHaveLength(5000);
  });

  it('an image wrapped as {"hv:image": …} is unwrapped', () => {
    const policy = parsePolicy('[limits]\nformats = raw');
    const d = evaluatePolicy(policy, { 'hv:image': image({ 'hv:format': 'RAW' }) }, list(), { now: NOW });
    expect(d.decision).toBe('allow');
  });

  it('now may be a function, and defaults to the current time', () => {
    const policy = parsePolicy('[limits]\nmax-list-age = 1d');
    expect(evaluatePolicy(policy, image(), list(), { now: () => NOW }).refusedBy).toBe('limits.max-list-age');
    const fresh = list({ created: new Date(Date.now() - 60_000) });
    expect(evaluatePolicy(policy, image(), fresh).decision).toBe('allow');
  });

  it('a policy built with definePolicy decides like the same policy file', () => {
    const built = definePolicy({
      endorsers: { deny: ['.*CN=Rex Revoked.*'] },
      limits: { maxSizeBytes: GiB },
    });
    const parsed = parsePolicy('[endorsers]\ndeny = .*CN=Rex Revoked.*\n[limits]\nmax-size = 1G');
    for (const subject of [REX_DN, DESY_DN, CERN_DN]) {
      for (const size of [GiB, GiB + 1]) {
        const args = [image({ 'hv:size': size }), list({ signer: { subject } }), { now: NOW }] as const;
        expect(evaluatePolicy(built, ...args)).toEqual(evaluatePolicy(parsed, ...args));
      }
    }
  });
});

describe('evaluateListPolicy', () => {
  it('reports the list-level rule only', () => {
    const policy = parsePolicy('[limits]\nmax-list-age = 7d\nformats = raw');
    const d = evaluateListPolicy(policy, list(), { now: NOW });
    expect(d.decision).toBe('refuse');
    expect(d.refusedBy).toBe('limits.max-list-age');
    expect(d.expiryReason).toBe('expired');
    expect(d.reasons.map((r) => r.rule)).toEqual(['limits.max-list-age']);
    const ok = evaluateListPolicy(policy, list({ created: '2026-11-30T00:00:00Z' }), { now: NOW });
    expect(ok.decision).toBe('allow');
    expect(evaluateListPolicy(DEFAULT_POLICY, list(), { now: NOW }).reasons).toEqual([
      { rule: 'limits.max-list-age', active: false, passed: true, detail: 'no limit' },
    ]);
  });
});

describe('evaluateCandidates (stratus-policy-image)', () => {
  const policy = parsePolicy(`[endorsers]\ndeny = .*CN=Rex Revoked.*\n[checksums]\ndeny = ${SUM_B}`);
  const rex = { image: image(), list: list({ signer: { subject: REX_DN } }) };
  const badSum = { image: image({ 'sl:checksum:sha512': SUM_B }), list: list() };
  const good = {
    image: image({ 'hv:uri': 'https://cern.example/img' }),
    list: list({ signer: { subject: CERN_DN } }),
  };

  it('two refused entries in a row are both evaluated, and the next one is selected', () => {
    // StratusLab removed refused entries from the list it was iterating, so the entry after each refused
    // one was never checked: with [refused, refused, good] it checked only the first and the third.
    const candidates = [rex, badSum, good];
    const before = structuredClone(candidates);
    const s = evaluateCandidates(policy, candidates, { now: NOW });
    expect(s.decision).toBe('allow');
    expect(s.selectedIndex).toBe(2);
    expect(s.selected).toBe(good);
    expect(s.decisions.map((d) => d.refusedBy)).toEqual(['endorsers.deny', 'checksums.deny', undefined]);
    expect(candidates).toEqual(before);
    expect(candidates).toHaveLength(3);
  });

  it('a refused entry after an allowed one is still evaluated and reported', () => {
    const s = evaluateCandidates(policy, [good, rex, badSum], { now: NOW });
    expect(s.selectedIndex).toBe(0);
    expect(s.decisions.map((d) => d.decision)).toEqual(['allow', 'refuse', 'refuse']);
  });

  it('a deprecated image with no other endorser is not run; with another endorser it is', () => {
    const deprecated = { image: image({ 'sl:deprecated': 'withdrawn' }), list: list() };
    expect(evaluateCandidates(DEFAULT_POLICY, [deprecated], { now: NOW })).toMatchObject({
      decision: 'refuse',
    });
    const none = evaluateCandidates(DEFAULT_POLICY, [deprecated], { now: NOW });
    expect(none).not.toHaveProperty('selected');
    const other = evaluateCandidates(DEFAULT_POLICY, [deprecated, good], { now: NOW });
    expect(other.selected).toBe(good);
    expect(imageLocations(other.selected!.image)[0]).toBe('https://cern.example/img');
  });

  it('no candidates: refused', () => {
    expect(evaluateCandidates(policy, [], { now: NOW })).toEqual({ decision: 'refuse', decisions: [] });
  });
});

describe('deprecationOf and imageLocations', () => {
  it.each([
    [undefined, undefined],
    [null, undefined],
    [false, undefined],
    ['replaced', 'replaced'],
    ['  ', '(no reason given)'],
    [true, '(no reason given)'],
    [1, '(no reason given)'],
  ])('sl:deprecated %j → %j', (value, expected) => {
    expect(deprecationOf(image({ 'sl:deprecated': value }))).toBe(expected);
  });

  it('hv:uri first, then sl:locations in order, each once', () => {
    const img = image({
      'hv:uri': 'https://a.example/x',
      'sl:locations': ['https://b.example/x', 42, '', 'https://a.example/x', ' https://c.example/x '],
    });
    expect(imageLocations(img)).toEqual([
      'https://a.example/x',
      'https://b.example/x',
      'https://c.example/x',
    ]);
    expect(imageLocations(image({ 'sl:locations': 'https://m.example/x' }))).toEqual([
      'https://images.example.org/sl6.qcow2',
      'https://m.example/x',
    ]);
    expect(imageLocations(image({ 'hv:uri': undefined }))).toEqual([]);
  });
});

describe('bad input is an error, and nothing is changed', () => {
  const policy = parsePolicy('[limits]\nmax-list-age = 1d');
  const cases: [string, () => unknown, 'ERR_POLICY_INPUT' | 'ERR_POLICY_REGEX'][] = [
    ['image null', () => evaluatePolicy(policy, null as never, list()), 'ERR_POLICY_INPUT'],
    ['image an array', () => evaluatePolicy(policy, [] as never, list()), 'ERR_POLICY_INPUT'],
    ['list without signer', () => evaluatePolicy(policy, image(), {} as never), 'ERR_POLICY_INPUT'],
    [
      'signer without subject',
      () => evaluatePolicy(policy, image(), { signer: {} } as never),
      'ERR_POLICY_INPUT',
    ],
    [
      'now not a date',
      () => evaluatePolicy(policy, image(), list(), { now: 'today' as never }),
      'ERR_POLICY_INPUT',
    ],
    [
      'now an invalid date',
      () => evaluatePolicy(policy, image(), list(), { now: new Date('x') }),
      'ERR_POLICY_INPUT',
    ],
    ['policy null', () => evaluatePolicy(null as never, image(), list()), 'ERR_POLICY_INPUT'],
    [
      'policy without limits',
      () => evaluatePolicy({ ...policy, limits: undefined } as never, image(), list()),
      'ERR_POLICY_INPUT',
    ],
    [
      'policy with a bad deprecated action',
      () =>
        evaluatePolicy(
          { ...policy, limits: { ...policy.limits, deprecated: 'no' } } as never,
          image(),
          list(),
        ),
      'ERR_POLICY_INPUT',
    ],
    [
      'policy with a fractional size',
      () => evaluatePolicy({ ...policy, limits: { ...policy.limits, maxSizeBytes: 1.5 } }, image(), list()),
      'ERR_POLICY_INPUT',
    ],
    [
      'hand-made policy with a pattern that does not compile',
      () => evaluatePolicy({ ...policy, endorsers: { allow: ['(a'], deny: [] } }, image(), list()),
      'ERR_POLICY_REGEX',
    ],
    [
      'hand-made policy with a number in a list',
      () => evaluatePolicy({ ...policy, images: { allow: [1 as never], deny: [] } }, image(), list()),
      'ERR_POLICY_INPUT',
    ],
    ['candidates not an array', () => evaluateCandidates(policy, {} as never), 'ERR_POLICY_INPUT'],
    ['a candidate that is null', () => evaluateCandidates(policy, [null as never]), 'ERR_POLICY_INPUT'],
    ['list policy without signer', () => evaluateListPolicy(policy, {} as never), 'ERR_POLICY_INPUT'],
  ];
  it.each(cases)('%s', (_name, fn, code) => {
    const before = structuredClone(policy);
    expectPolicyError(fn, code);
    expect(policy).toEqual(before);
  });

  it('a frozen policy cannot be changed by a caller', () => {
    const p: SitePolicy = parsePolicy('[images]\ndeny = a');
    expect(() => (p.images.deny as string[]).push('b')).toThrow(TypeError);
    expect(p.images.deny).toEqual(['a']);
    expect(Object.isFrozen(DEFAULT_POLICY.limits.formats)).toBe(true);
  });
});

describe('a hand-made policy that was not normalised', () => {
  it('upper-case checksums and formats still match (a deny list is not bypassed by spelling)', () => {
    const handMade: SitePolicy = {
      ...DEFAULT_POLICY,
      checksums: { allow: [], deny: [SUM_A.toUpperCase()] },
      limits: { ...DEFAULT_POLICY.limits, formats: ['QCOW2'] },
    };
    const d = evaluatePolicy(handMade, image({ 'hv:format': 'qcow2' }), list(), { now: NOW });
    expect(d.refusedBy).toBe('checksums.deny');
    expect(lookup(d, 'limits.formats').passed).toBe(true);
  });
});
