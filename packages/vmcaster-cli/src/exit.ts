// The one place where error codes become exit statuses. The numbers the original vmcaster used for the same
// conditions are kept (reference §4.5/§4.6: 13, 20-23, 29, 31, 32, 45, 77, 99). The table is checked by the
// compiler against every code the CLI can meet, so a new code breaks the build until it is mapped here.
import type { ImageListErrorCode } from '@hepix/hepix-imagelist-schema';
import type { ListClientErrorCode } from '@hepix/imagelist-client';
import type { PublisherErrorCode } from '@hepix/imagelist-publisher';
import type { StoreErrorCode } from '@hepix/imagelist-store';
import type { SmimeErrorCode } from '@hepix/smime-x509';
import type { TransportErrorCode } from '@hepix/transport';
import type { UploadErrorCode } from '@hepix/upload-facade';
import type { CliErrorCode } from './errors.js';

/** Every exit status of vmcaster, by name. */
export const STATUS = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  IMAGE_NO_URI: 13,
  LIST_INCOMPLETE: 20,
  LIST_TARGET: 21,
  DOWNLOAD: 22,
  CREDENTIALS: 23,
  KEY: 29,
  KEY_USAGE: 31,
  NO_DIGITAL_SIGNATURE: 32,
  VERIFY: 33,
  SIGNER_MISMATCH: 34,
  LIST_DATES: 35,
  IMAGE_NOT_BOUND: 45,
  TRANSFER: 77,
  IMAGE_TARGET: 99,
  INTERRUPTED: 130,
} as const;

export type ExitStatus = (typeof STATUS)[keyof typeof STATUS];

/** What each status means, for `--help` and the README (a test keeps all three the same). */
export const STATUS_MEANINGS: Record<ExitStatus, string> = {
  0: 'success (also: image unchanged, nothing uploaded)',
  1: 'other failure (no configuration file, compression failed, database error, internal error)',
  2: 'usage error (unknown option, more than one action, missing selection, invalid value)',
  3: 'endorser, list, image, location or file not found',
  4: 'already exists',
  13: 'the image has no (valid) hv:uri',
  20: 'the list cannot be published (incomplete or invalid in strict mode, also --imagelist-show; no hv:uri; no bound endorser matches the certificate), or an imported list is not an image list',
  21: 'list upload: no configuration section for the host, or a bad target',
  22: 'download failed (protocol, HTTP status, network, TLS, size)',
  23: 'certificate or key file unreadable or not PEM/PKCS#12',
  29: 'private key unusable: wrong or missing passphrase, key not matching the certificate',
  31: 'the certificate has no keyUsage extension',
  32: "the certificate's keyUsage lacks digitalSignature",
  33: "an imported or downloaded list's signature cannot be verified (or the trust directory cannot be read)",
  34: 'an imported or downloaded list is signed by someone other than its hv:endorser',
  35: 'an imported or downloaded list was created in the future',
  45: 'the image is not part of any image list',
  77: 'the transfer failed',
  99: 'image upload: no configuration section for the host, or a bad target',
  130: 'interrupted (Ctrl-C, SIGTERM): nothing was changed',
};

/** Every code the CLI can meet: the libraries' and its own. */
export type EveryCode =
  | PublisherErrorCode
  | StoreErrorCode
  | UploadErrorCode
  | SmimeErrorCode
  | ImageListErrorCode
  | ListClientErrorCode
  | TransportErrorCode
  | CliErrorCode;

