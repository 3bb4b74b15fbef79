// The root of every error class in the HEPiX packages. Each package declares its codes once, as a constant
// array (exported, so a CLI can check at compile time that it maps every one of them to an exit status), and
// one class extending HepixError with that union:
//
//   export const STORE_ERROR_CODES = ['ERR_STORE_OPEN', …, 'ERR_STORE_INTERNAL'] as const;
//   export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];
//   export class StoreError extends HepixError<StoreErrorCode> { override readonly name = 'StoreError'; … }
//
// Programs branch on `code`, never on `message`. Libraries never carry exit statuses.

/** Options every HEPiX error accepts. */
export interface HepixErrorOptions {
  /** The error this one was raised for. */
  cause?: unknown;
}

/** Base class of the errors of every `@hepix/*` package: a stable `code`, a message for people, the `cause`. */
export class HepixError<C extends string = string> extends Error {
  override readonly name: string = 'HepixError';
  readonly code: C;

  constructor(code: C, message: string, options: HepixErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** True for any error of a `@hepix/*` package (it has a string `code`). */
export function isHepixError(err: unknown): err is HepixError {
  return err instanceof HepixError;
}

/**
 * Copies the optional context fields that are defined onto `target`, so error objects carry no `undefined`
 * properties (they print and compare cleanly).
 */
export function assignDefined<T extends object>(target: T, fields: Partial<T>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (target as Record<string, unknown>)[key] = value;
  }
}

/** The `code` of an error or of the first error in its `cause` chain that has a string code. */
export function errorCodeOf(err: unknown, maxDepth = 8): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < maxDepth && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
