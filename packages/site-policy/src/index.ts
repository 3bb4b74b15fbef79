// Public API of @hepix/site-policy: named re-exports only.
export {
  isSitePolicyError,
  SITE_POLICY_ERROR_CODES,
  SitePolicyError,
  type SitePolicyErrorCode,
  type SitePolicyErrorContext,
} from './errors.js';
export {
  type CandidateSelection,
  deprecationOf,
  type EvaluateOptions,
  evaluateCandidates,
  evaluateListPolicy,
  evaluatePolicy,
  imageLocations,
  LIST_POLICY_RULES,
  POLICY_RULES,
  type PolicyCandidate,
  type PolicyDecision,
  type PolicyExpiryReason,
  type PolicyImage,
  type PolicyListFacts,
  type PolicyReason,
  type PolicyRule,
} from './evaluate.js';
export {
  DEFAULT_POLICY_PATH,
  type LoadPolicyOptions,
  loadPolicy,
  MAX_POLICY_BYTES,
  POLICY_ENV,
} from './load.js';
export { type ParsePolicyOptions, parsePolicy } from './parse.js';
export { MAX_PATTERN_LENGTH, MAX_PROGRAM, MAX_REPEAT } from './pattern.js';
export {
  type AllowDeny,
  DEFAULT_POLICY,
  type DeprecatedAction,
  definePolicy,
  type PolicyLimits,
  type SitePolicy,
  type SitePolicyInput,
} from './policy.js';
export { serializePolicy } from './serialize.js';
