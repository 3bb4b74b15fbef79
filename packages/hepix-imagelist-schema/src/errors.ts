import { HepixError } from '@hepix/common';

/** Every error code this package throws (for a CLI's code → exit status table). */
export const IMAGELIST_ERROR_CODES = [
  'ERR_IMAGELIST_INVALID',
  'ERR_IMAGELIST_DATE',
  'ERR_IMAGELIST_VERSION',
  'ERR_IMAGELIST_SERIALIZE',
  'ERR_IMAGELIST_INTERNAL',
] as const;

/** Stable error codes thrown by this package. */
export type ImageListErrorCode = (typeof IMAGELIST_ERROR_CODES)[number];

/** One problem found in an image list. */
export interface ValidationIssue {
  /** JSON pointer (RFC 6901) into the input document; `""` is the whole document. */
  path: string;
  message: string;
}

/**
 * The class every error of this package is an instance of: catch this one and branch on `code`. The subclasses
 * below only add the typed context of their code (`issues`, `field`, …); `ERR_IMAGELIST_INTERNAL` (an
 * unexpected exception, `cause` has it) is a plain ImageListError.
 */
export class ImageListError<C extends ImageListErrorCode = ImageListErrorCode> extends HepixError<C> {
  override readonly name: string = 'ImageListError';
}

/** What made the input unacceptable. */
export type ImageListInvalidReason = 'encoding' | 'syntax' | 'limits' | 'schema';

/** The input is not an acceptable image list: bad bytes, bad JSON, too big or too deep, or the wrong shape. */
export class ImageListValidationError extends ImageListError<'ERR_IMAGELIST_INVALID'> {
  override readonly name = 'ImageListValidationError';
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
    super('ERR_IMAGELIST_INVALID', `invalid image list: ${head}${more}`, { cause: options?.cause });
    this.issues = issues;
    this.reason = options?.reason ?? 'schema';
  }
}

/** A date is not exactly `YYYY-MM-DDTHH:MM:SSZ` (UTC) or not a real calendar date. */
export class ImageListDateError extends ImageListError<'ERR_IMAGELIST_DATE'> {
  override readonly name = 'ImageListDateError';
  /** The key the date came from, when the caller named it. */
  readonly field: string | undefined;
  /** The offending value, shortened to at most 64 characters. */
  readonly value: string;

  constructor(message: string, field: string | undefined, value: string, options?: { cause?: unknown }) {
    super('ERR_IMAGELIST_DATE', message, { cause: options?.cause });
    this.field = field;
    this.value = value;
  }
}

/** A version string could not be compared or bumped (not a string). */
export class ImageListVersionError extends ImageListError<'ERR_IMAGELIST_VERSION'> {
  override readonly name = 'ImageListVersionError';

  constructor(message: string) {
    super('ERR_IMAGELIST_VERSION', message);
  }
}

/** A value cannot be written as canonical JSON (cycle, too deep, not a JSON value). */
export class ImageListSerializeError extends ImageListError<'ERR_IMAGELIST_SERIALIZE'> {
  override readonly name = 'ImageListSerializeError';
  /** JSON pointer of the offending value. */
  readonly path: string;

  constructor(message: string, path: string) {
    super('ERR_IMAGELIST_SERIALIZE', `${message} at ${path || '(document)'}`);
    this.path = path;
  }
}

/** Rethrows errors of this package; anything else becomes ERR_IMAGELIST_INTERNAL with it as the cause. */
export function internal(err: unknown, doing: string): never {
  if (err instanceof ImageListError) throw err;
  throw new ImageListError(
    'ERR_IMAGELIST_INTERNAL',
    `internal error while ${doing}: ${preview(err instanceof Error ? err.message : err, 200)}`,
    { cause: err },
  );
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
