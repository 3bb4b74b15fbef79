import { assignDefined, HepixError } from '@hepix/common';

/** Every code a {@link SitePolicyError} can carry; a CLI maps each one to an exit status. */
export const SITE_POLICY_ERROR_CODES = [
  /** A line that is not a section header, `key = value`, a continuation, a comment or blank. */
  'ERR_POLICY_SYNTAX',
  /** A section other than `[endorsers] [images] [checksums] [limits]`. */
  'ERR_POLICY_UNKNOWN_SECTION',
  /** A key the section does not know. */
  'ERR_POLICY_UNKNOWN_KEY',
  /** A section or key given twice (also `allow` next to its spelling `whitelist`). */
  'ERR_POLICY_DUPLICATE',
  /** A value of the wrong form: size, age, checksum, format, identifier, `deprecated`. */
  'ERR_POLICY_VALUE',
  /** An endorser pattern that is not a supported regular expression, or too long or complex. */
  'ERR_POLICY_REGEX',
  /** The policy file cannot be read (missing named file, permissions, not a regular file, too large). */
  'ERR_POLICY_READ',
  /** A call with something that is not a policy, an image, list facts, a time, or policy text. */
  'ERR_POLICY_INPUT',
  /** An unexpected failure inside this package. */
  'ERR_POLICY_INTERNAL',
] as const;

export type SitePolicyErrorCode = (typeof SITE_POLICY_ERROR_CODES)[number];

/** Where a policy problem is and what it is about. */
export interface SitePolicyErrorContext {
  /** The policy file (its path, or the `source` given to `parsePolicy`). */
  source?: string;
  /** 1-based line of the offending text. */
  line?: number;
  /** The offending text (a line, a value, a pattern). */
  text?: string;
  /** The section concerned (`endorsers`, `limits`, …). */
  section?: string;
  /** The key concerned, as written (`deny`, `blacklist`, `max-size`) or a field path for `definePolicy`. */
  key?: string;
  cause?: unknown;
}

/** The one error class of `@hepix/site-policy`. Branch on `code`, never on the message. */
export class SitePolicyError extends HepixError<SitePolicyErrorCode> {
  override readonly name = 'SitePolicyError';
  // `declare`: no own property at all when a field is not set (errors print and compare cleanly).
  declare readonly source?: string;
  declare readonly line?: number;
  declare readonly text?: string;
  declare readonly section?: string;
  declare readonly key?: string;

  constructor(code: SitePolicyErrorCode, message: string, context: SitePolicyErrorContext = {}) {
    const { cause, ...fields } = context;
    super(code, message, { cause });
    assignDefined<SitePolicyError>(this, fields);
  }
}

/** True for a {@link SitePolicyError}, optionally with the given code. */
export function isSitePolicyError(err: unknown, code?: SitePolicyErrorCode): err is SitePolicyError {
  return err instanceof SitePolicyError && (code === undefined || err.code === code);
}

/** Runs `fn`; anything thrown that is not a SitePolicyError becomes ERR_POLICY_INTERNAL (never a misleading code). */
export function internal<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SitePolicyError) throw err;
    throw new SitePolicyError('ERR_POLICY_INTERNAL', `${what}: unexpected failure: ${String(err)}`, {
      cause: err,
    });
  }
}
