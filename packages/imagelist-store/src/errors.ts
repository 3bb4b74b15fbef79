// The one error class of this package, on HepixError of @hepix/common. Programs branch on `code`, never on the
// message; the codes are declared once, here, so that a CLI can check that it maps every one of them.
import { assignDefined, HepixError } from '@hepix/common';
import type { LeaseHolder } from './lease.js';

/** Every code a {@link StoreError} can carry. */
export const STORE_ERROR_CODES = [
  'ERR_STORE_URL',
  'ERR_STORE_OPEN',
  'ERR_STORE_MIGRATION',
  'ERR_STORE_NOT_FOUND',
  'ERR_STORE_CONFLICT',
  'ERR_STORE_INVALID',
  'ERR_STORE_LOCKED',
  'ERR_STORE_LEGACY',
  'ERR_STORE_INTERNAL',
] as const;

/** Stable codes of {@link StoreError}. */
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

export interface StoreErrorContext {
  /** The store URL (password removed) or legacy source URL concerned. */
  url?: string;
  /** What kind of thing was looked up: `subscription`, `image`, `endorser`, … */
  entity?: string;
  /** The identifier, DN or key concerned. */
  key?: string;
  /** The lock name for `ERR_STORE_LOCKED`. */
  lock?: string;
  /** Who holds the lock, for `ERR_STORE_LOCKED` (when it is known). */
  holder?: LeaseHolder;
}

/** The one error class of this package. Branch on `code`, never on the message. */
export class StoreError extends HepixError<StoreErrorCode> {
  override readonly name = 'StoreError';
  readonly url?: string;
  readonly entity?: string;
  readonly key?: string;
  readonly lock?: string;
  readonly holder?: LeaseHolder;

  constructor(
    code: StoreErrorCode,
    message: string,
    context: StoreErrorContext = {},
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
    assignDefined<StoreError>(this, context);
  }
}

export function notFound(entity: string, key: string): StoreError {
  return new StoreError('ERR_STORE_NOT_FOUND', `${entity} '${key}' does not exist`, { entity, key });
}

export function conflict(entity: string, key: string, what = 'already exists'): StoreError {
  return new StoreError('ERR_STORE_CONFLICT', `${entity} '${key}' ${what}`, { entity, key });
}

export function invalid(message: string, entity?: string, key?: string): StoreError {
  return new StoreError('ERR_STORE_INVALID', message, { entity, key });
}

/** A StoreError as it is; anything else (a driver failure, a bug) as `ERR_STORE_INTERNAL` with its cause. */
export function internal(err: unknown, what: string, url?: string): StoreError {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreError('ERR_STORE_INTERNAL', `${what} failed: ${message}`, { url }, { cause: err });
}
