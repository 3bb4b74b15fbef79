/** Stable codes of {@link StoreError}. */
export type StoreErrorCode =
  | 'ERR_STORE_URL'
  | 'ERR_STORE_OPEN'
  | 'ERR_STORE_MIGRATION'
  | 'ERR_STORE_NOT_FOUND'
  | 'ERR_STORE_CONFLICT'
  | 'ERR_STORE_INVALID'
  | 'ERR_STORE_LOCKED'
  | 'ERR_STORE_LEGACY';

export interface StoreErrorContext {
  /** The store URL (password removed) or legacy source URL concerned. */
  url?: string;
  /** What kind of thing was looked up: `subscription`, `image`, `endorser`, … */
  entity?: string;
  /** The identifier, DN or key concerned. */
  key?: string;
  /** The lock name for `ERR_STORE_LOCKED`. */
  lock?: string;
}

/** The one error class of this package. Branch on `code`, never on the message. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  readonly url?: string;
  readonly entity?: string;
  readonly key?: string;
  readonly lock?: string;

  constructor(
    code: StoreErrorCode,
    message: string,
    context: StoreErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (context.url !== undefined) this.url = context.url;
    if (context.entity !== undefined) this.entity = context.entity;
    if (context.key !== undefined) this.key = context.key;
    if (context.lock !== undefined) this.lock = context.lock;
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

/** True for a unique/primary-key violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True for a foreign-key violation on either dialect. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