export const EXIT = {
  // @hepix/imagelist-publisher
  ERR_PUBLISHER_NOT_FOUND: STATUS.NOT_FOUND,
  ERR_PUBLISHER_INVALID_ARGUMENT: STATUS.USAGE,
  ERR_PUBLISHER_DOCUMENT: STATUS.LIST_INCOMPLETE,
  ERR_PUBLISHER_IMAGE_NOT_BOUND: STATUS.IMAGE_NOT_BOUND,
  ERR_PUBLISHER_IMAGE_NO_URI: STATUS.IMAGE_NO_URI,
  ERR_PUBLISHER_FORMAT: STATUS.FAILURE,
  ERR_PUBLISHER_COMPRESS: STATUS.FAILURE,
  ERR_PUBLISHER_LIST_INCOMPLETE: STATUS.LIST_INCOMPLETE,
  ERR_PUBLISHER_LIST_NO_URI: STATUS.LIST_INCOMPLETE,
  ERR_PUBLISHER_ENDORSER_MISMATCH: STATUS.LIST_INCOMPLETE,
  ERR_PUBLISHER_CREDENTIALS: STATUS.CREDENTIALS,
  ERR_PUBLISHER_KEY: STATUS.KEY,
  ERR_PUBLISHER_PASSPHRASE: STATUS.KEY,
  ERR_PUBLISHER_KEY_USAGE: STATUS.KEY_USAGE,
  ERR_PUBLISHER_NO_DIGITAL_SIGNATURE: STATUS.NO_DIGITAL_SIGNATURE,
  ERR_PUBLISHER_TRUST: STATUS.VERIFY,
  ERR_PUBLISHER_IMAGE_TARGET: STATUS.IMAGE_TARGET,
  ERR_PUBLISHER_LIST_TARGET: STATUS.LIST_TARGET,
  ERR_PUBLISHER_TRANSFER: STATUS.TRANSFER,
  ERR_PUBLISHER_ABORTED: STATUS.INTERRUPTED,
  ERR_PUBLISHER_INTERNAL: STATUS.FAILURE,
  // @hepix/imagelist-store
  ERR_STORE_URL: STATUS.FAILURE,
  ERR_STORE_OPEN: STATUS.FAILURE,
  ERR_STORE_MIGRATION: STATUS.FAILURE,
  ERR_STORE_NOT_FOUND: STATUS.NOT_FOUND,
  ERR_STORE_CONFLICT: STATUS.CONFLICT,
  ERR_STORE_INVALID: STATUS.USAGE,
  ERR_STORE_LOCKED: STATUS.FAILURE,
  ERR_STORE_LEGACY: STATUS.FAILURE,
  ERR_STORE_INTERNAL: STATUS.FAILURE,
  // @hepix/upload-facade (the publisher reports upload failures with its own codes; these are what escapes)
  ERR_UPLOAD_CONFIG: STATUS.FAILURE,
  ERR_UPLOAD_NO_SECTION: STATUS.FAILURE,
  ERR_UPLOAD_TARGET: STATUS.FAILURE,
  ERR_UPLOAD_FAILED: STATUS.TRANSFER,
  ERR_UPLOAD_ABORTED: STATUS.INTERRUPTED,
  ERR_UPLOAD_HOST_KEY: STATUS.TRANSFER,
  ERR_UPLOAD_TLS: STATUS.TRANSFER,
  ERR_UPLOAD_AUTH: STATUS.TRANSFER,
  ERR_UPLOAD_UNSUPPORTED: STATUS.TRANSFER,
  // @hepix/smime-x509 (signing errors come as ERR_PUBLISHER_KEY*; the rest are verification failures)
  ERR_SMIME_MALFORMED: STATUS.VERIFY,
  ERR_SMIME_DIGEST_MISMATCH: STATUS.VERIFY,
  ERR_SMIME_SIGNATURE_INVALID: STATUS.VERIFY,
  ERR_SMIME_SIGNER_COUNT: STATUS.VERIFY,
  ERR_SMIME_UNTRUSTED: STATUS.VERIFY,
  ERR_SMIME_CERT_EXPIRED: STATUS.VERIFY,
  ERR_SMIME_CERT_NOT_YET_VALID: STATUS.VERIFY,
  ERR_SMIME_REVOKED: STATUS.VERIFY,
  ERR_SMIME_CRL_MISSING: STATUS.VERIFY,
  ERR_SMIME_CRL_EXPIRED: STATUS.VERIFY,
  ERR_SMIME_CRL_INVALID: STATUS.VERIFY,
  ERR_SMIME_KEY_USAGE: STATUS.KEY,
  ERR_SMIME_NAMESPACE: STATUS.VERIFY,
  ERR_SMIME_UNRESTRICTED_CA: STATUS.VERIFY,
  ERR_SMIME_SELF_SIGNED_SIGNER: STATUS.VERIFY,
  ERR_SMIME_BAD_KEY: STATUS.KEY,
  ERR_SMIME_INTERNAL: STATUS.FAILURE,
  // @hepix/hepix-imagelist-schema
  ERR_IMAGELIST_INVALID: STATUS.LIST_INCOMPLETE,
  ERR_IMAGELIST_DATE: STATUS.LIST_INCOMPLETE,
  ERR_IMAGELIST_VERSION: STATUS.FAILURE,
  ERR_IMAGELIST_SERIALIZE: STATUS.LIST_INCOMPLETE,
  ERR_IMAGELIST_INTERNAL: STATUS.FAILURE,
  // @hepix/imagelist-client (imports and downloads)
  ERR_LIST_FETCH: STATUS.DOWNLOAD,
  ERR_LIST_REDIRECT: STATUS.DOWNLOAD,
  ERR_LIST_TLS: STATUS.DOWNLOAD,
  ERR_LIST_TRUST: STATUS.VERIFY,
  ERR_LIST_TOO_LARGE: STATUS.DOWNLOAD,
  ERR_LIST_DEADLINE: STATUS.DOWNLOAD,
  ERR_LIST_SIGNATURE: STATUS.VERIFY,
  ERR_LIST_NOT_JSON: STATUS.LIST_INCOMPLETE,
  ERR_LIST_NOT_IMAGELIST: STATUS.LIST_INCOMPLETE,
  ERR_LIST_SIGNER_MISMATCH: STATUS.SIGNER_MISMATCH,
  ERR_LIST_IDENTIFIER: STATUS.LIST_INCOMPLETE,
  ERR_LIST_NOT_AUTHORISED: STATUS.VERIFY,
  ERR_LIST_CREATED_IN_FUTURE: STATUS.LIST_DATES,
  ERR_LIST_EXPIRED: STATUS.LIST_DATES,
  ERR_LIST_LOWER_VERSION: STATUS.FAILURE,
  ERR_LIST_ROLLBACK: STATUS.FAILURE,
  ERR_LIST_INTERNAL: STATUS.FAILURE,
  // @hepix/transport (downloads)
  ERR_TRANSPORT_URL: STATUS.DOWNLOAD,
  ERR_TRANSPORT_PROTOCOL: STATUS.DOWNLOAD,
  ERR_TRANSPORT_REDIRECT: STATUS.DOWNLOAD,
  ERR_TRANSPORT_TLS: STATUS.DOWNLOAD,
  ERR_TRANSPORT_CONNECT: STATUS.DOWNLOAD,
  ERR_TRANSPORT_PROXY: STATUS.DOWNLOAD,
  ERR_TRANSPORT_TIMEOUT: STATUS.DOWNLOAD,
  ERR_TRANSPORT_DEADLINE: STATUS.DOWNLOAD,
  ERR_TRANSPORT_ABORTED: STATUS.INTERRUPTED,
  ERR_TRANSPORT_TRUST: STATUS.DOWNLOAD,
  ERR_TRANSPORT_BODY: STATUS.DOWNLOAD,
  ERR_TRANSPORT_INTERNAL: STATUS.FAILURE,
  // the CLI
  ERR_CLI_USAGE: STATUS.USAGE,
  ERR_CLI_CONFIG: STATUS.FAILURE,
  ERR_CLI_NOT_FOUND: STATUS.NOT_FOUND,
  ERR_CLI_INTERNAL: STATUS.FAILURE,
} as const satisfies Record<EveryCode, ExitStatus>;

/** The exit status for an error, by its code; an error without one of the known codes is a failure (1). */
export function exitCodeFor(error: unknown): ExitStatus {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(EXIT, code) ? EXIT[code as EveryCode] : STATUS.FAILURE;
}
