import { assignDefined, HepixError } from '@hepix/common';

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
  'ERR_SMIME_UNRESTRICTED_CA',
  'ERR_SMIME_SELF_SIGNED_SIGNER',
  'ERR_SMIME_BAD_KEY',
  'ERR_SMIME_INTERNAL',
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
  /**
   * The trust directory file involved: the file that could not be read, the policy file a CA lacks
   * (`ERR_SMIME_UNRESTRICTED_CA`: `<dir>/<hash>.namespaces`), the file of a self-signed signer.
   */
  path?: string;
  cause?: unknown;
}

/** The one error class of this package; branch on `code`. */
export class SmimeError extends HepixError<SmimeErrorCode> {
  override readonly name = 'SmimeError';
  declare readonly subject?: string;
  declare readonly issuer?: string;
  declare readonly serialNumber?: string;
  declare readonly reason?: BadKeyReason;
  declare readonly path?: string;

  constructor(code: SmimeErrorCode, message: string, details: SmimeErrorDetails = {}) {
    const { cause, ...fields } = details;
    super(code, message, { cause });
    assignDefined<SmimeErrorDetails>(this, fields);
  }
}

export function malformed(message: string, cause?: unknown): SmimeError {
  return new SmimeError('ERR_SMIME_MALFORMED', message, { cause });
}

/** Codes of the reservations a verification can accept with (see VerifiedMessage.warnings). */
export const SMIME_WARNING_CODES = [
  'WARN_SMIME_SHA1',
  'WARN_SMIME_UNRESTRICTED_CA',
  'WARN_SMIME_SELF_SIGNED_SIGNER',
] as const;

export type SmimeWarningCode = (typeof SMIME_WARNING_CODES)[number];

/** Something a verification accepted with a reservation. */
export interface SmimeWarning {
  code: SmimeWarningCode;
  message: string;
  /** One-line DN of the certificate (or CRL issuer) it is about, when there is one. */
  subject?: string;
}
