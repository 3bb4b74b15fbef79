// The decision: pure functions over the policy, the image entry as published and the facts of the verified
// list. Every rule is evaluated (so the answer lists all of them), in one fixed order; the first rule that
// refuses is `refusedBy`. Nothing here mutates its inputs or filters a collection while walking it (the
// StratusLab filter removed entries from the list it was iterating, and so skipped the entry after each
// refused one).
import { escapeControl } from '@hepix/common';
import { internal, SitePolicyError } from './errors.js';
import { cachedPattern, PatternSyntaxError } from './pattern.js';
import { deepFreeze, type SitePolicy } from './policy.js';
import { formatAge, formatSize } from './values.js';

/** Every rule, in decision order: the list-level rule first, then deny before allow, then the limits. */
export const POLICY_RULES = [
  'limits.max-list-age',
  'endorsers.deny',
  'endorsers.allow',
  'images.deny',
  'images.allow',
  'checksums.deny',
  'checksums.allow',
  'limits.formats',
  'limits.max-size',
  'limits.deprecated',
] as const;

export type PolicyRule = (typeof POLICY_RULES)[number];

/** The rules that concern a whole list (a list they refuse is handled like an expired one). */
export const LIST_POLICY_RULES = ['limits.max-list-age'] as const satisfies readonly PolicyRule[];

/** The outcome of one rule. */
export interface PolicyReason {
  readonly rule: PolicyRule;
  /** False when the policy does not set the rule (it then passes). `limits.deprecated` is always active. */
  readonly active: boolean;
  readonly passed: boolean;
  /** A short sentence for people (publisher-controlled text in it is control-character escaped). */
  readonly detail: string;
}

/**
 * The `VMCATCHER_EVENT_REASON` of an expiry caused by a refusal: `deprecated` (limits.deprecated),
 * `expired` (limits.max-list-age: the list is handled like an expired one), `policy` (every other rule).
 */
export type PolicyExpiryReason = 'policy' | 'deprecated' | 'expired';

export interface PolicyDecision {
  readonly decision: 'allow' | 'refuse';
  /** The first refusing rule in {@link POLICY_RULES} order; absent when allowed. */
  readonly refusedBy?: PolicyRule;
  /** Absent when allowed. */
  readonly expiryReason?: PolicyExpiryReason;
  /** One reason per rule evaluated, in {@link POLICY_RULES} order. */
  readonly reasons: readonly PolicyReason[];
  /** Allowed with a warning: a deprecated image under `deprecated = warn`. */
  readonly warnings: readonly string[];
  /** The `sl:deprecated` reason, when the image is deprecated (whatever the decision). */
  readonly deprecated?: string;
}

/**
 * The facts of a verified list that the policy looks at. An `OpenedList` of `@hepix/imagelist-client` has
 * this shape, so it can be passed as it is.
 */
export interface PolicyListFacts {
  /** The list's signer; `subject` in canonical one-line form (`canonicalDn()` of `@hepix/smime-x509`). */
  readonly signer: { readonly subject: string; readonly issuer?: string };
  /** `dc:date:created`, as a Date or as written in the list (`2026-12-01T00:00:00Z`). */
  readonly created?: Date | string;
  /** The list's `dc:identifier` (for messages). */
  readonly identifier?: string;
}

/** The `hv:image` object as published (or `{"hv:image": {…}}`, which is unwrapped). */
export type PolicyImage = Readonly<Record<string, unknown>>;

export interface EvaluateOptions {
  /** The time the list age is measured at; default the current time. */
  now?: Date | (() => Date);
}

/** Publisher-controlled text in a detail: escaped, and cut to a readable length. */
function show(value: string, max = 200): string {
  const v = value.length > max ? `${value.slice(0, max)}…` : value;
  return escapeControl(v);
}

