// The one table from error codes to the exit statuses of the vmcatcher tools. Every code that any library
// can throw at these tools is a key, so a new code breaks the build until it is given a status here.
// Statuses of conditions the original vmcatcher knew keep the original's numbers (reference §3.2).
import { HepixError } from '@hepix/common';
import type { ImageListErrorCode } from '@hepix/hepix-imagelist-schema';
import type { ImageCacheErrorCode, SubscriptionErrorCode } from '@hepix/image-cache';
import type { ListClientErrorCode } from '@hepix/imagelist-client';
import type { StoreErrorCode } from '@hepix/imagelist-store';
import type { SitePolicyErrorCode } from '@hepix/site-policy';
import type { SmimeErrorCode } from '@hepix/smime-x509';
import type { TransportErrorCode } from '@hepix/transport';

/** Conditions only the command line knows. */
export const CLI_ERROR_CODES = [
  /** Bad options or arguments. */
  'ERR_CLI_USAGE',
  /** An option value out of its range (the original exits 1 for these, not 2). */
  'ERR_CLI_USAGE_VALUE',
  /** No action, several actions, or conflicting selectors. */
  'ERR_CLI_ACTION',
  /** A named subscription, endorser or image does not exist. */
  'ERR_CLI_NOT_FOUND',
  /** The certificate directory is missing. */
  'ERR_CLI_CERT_DIR',
  /** The logging configuration file is missing or unreadable. */
  'ERR_CLI_LOG_CONFIG',
  /** `vmcatcher_endorser --create` without what it needs. */
  'ERR_CLI_ENDORSER_CREATE',
  /** `--image-accept` of an image already registered. */
  'ERR_CLI_IMAGE_REGISTERED',
  /** `import-legacy` found data on both sides and was not told to replace it. */
  'ERR_CLI_IMPORT_CONFLICT',
  /** `vmcatcher_image -a -u UUID` matches images of several subscriptions and none was chosen. */
  'ERR_CLI_IMAGE_AMBIGUOUS',
  /** `--policy-check`: the site policy refuses every entry of the image (a decision, with a status of its own). */
  'ERR_CLI_POLICY_REFUSED',
  /** `--prometheus FILE` could not be written. */
  'ERR_CLI_PROMETHEUS',
  /** A failure the tools did not foresee (a bug): reported with its stack at debug level. */
  'ERR_CLI_INTERNAL',
] as const;

export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/** An error of the command line itself (usage, selections); libraries' errors pass through as they are. */
export class CliError extends HepixError<CliErrorCode> {
  override readonly name: string = 'CliError';
}

/** Every code the vmcatcher tools can see. */
export type VmcatcherCode =
  | CliErrorCode
  | StoreErrorCode
  | SmimeErrorCode
  | ImageListErrorCode
  | TransportErrorCode
  | ListClientErrorCode
  | SubscriptionErrorCode
  | ImageCacheErrorCode
  | SitePolicyErrorCode;

/** Exit status of software errors (sysexits' EX_SOFTWARE): a bug, never a property of the input. */
const EXIT_INTERNAL = 70;

