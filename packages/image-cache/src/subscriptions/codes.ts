// The codes of ImageCacheError that only the subscription engine raises. Everything about a list itself
// (fetch, TLS, signature, content, signer, dates, versions, authorisation) keeps the code of
// @hepix/imagelist-client (`ERR_LIST_*`, its ListClientError passed through); store failures keep their
// `ERR_STORE_*`. The CLI maps each code to the original vmcatcher exit status.

/** Every subscription-specific code of {@link ImageCacheError}, for the package's code list and a CLI's exit table. */
export const SUBSCRIPTION_ERROR_CODES = [
  /** No subscription with that identifier or URI, or no stored list to show yet. */
  'ERR_SUB_NOT_FOUND',
  /** A bad argument: an invalid URL, conflicting selectors, an out-of-range option. */
  'ERR_SUB_INVALID_ARGUMENT',
  /** Already subscribed (the list's identifier or the URL is taken). */
  'ERR_SUB_CONFLICT',
  /** No trust anchors: no certificate directory, or it cannot be read. */
  'ERR_SUB_NO_TRUST_ANCHOR',
  /** Subscribing to a list whose signer is no known endorser (without auto-endorse). */
  'ERR_SUB_UNKNOWN_ENDORSER',
  /** Not an error of the list: it was imported, but new images were refused by update mode 0. */
  'ERR_SUB_IMAGE_REFUSED',
  /** The list arrived more slowly than the minimum rate allows (`--min-rate`). */
  'ERR_SUB_TOO_SLOW',
  /**
   * The list's `dc:date:created` is older than the site policy's `max-list-age` (a replayed, unexpired list):
   * handled like an expired list, the stored one is retired.
   */
  'ERR_SUB_LIST_TOO_OLD',
  /** An unexpected failure of the engine (a bug): `cause` has it. */
  'ERR_SUB_INTERNAL',
] as const;

export type SubscriptionErrorCode = (typeof SUBSCRIPTION_ERROR_CODES)[number];
