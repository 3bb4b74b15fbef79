/** Every error code this package throws (for a CLI's code → exit status table). */
export const SMIME_ERROR_CODES = [
  'ERR_SMIME_MALFORMED',
  'ERR_SMIME_DIGEST_MISMATCH',
  'ERR_SMIME_SIGNATURE_INVALID',
  'ERR_SMIME_SIGNER_COUNT',
  'ERR_SMIME_UNTRUSTED',
  'ERR_SMIME_CERT_EXPIRED',
  'ERR_SMIME_CERT_NOT_YET_VALID',
  'ERR_SMIME_REVOKED',
  'ERR_SMIME_CRL_MISSING',
  'ERR_SMIME_CRL_EXPIRED',
  'ERR_SMIME_CRL_INVALID',
  'ERR_SMIME_KEY_USAGE',
  'ERR_SMIME_NAMESPACE',
  'ERR_SMIME_BAD_KEY',
] as const;

/** Stable error codes thrown by this package. */
export type SmimeErrorCode = (typeof SMIME_ERROR_CODES)[number];

/** Why a key was rejected (only with `ERR_SMIME_BAD_KEY`). */
export type BadKeyReason = 'passphrase' | 'mismatch' | 'unsupported';

export interface SmimeErrorDetails {
  /** One-line DN of the certificate the error is about, when there is one. */
  subject?: string;
  /** One-line DN of that certificate's issuer. */
  issuer?: string;
  /** Serial number (upper-case hex) of that certificate. */
  serialNumber?: string;
  /** With `ERR_SMIME_BAD_KEY`. */
  reason?: BadKeyReason;
  /** The path (trust directory file) involved, when there is one. */
  path?: string;
  cause?: unknown;
}

/** The one error class of this package; branch on `code`. */
export class SmimeError extends Error {
  override readonly name = 'SmimeError';
  readonly code: SmimeErrorCode;
  readonly subject?: string;
  readonly issuer?: string;
  readonly serialNumber?: string;
  readonly reason?: BadKeyReason;
  readonly path?: string;

  constructor(code: SmimeErrorCode, message: string, details: SmimeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.subject !== undefined) this.subject = details.subject;
    if (details.issuer !== undefined) this.issuer = details.issuer;
    if (details.serialNumber !== undefined) this.serialNumber = details.serialNumber;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.path !== undefined) this.path = details.path;
  }
}

export function malformed(message: string, cause?: unknown): SmimeError {
  return new SmimeError('ERR_SMIME_MALFORMED', message, { cause });
}