function badInput(what: string): never {
  throw new SitePolicyError('ERR_POLICY_INPUT', `evaluatePolicy: ${what}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkPolicy(policy: SitePolicy): void {
  if (!isRecord(policy))
    badInput('the policy is not an object (use parsePolicy, loadPolicy or definePolicy)');
  for (const section of ['endorsers', 'images', 'checksums'] as const) {
    const s = policy[section] as unknown;
    if (!isRecord(s) || !Array.isArray(s.allow) || !Array.isArray(s.deny)) {
      badInput(`policy.${section} is not { allow: [], deny: [] }`);
    }
    for (const v of [...s.allow, ...s.deny]) {
      if (typeof v !== 'string') badInput(`policy.${section} holds a value that is not a string`);
    }
  }
  const limits = policy.limits as unknown;
  if (!isRecord(limits) || !Array.isArray(limits.formats)) badInput('policy.limits.formats is not an array');
  if (limits.deprecated !== 'refuse' && limits.deprecated !== 'warn') {
    badInput('policy.limits.deprecated is neither refuse nor warn');
  }
  for (const k of ['maxSizeBytes', 'maxListAgeSeconds'] as const) {
    const v = limits[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
      badInput(`policy.limits.${k} is not a whole number of ${k === 'maxSizeBytes' ? 'bytes' : 'seconds'}`);
    }
  }
}

function checkList(list: PolicyListFacts): void {
  if (!isRecord(list)) badInput('the list facts are not an object');
  const signer = list.signer as unknown;
  if (!isRecord(signer) || typeof signer.subject !== 'string') {
    badInput('the list facts have no signer.subject (the one-line DN of the signer)');
  }
}

function timeOf(options: EvaluateOptions): Date {
  const now = options.now;
  const at = typeof now === 'function' ? now() : (now ?? new Date());
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) badInput('options.now is not a valid Date');
  return at;
}

function matcher(pattern: string, rule: string) {
  try {
    return cachedPattern(pattern);
  } catch (err) {
    if (err instanceof PatternSyntaxError) {
      throw new SitePolicyError(
        'ERR_POLICY_REGEX',
        `${rule} pattern ${JSON.stringify(pattern)}: ${err.message}`,
        {
          text: pattern,
          key: rule,
        },
      );
    }
    throw err;
  }
}

const STRICT_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

function createdOf(list: PolicyListFacts): Date | undefined {
  const c = list.created;
  if (c instanceof Date) return Number.isNaN(c.getTime()) ? undefined : c;
  if (typeof c === 'string' && STRICT_DATE.test(c)) {
    const d = new Date(c);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

function describeAge(seconds: number): string {
  const units: [number, string][] = [
    [86_400, 'days'],
    [3600, 'hours'],
    [60, 'minutes'],
  ];
  for (const [factor, name] of units) {
    if (seconds >= factor) return `${Math.floor((seconds / factor) * 10) / 10} ${name}`;
  }
  return `${seconds} seconds`;
}

function listReasons(policy: SitePolicy, list: PolicyListFacts, at: Date): PolicyReason[] {
  const max = policy.limits.maxListAgeSeconds;
  if (max === undefined)
    return [{ rule: 'limits.max-list-age', active: false, passed: true, detail: 'no limit' }];
  const created = createdOf(list);
  if (!created) {
    return [
      {
        rule: 'limits.max-list-age',
        active: true,
        passed: false,
        detail: 'the list has no valid dc:date:created',
      },
    ];
  }
  const age = Math.floor((at.getTime() - created.getTime()) / 1000);
  const when = created.toISOString().replace(/\.000Z$/, 'Z');
  if (age > max) {
    return [
      {
        rule: 'limits.max-list-age',
        active: true,
        passed: false,
        detail: `list created ${when}, ${describeAge(age)} ago: older than max-list-age ${formatAge(max)}`,
      },
    ];
  }
  return [
    {
      rule: 'limits.max-list-age',
      active: true,
      passed: true,
      detail: `list created ${when}${age < 0 ? ' (in the future)' : `, ${describeAge(age)} ago`}: within max-list-age ${formatAge(max)}`,
    },
  ];
}

/**
 * The deprecation reason of an image entry (`sl:deprecated`), or undefined when it is not deprecated.
 * Absent, `null` and `false` mean not deprecated; a string is the reason (empty: none given); `true` or any
 * other value means deprecated without a readable reason.
 */
export function deprecationOf(image: PolicyImage): string | undefined {
  const img = unwrap(image);
  const v = img['sl:deprecated'];
  if (v === undefined || v === null || v === false) return undefined;
  if (typeof v === 'string') return v.trim() === '' ? '(no reason given)' : v;
  return '(no reason given)';
}

function unwrap(image: PolicyImage): Readonly<Record<string, unknown>> {
  if (!isRecord(image)) badInput('the image is not an object (the hv:image entry of the list)');
  const inner = image['hv:image'];
  return Object.keys(image).length === 1 && isRecord(inner) ? inner : image;
}

function imageReasons(policy: SitePolicy, image: Readonly<Record<string, unknown>>, list: PolicyListFacts) {
  const reasons: PolicyReason[] = [];
  const warnings: string[] = [];
  const add = (rule: PolicyRule, active: boolean, passed: boolean, detail: string) =>
    reasons.push({ rule, active, passed, detail });

  // Endorsers: the signer's one-line DN against whole-DN patterns.
  const dn = list.signer.subject;
  const { allow: eAllow, deny: eDeny } = policy.endorsers;
  const denied = eDeny.find((p) => matcher(p, 'endorsers.deny').matches(dn));
  if (eDeny.length === 0) add('endorsers.deny', false, true, 'no deny list');
  else if (denied !== undefined)
    add('endorsers.deny', true, false, `signer ${show(dn)} matches denied pattern ${show(denied)}`);
  else add('endorsers.deny', true, true, `signer ${show(dn)} matches no denied pattern`);
  const allowed = eAllow.find((p) => matcher(p, 'endorsers.allow').matches(dn));
  if (eAllow.length === 0) add('endorsers.allow', false, true, 'no allow list (every endorser)');
  else if (allowed !== undefined)
    add('endorsers.allow', true, true, `signer ${show(dn)} matches allowed pattern ${show(allowed)}`);
  else add('endorsers.allow', true, false, `signer ${show(dn)} matches no allowed pattern`);

  // Images: dc:identifier, case-insensitively (UUIDs are).
  const rawId = image['dc:identifier'];
  const id = typeof rawId === 'string' && rawId !== '' ? rawId : undefined;
  const idKey = id?.toLowerCase();
  const { allow: iAllow, deny: iDeny } = policy.images;
  if (iDeny.length === 0) add('images.deny', false, true, 'no deny list');
  else if (idKey === undefined) add('images.deny', true, true, 'image has no dc:identifier');
  else if (iDeny.some((v) => v.toLowerCase() === idKey))
    add('images.deny', true, false, `image ${show(id!)} is denied`);
  else add('images.deny', true, true, `image ${show(id!)} is not denied`);
  if (iAllow.length === 0) add('images.allow', false, true, 'no allow list (every image)');
  else if (idKey === undefined) add('images.allow', true, false, 'image has no dc:identifier');
  else if (iAllow.some((v) => v.toLowerCase() === idKey))
    add('images.allow', true, true, `image ${show(id!)} is allowed`);
  else add('images.allow', true, false, `image ${show(id!)} is not in the allow list`);

  // Checksums: sl:checksum:sha512, compared in lower case on both sides (a hand-made policy may hold
  // upper case; a deny list must not be bypassed by the spelling).
  const rawSum = image['sl:checksum:sha512'];
  const sum = typeof rawSum === 'string' && rawSum.trim() !== '' ? rawSum.trim().toLowerCase() : undefined;
  const shown = sum === undefined ? '' : `sha512 ${show(sum.slice(0, 16))}…`;
  const { allow: cAllow, deny: cDeny } = policy.checksums;
  if (cDeny.length === 0) add('checksums.deny', false, true, 'no deny list');
  else if (sum === undefined) add('checksums.deny', true, true, 'image has no sl:checksum:sha512');
  else if (cDeny.some((v) => v.toLowerCase() === sum))
    add('checksums.deny', true, false, `${shown} is denied`);
  else add('checksums.deny', true, true, `${shown} is not denied`);
  if (cAllow.length === 0) add('checksums.allow', false, true, 'no allow list (every checksum)');
  else if (sum === undefined) add('checksums.allow', true, false, 'image has no sl:checksum:sha512');
  else if (cAllow.some((v) => v.toLowerCase() === sum))
    add('checksums.allow', true, true, `${shown} is allowed`);
  else add('checksums.allow', true, false, `${shown} is not in the allow list`);

  // Formats: hv:format case-insensitively; an image without one is refused when formats are restricted.
  const formats = policy.limits.formats;
  const rawFormat = image['hv:format'];
  const format = typeof rawFormat === 'string' && rawFormat.trim() !== '' ? rawFormat.trim() : undefined;
  const allowedFormats = formats.join(' ');
  if (formats.length === 0) add('limits.formats', false, true, 'no restriction (every format)');
  else if (format === undefined)
    add('limits.formats', true, false, `image has no hv:format (allowed: ${allowedFormats})`);
  else if (formats.some((f) => f.toLowerCase() === format.toLowerCase()))
    add('limits.formats', true, true, `format ${show(format)} is allowed`);
  else
    add('limits.formats', true, false, `format ${show(format)} is not allowed (allowed: ${allowedFormats})`);

  // Size: hv:size as a number or a numeric string (both are published).
  const max = policy.limits.maxSizeBytes;
  const rawSize = image['hv:size'];
  const size =
    typeof rawSize === 'number' && Number.isSafeInteger(rawSize) && rawSize >= 0
      ? rawSize
      : typeof rawSize === 'string' && /^\d{1,16}$/.test(rawSize) && Number.isSafeInteger(Number(rawSize))
        ? Number(rawSize)
        : undefined;
  if (max === undefined) add('limits.max-size', false, true, 'no limit');
  else if (size === undefined) add('limits.max-size', true, false, 'image has no valid hv:size');
  else if (size > max)
    add('limits.max-size', true, false, `hv:size ${size} bytes exceeds max-size ${formatSize(max)}`);
  else add('limits.max-size', true, true, `hv:size ${size} bytes is within max-size ${formatSize(max)}`);

  // Deprecation: always active; refused by default, allowed with a warning under `warn`.
  const reason = deprecationOf(image);
  if (reason === undefined) add('limits.deprecated', true, true, 'not deprecated');
  else if (policy.limits.deprecated === 'refuse')
    add('limits.deprecated', true, false, `deprecated: ${show(reason)}`);
  else {
    add('limits.deprecated', true, true, `deprecated (allowed by deprecated = warn): ${show(reason)}`);
    warnings.push(`image ${show(id ?? '(no dc:identifier)')} is deprecated: ${show(reason)}`);
  }
  return { reasons, warnings, deprecated: reason };
}

function decide(reasons: PolicyReason[], warnings: string[], deprecated?: string): PolicyDecision {
  const refused = reasons.find((r) => !r.passed);
  const base = {
    reasons,
    warnings,
    ...(deprecated !== undefined ? { deprecated } : {}),
  };
  if (!refused) return deepFreeze({ decision: 'allow', ...base });
  const expiryReason: PolicyExpiryReason =
    refused.rule === 'limits.deprecated'
      ? 'deprecated'
      : refused.rule === 'limits.max-list-age'
        ? 'expired'
        : 'policy';
  return deepFreeze({ decision: 'refuse', refusedBy: refused.rule, expiryReason, ...base });
}

/**
 * Decides whether the site's policy lets `image` (an `hv:image` entry of the verified `list`) be cached and
 * used. Pure: no I/O, no clock unless `now` is left out. Every rule of {@link POLICY_RULES} is evaluated and
 * reported; the first refusing one is `refusedBy`. A refusal is a decision, never an exception; a
 * {@link SitePolicyError} (`ERR_POLICY_INPUT`, `ERR_POLICY_REGEX`) means the call itself was wrong.
 */
export function evaluatePolicy(
  policy: SitePolicy,
  image: PolicyImage,
  list: PolicyListFacts,
  options: EvaluateOptions = {},
): PolicyDecision {
  return internal('evaluatePolicy', () => {
    checkPolicy(policy);
    checkList(list);
    const at = timeOf(options);
    const img = unwrap(image);
    const own = imageReasons(policy, img, list);
    return decide([...listReasons(policy, list, at), ...own.reasons], own.warnings, own.deprecated);
  });
}

/**
 * The list-level rules alone ({@link LIST_POLICY_RULES}: `limits.max-list-age`), for a subscriber that
 * refuses a whole list "like an expired one" before looking at its images.
 */
export function evaluateListPolicy(
  policy: SitePolicy,
  list: PolicyListFacts,
  options: EvaluateOptions = {},
): PolicyDecision {
  return internal('evaluateListPolicy', () => {
    checkPolicy(policy);
    checkList(list);
    return decide(listReasons(policy, list, timeOf(options)), []);
  });
}

/** One entry for an image identifier: the image as one list publishes it, and that list. */
export interface PolicyCandidate {
  readonly image: PolicyImage;
  readonly list: PolicyListFacts;
}

export interface CandidateSelection<C extends PolicyCandidate> {
  /** `allow` when some candidate is allowed. */
  readonly decision: 'allow' | 'refuse';
  /** The first allowed candidate, in the order given. */
  readonly selected?: C;
  readonly selectedIndex?: number;
  /** One decision per candidate, in the order given. */
  readonly decisions: readonly PolicyDecision[];
}

/**
 * The StratusLab check (`stratus-policy-image`): the same image may be endorsed in several lists; each entry
 * is evaluated and the first allowed one is selected ("a deprecated image with no other endorser is not
 * run"). Every candidate is evaluated, none is skipped, and the input array is left as it is.
 */
export function evaluateCandidates<C extends PolicyCandidate>(
  policy: SitePolicy,
  candidates: readonly C[],
  options: EvaluateOptions = {},
): CandidateSelection<C> {
  return internal('evaluateCandidates', () => {
    if (!Array.isArray(candidates)) badInput('the candidates are not an array');
    const at = timeOf(options);
    const decisions = candidates.map((c: C) => {
      if (!isRecord(c as unknown)) badInput('a candidate is not { image, list }');
      return evaluatePolicy(policy, c.image, c.list, { now: at });
    });
    const index = decisions.findIndex((d) => d.decision === 'allow');
    if (index < 0) return Object.freeze({ decision: 'refuse', decisions: Object.freeze(decisions) });
    return Object.freeze({
      decision: 'allow',
      selected: candidates[index],
      selectedIndex: index,
      decisions: Object.freeze(decisions),
    });
  });
}

/**
 * Where the image's bytes can be fetched, in order: `hv:uri`, then each `sl:locations` entry (the same
 * bytes; the downloader tries them in turn). Non-string and empty entries are skipped; duplicates are
 * given once.
 */
export function imageLocations(image: PolicyImage): string[] {
  const img = unwrap(image);
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.trim() !== '' && !out.includes(v.trim())) out.push(v.trim());
  };
  add(img['hv:uri']);
  const more = img['sl:locations'];
  if (Array.isArray(more)) more.forEach(add);
  else add(more);
  return out;
}
