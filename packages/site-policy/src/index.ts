// Public API of @hepix/site-policy: named re-exports only.
export {
  isSitePolicyError,
  SITE_POLICY_ERROR_CODES,
  SitePolicyError,
  type SitePolicyErrorCode,
  type SitePolicyErrorContext,
} from './errors.js';
export { MAX_PATTERN_LENGTH, MAX_PROGRAM, MAX_REPEAT } from './pattern.js';
