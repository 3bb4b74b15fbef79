/** One problem found in an image list. */
export interface ValidationIssue {
  /** JSON pointer (RFC 6901) into the input document; `""` is the whole document. */
  path: string;
  message: string;
}

/** Base class of every error thrown by this package; `code` is stable and meant for programs. */
export class ImageListError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageListError';
    this.code = code;
  }
}

/** What made the input unacceptable. */
export type ImageListInvalidReason = 'encoding' | 'syntax' | 'limits' | 'schema';

/** The input is not an acceptable image list: bad bytes, bad JSON, too big or too deep, or the wrong shape. */
export class ImageListValidationError extends ImageListError {
  declare readonly code: 'ERR_IMAGELIST_INVALID';
  /** Every problem found (capped at {@link MAX_ISSUES}; a last issue then says how many were left out). */
  readonly issues: ValidationIssue[];
  readonly reason: ImageListInvalidReason;

  constructor(
    issues: ValidationIssue[],
    options?: { cause?: unknown; reason?: ImageListInvalidReason; total?: number },
  ) {
    const total = options?.total ?? issues.length;
    const first = issues[0];
    const head = first ? `${first.path || '(document)'}: ${first.message}` : 'unknown problem';
    const more = total > 1 ? ` (and ${total - 1} more issue${total > 2 ? 's' : ''})` : '';
    super('ERR_IMAGELIST_INVALID', `invalid image list: ${head}${more}`, options);
    this.name = 'ImageListValidationError';
    this.issues = issues;
    this.reason = options?.reason ?? 'schema';
  }
}

/** A date is not exactly `YYYY-MM-DDTHH:MM:SSZ` (UTC) or not a real calendar date. */
export class ImageListDateError extends ImageListError {
  declare readonly code: 'ERR_IMAGELIST_DATE';
  /** The key the date came from, when the caller named it. */
  readonly field: string | undefined;
  /** The offending value, shortened to at most 64 characters. */
  readonly value: string;

  constructor(message: string, field: string | undefined, value: string, options?: { cause?: unknown }) {
    super('ERR_IMAGELIST_DATE', message, options);
    this.name = 'ImageListDateError';
    this.field = field;
    this.value = value;
  }
}

/** A version string could not be compared or bumped (not a string). */
export class ImageListVersionError extends ImageListError {
  declare readonly code: 'ERR_IMAGELIST_VERSION';

  constructor(message: string) {
    super('ERR_IMAGELIST_VERSION', message);
    this.name = 'ImageListVersionError';
  }
}

/** A value cannot be written as canonical JSON (cycle, too deep, not a JSON value). */
export class ImageListSerializeError extends ImageListError {
  declare readonly code: 'ERR_IMAGELIST_SERIALIZE';
  /** JSON pointer of the offending value. */
  readonly path: string;

  constructor(message: string, path: string) {
    super('ERR_IMAGELIST_SERIALIZE', `${message} at ${path || '(document)'}`);
    this.name = 'ImageListSerializeError';
    this.path = path;
  }
}

/** At most this many issues are carried by one {@link ImageListValidationError}. */
export const MAX_ISSUES = 100;

/** Shortens a value for an error message so a hostile 10 MB string never ends up in a log line. */
export function preview(value: unknown, max = 64): string {
  let s: string;
  if (typeof value === 'string') s = value;
  else {
    try {
      s = String(value);
    } catch {
      s = Object.prototype.toString.call(value);
    }
  }
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

/** Escapes one reference token of a JSON pointer (RFC 6901). */
export function pointerToken(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}