export const EXIT = {
  ERR_CLI_USAGE: 2,
  ERR_CLI_USAGE_VALUE: 1,
  ERR_CLI_ACTION: 1,
  ERR_CLI_NOT_FOUND: 1,
  ERR_CLI_CERT_DIR: 1,
  ERR_CLI_LOG_CONFIG: 1,
  ERR_CLI_ENDORSER_CREATE: 12,
  ERR_CLI_IMAGE_REGISTERED: 39,
  ERR_CLI_IMPORT_CONFLICT: 15,
  ERR_CLI_IMAGE_AMBIGUOUS: 41,
  ERR_CLI_POLICY_REFUSED: 42,
  ERR_CLI_PROMETHEUS: 1,
  ERR_CLI_INTERNAL: EXIT_INTERNAL,

  ERR_STORE_URL: 1,
  ERR_STORE_OPEN: 1,
  ERR_STORE_MIGRATION: 1,
  ERR_STORE_NOT_FOUND: 1,
  ERR_STORE_CONFLICT: 15,
  ERR_STORE_INVALID: 1,
  // Another run holds the lock (sysexits' EX_TEMPFAIL: try again later).
  ERR_STORE_LOCKED: 75,
  ERR_STORE_LEGACY: 1,
  ERR_STORE_INTERNAL: EXIT_INTERNAL,

  // A signature that does not verify is the original's "validation failed".
  ERR_SMIME_MALFORMED: 11,
  ERR_SMIME_DIGEST_MISMATCH: 11,
  ERR_SMIME_SIGNATURE_INVALID: 11,
  ERR_SMIME_SIGNER_COUNT: 11,
  ERR_SMIME_UNTRUSTED: 11,
  ERR_SMIME_CERT_EXPIRED: 11,
  ERR_SMIME_CERT_NOT_YET_VALID: 11,
  ERR_SMIME_REVOKED: 11,
  ERR_SMIME_CRL_MISSING: 11,
  ERR_SMIME_CRL_EXPIRED: 11,
  ERR_SMIME_CRL_INVALID: 11,
  ERR_SMIME_KEY_USAGE: 11,
  ERR_SMIME_NAMESPACE: 11,
  ERR_SMIME_BAD_KEY: 11,
  ERR_SMIME_UNRESTRICTED_CA: 11,
  ERR_SMIME_SELF_SIGNED_SIGNER: 11,
  ERR_SMIME_INTERNAL: EXIT_INTERNAL,

  ERR_IMAGELIST_INVALID: 38,
  ERR_IMAGELIST_DATE: 38,
  ERR_IMAGELIST_VERSION: 38,
  ERR_IMAGELIST_SERIALIZE: EXIT_INTERNAL,
  ERR_IMAGELIST_INTERNAL: EXIT_INTERNAL,

  ERR_TRANSPORT_URL: 10,
  ERR_TRANSPORT_PROTOCOL: 10,
  ERR_TRANSPORT_REDIRECT: 10,
  ERR_TRANSPORT_TLS: 50,
  ERR_TRANSPORT_CONNECT: 10,
  ERR_TRANSPORT_PROXY: 10,
  ERR_TRANSPORT_TIMEOUT: 10,
  ERR_TRANSPORT_DEADLINE: 10,
  ERR_TRANSPORT_ABORTED: 10,
  ERR_TRANSPORT_TRUST: 14,
  ERR_TRANSPORT_BODY: 10,
  ERR_TRANSPORT_INTERNAL: EXIT_INTERNAL,

  ERR_LIST_FETCH: 10,
  ERR_LIST_REDIRECT: 10,
  ERR_LIST_TLS: 50,
  ERR_LIST_TRUST: 14,
  ERR_LIST_TOO_LARGE: 10,
  ERR_LIST_DEADLINE: 10,
  ERR_LIST_SIGNATURE: 11,
  ERR_LIST_NOT_JSON: 37,
  ERR_LIST_NOT_IMAGELIST: 38,
  ERR_LIST_SIGNER_MISMATCH: 12,
  ERR_LIST_IDENTIFIER: 31,
  ERR_LIST_NOT_AUTHORISED: 13,
  ERR_LIST_CREATED_IN_FUTURE: 33,
  ERR_LIST_EXPIRED: 34,
  ERR_LIST_LOWER_VERSION: 17,
  ERR_LIST_ROLLBACK: 18,
  ERR_LIST_INTERNAL: EXIT_INTERNAL,

  // The list's own failures are ERR_LIST_* above; these are the subscription engine's.
  ERR_SUB_NOT_FOUND: 1,
  ERR_SUB_INVALID_ARGUMENT: 1,
  ERR_SUB_CONFLICT: 15,
  ERR_SUB_NO_TRUST_ANCHOR: 14,
  ERR_SUB_UNKNOWN_ENDORSER: 13,
  ERR_SUB_IMAGE_REFUSED: 32,
  ERR_SUB_TOO_SLOW: 10,
  // A list older than the site's max-list-age is handled like an expired one.
  ERR_SUB_LIST_TOO_OLD: 34,
  ERR_SUB_INTERNAL: EXIT_INTERNAL,

  // vmcatcher_cache: each class of failure its own status (80-89); TLS and trust as for lists.
  ERR_CACHE_DIRECTORY: 1,
  ERR_CACHE_INDEX: 1,
  ERR_CACHE_VETOED: 1,
  ERR_CACHE_DOWNLOAD: 80,
  ERR_CACHE_DEADLINE: 81,
  ERR_CACHE_REDIRECT: 82,
  ERR_CACHE_VERIFY: 83,
  ERR_CACHE_CORRUPT: 84,
  ERR_CACHE_NO_SPACE: 85,
  ERR_CACHE_GAVE_UP: 86,
  ERR_CACHE_URI_REFUSED: 87,
  ERR_CACHE_UNSAFE_FILE: 88,
  ERR_CACHE_EVENT: 89,
  ERR_CACHE_OBJECT_STORE: 90,
  ERR_CACHE_TLS: 50,
  ERR_CACHE_TRUST: 14,
  ERR_CACHE_INTERNAL: EXIT_INTERNAL,

  // A site policy that cannot be read or parsed stops the run with a status of its own.
  ERR_POLICY_SYNTAX: 40,
  ERR_POLICY_UNKNOWN_SECTION: 40,
  ERR_POLICY_UNKNOWN_KEY: 40,
  ERR_POLICY_DUPLICATE: 40,
  ERR_POLICY_VALUE: 40,
  ERR_POLICY_REGEX: 40,
  ERR_POLICY_READ: 40,
  ERR_POLICY_INPUT: EXIT_INTERNAL,
  ERR_POLICY_INTERNAL: EXIT_INTERNAL,
} as const satisfies Record<VmcatcherCode, number>;

/**
 * Severity for picking the exit status of a run over several subscriptions: any rejection outranks the
 * informational 32 ("new images refused, list imported"), and 0 ranks lowest.
 */
export function statusSeverity(status: number): number {
  if (status === 0) return 0;
  if (status === EXIT.ERR_SUB_IMAGE_REFUSED) return 1;
  return 2 + status;
}

/** The worst of several statuses (see statusSeverity). */
export function worstStatus(statuses: Iterable<number>): number {
  let worst = 0;
  for (const s of statuses) if (statusSeverity(s) > statusSeverity(worst)) worst = s;
  return worst;
}

/** The exit status and the message to log for anything thrown out of a tool. */
export function exitCodeFor(err: unknown): { exitCode: number; message: string; code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && Object.hasOwn(EXIT, code)) {
    return { exitCode: EXIT[code as VmcatcherCode], message: message || code, code };
  }
  return { exitCode: EXIT.ERR_CLI_INTERNAL, message: `internal error: ${message}`, code: 'ERR_CLI_INTERNAL' };
}
