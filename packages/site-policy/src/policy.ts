// The policy value: plain data (JSON-serialisable, frozen), so that it can be printed as the effective
// policy (`--json`), compared in tests and built in code by a connector. Compiled endorser patterns live in
// a cache keyed by their text (pattern.ts), never in the value.
import { escapeControl } from '@hepix/common';
import { SitePolicyError } from './errors.js';
import { cachedPattern, PatternSyntaxError } from './pattern.js';
import { type Parsed, parseChecksum, parseFormat, parseIdentifier } from './values.js';

/** What happens to a deprecated image (`sl:deprecated`). */
export type DeprecatedAction = 'refuse' | 'warn';

/** An allow list and a deny list. An empty allow list allows everything; deny wins over allow. */
export interface AllowDeny {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** `[limits]`. */
export interface PolicyLimits {
  /** Allowed `hv:format` values, lower case; empty = any format (and images without one). */
  readonly formats: readonly string[];
  /** Largest allowed `hv:size`, in bytes; absent = no limit. */
  readonly maxSizeBytes?: number;
  /** `refuse` (the default) or `warn`. */
  readonly deprecated: DeprecatedAction;
  /** Oldest allowed list (`dc:date:created`), in seconds; absent = no limit. */
  readonly maxListAgeSeconds?: number;
}

/** A site's image policy: a plain, deeply frozen value. */
export interface SitePolicy {
  /** Where it was read from (a path, or the `source` given to `parsePolicy`); absent for built-in values. */
  readonly source?: string;
  /** Regular expressions matched against the whole one-line DN of the list's signer. */
  readonly endorsers: AllowDeny;
  /** Image `dc:identifier` values, compared case-insensitively. */
  readonly images: AllowDeny;
  /** `sl:checksum:sha512` values, lower case. */
  readonly checksums: AllowDeny;
  readonly limits: PolicyLimits;
}

/** What {@link definePolicy} accepts: any part of a {@link SitePolicy}; what is left out is off. */
export interface SitePolicyInput {
  source?: string;
  endorsers?: { allow?: readonly string[]; deny?: readonly string[] };
  images?: { allow?: readonly string[]; deny?: readonly string[] };
  checksums?: { allow?: readonly string[]; deny?: readonly string[] };
  limits?: {
    formats?: readonly string[];
    maxSizeBytes?: number;
    deprecated?: DeprecatedAction;
    maxListAgeSeconds?: number;
  };
}

/** Every rule off, except that deprecated images are refused (their endorser withdrew them). */
export const DEFAULT_POLICY: SitePolicy = deepFreeze({
  endorsers: { allow: [], deny: [] },
  images: { allow: [], deny: [] },
  checksums: { allow: [], deny: [] },
  limits: { formats: [], deprecated: 'refuse' },
});

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Checks an endorser pattern; the why of a refusal, or undefined when it compiles. */
export function patternProblem(pattern: string): { why: string; index: number } | undefined {
  try {
    cachedPattern(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof PatternSyntaxError) return { why: err.message, index: err.index };
    throw err;
  }
}

/** Why a value cannot be written as one line of a policy file, or undefined when it can. */
export function unwritable(value: string): string | undefined {
  if (value === '') return 'empty';
  if (value !== value.trim()) return 'it starts or ends with white space';
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) return 'it contains a control character';
  if (/^[;#]/.test(value)) return 'it starts with ; or # (a comment)';
  if (/\s[;#]/.test(value))
    return 'white space followed by ; or # starts a comment (write [ ]; in a pattern)';
  return undefined;
}

type Rule = 'endorsers' | 'images' | 'checksums';

function fail(
  key: string,
  value: unknown,
  why: string,
  code: 'ERR_POLICY_VALUE' | 'ERR_POLICY_REGEX' = 'ERR_POLICY_VALUE',
): never {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  throw new SitePolicyError(code, `policy ${key} ${escapeControl(JSON.stringify(text))}: ${why}`, {
    key,
    text,
  });
}

function list(
  input: unknown,
  key: string,
  check: (s: string) => Parsed<string>,
  code: 'ERR_POLICY_VALUE' | 'ERR_POLICY_REGEX' = 'ERR_POLICY_VALUE',
): string[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) fail(key, input, 'not an array of strings');
  return input.map((v: unknown) => {
    if (typeof v !== 'string') fail(key, v, 'not a string');
    const why = unwritable(v);
    if (why) fail(key, v, `cannot be a policy value: ${why}`);
    const r = check(v);
    if (!r.ok) fail(key, v, r.why, code);
    return r.value;
  });
}

function onlyKeys(input: object, key: string, allowed: readonly string[]): void {
  for (const k of Object.keys(input)) {
    if (!allowed.includes(k)) {
      throw new SitePolicyError(
        'ERR_POLICY_UNKNOWN_KEY',
        `policy ${key}${key ? '.' : ''}${k}: unknown field`,
        {
          key: key ? `${key}.${k}` : k,
        },
      );
    }
  }
}

function object(input: unknown, key: string): Record<string, unknown> {
  if (input === undefined) return {};
  if (input === null || typeof input !== 'object' || Array.isArray(input)) fail(key, input, 'not an object');
  return input as Record<string, unknown>;
}

function count(input: unknown, key: string): number | undefined {
  if (input === undefined) return undefined;
  if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 0) {
    fail(key, input, 'not a whole number from 0 to 2^53 - 1');
  }
  return input;
}

const PATTERN = (s: string): Parsed<string> => {
  const p = patternProblem(s);
  return p ? { ok: false, why: p.why } : { ok: true, value: s };
};

/**
 * A {@link SitePolicy} from a plain value (a connector's own settings, the JSON of an effective policy),
 * validated as strictly as a policy file: unknown fields, bad checksums, formats, identifiers and patterns
 * are a {@link SitePolicyError} (`key` names the field). Values are normalised as the parser does
 * (checksums and formats in lower case).
 */
export function definePolicy(input: SitePolicyInput): SitePolicy {
  const root = object(input, 'policy');
  onlyKeys(root, '', ['source', 'endorsers', 'images', 'checksums', 'limits']);
  if (root.source !== undefined && typeof root.source !== 'string')
    fail('source', root.source, 'not a string');
  const rules = {} as Record<Rule, AllowDeny>;
  for (const rule of ['endorsers', 'images', 'checksums'] as const) {
    const section = object(root[rule], rule);
    onlyKeys(section, rule, ['allow', 'deny']);
    const check = rule === 'endorsers' ? PATTERN : rule === 'images' ? parseIdentifier : parseChecksum;
    const code = rule === 'endorsers' ? 'ERR_POLICY_REGEX' : 'ERR_POLICY_VALUE';
    rules[rule] = {
      allow: list(section.allow, `${rule}.allow`, check, code),
      deny: list(section.deny, `${rule}.deny`, check, code),
    };
  }
  const limits = object(root.limits, 'limits');
  onlyKeys(limits, 'limits', ['formats', 'maxSizeBytes', 'deprecated', 'maxListAgeSeconds']);
  const deprecated = limits.deprecated ?? 'refuse';
  if (deprecated !== 'refuse' && deprecated !== 'warn') {
    fail('limits.deprecated', deprecated, 'deprecated is refuse or warn');
  }
  const maxSizeBytes = count(limits.maxSizeBytes, 'limits.maxSizeBytes');
  const maxListAgeSeconds = count(limits.maxListAgeSeconds, 'limits.maxListAgeSeconds');
  const policy: SitePolicy = {
    ...(root.source !== undefined ? { source: root.source as string } : {}),
    endorsers: rules.endorsers,
    images: rules.images,
    checksums: rules.checksums,
    limits: {
      formats: list(limits.formats, 'limits.formats', parseFormat),
      ...(maxSizeBytes !== undefined ? { maxSizeBytes } : {}),
      deprecated,
      ...(maxListAgeSeconds !== undefined ? { maxListAgeSeconds } : {}),
    },
  };
  return deepFreeze(policy);
}
