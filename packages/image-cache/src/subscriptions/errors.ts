/**
 * Error codes of the subscription engine, each with the exit status the original vmcatcher used for the same
 * condition (so cron scripts that test `$?` keep working). `ERR_SUB_ROLLBACK` (18) is new: the original never
 * compared `dc:date:created`.
 */
export const SUBSCRIPTION_STATUS = {
  ERR_SUB_DOWNLOAD: 10,
  ERR_SUB_REDIRECT: 10,
  ERR_SUB_VALIDATION: 11,
  ERR_SUB_DN_MISMATCH: 12,
  ERR_SUB_NOT_AUTHORISED: 13,
  ERR_SUB_NO_TRUST_ANCHOR: 14,
  ERR_SUB_CONFLICT: 15,
  ERR_SUB_LOWER_VERSION: 17,
  ERR_SUB_ROLLBACK: 18,
  ERR_SUB_IDENTIFIER: 31,
  ERR_SUB_IMAGE_REFUSED: 32,
  ERR_SUB_CREATED_IN_FUTURE: 33,
  ERR_SUB_EXPIRED: 34,
  ERR_SUB_NOT_JSON: 37,
  ERR_SUB_NOT_IMAGELIST: 38,
  ERR_SUB_TLS: 50,
  ERR_SUB_NOT_FOUND: 1,
  ERR_SUB_INVALID_ARGUMENT: 1,
} as const;

export type SubscriptionErrorCode = keyof typeof SUBSCRIPTION_STATUS;

export interface SubscriptionErrorContext {
  /** The subscription (list `dc:identifier`) concerned, when known. */
  subscription?: string;
  /** The URL concerned, without credentials. */
  url?: string;
  /** HTTP status of a failed download. */
  httpStatus?: number;
  cause?: unknown;
}

/** Thrown (and carried in update results) by subscribe/update. `status` is the original exit code. */
export class SubscriptionError extends Error {
  override readonly name = 'SubscriptionError';
  readonly code: SubscriptionErrorCode;
  readonly status: number;
  readonly subscription?: string;
  readonly url?: string;
  readonly httpStatus?: number;

  constructor(code: SubscriptionErrorCode, message: string, context: SubscriptionErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.status = SUBSCRIPTION_STATUS[code];
    if (context.subscription !== undefined) this.subscription = context.subscription;
    if (context.url !== undefined) this.url = context.url;
    if (context.httpStatus !== undefined) this.httpStatus = context.httpStatus;
  }
}

/**
 * Severity used to pick the exit status of a multi-subscription update: any rejection outranks the
 * informational 32 ("new images refused, list imported"), and 0 ranks lowest.
 */
export function statusSeverity(status: number): number {
  if (status === 0) return 0;
  if (status === SUBSCRIPTION_STATUS.ERR_SUB_IMAGE_REFUSED) return 1;
  return 2 + status;
}

/** The worst of several statuses (see statusSeverity). */
export function worstStatus(statuses: Iterable<number>): number {
  let worst = 0;
  for (const s of statuses) if (statusSeverity(s) > statusSeverity(worst)) worst = s;
  return worst;
}
