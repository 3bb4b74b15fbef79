import { assignDefined, HepixError } from '@hepix/common';

/** Every code of {@link ListClientError}, for a CLI's exit table. */
export const LIST_CLIENT_ERROR_CODES = [
  /** The list could not be read: network failure, HTTP status, unreadable file. */
  'ERR_LIST_FETCH',
  /** A redirect broke the policy (https → http, another scheme, too many). */
  'ERR_LIST_REDIRECT',
  /** The https server of the list could not be authenticated. */
  'ERR_LIST_TLS',
  /** The trust anchors (CA directory) are missing or unreadable. */
  'ERR_LIST_TRUST',
  /** The list is larger than allowed. */
  'ERR_LIST_TOO_LARGE',
  /** The fetch ran past its deadline. */
  'ERR_LIST_DEADLINE',
  /** The S/MIME signature does not verify (the SmimeError is the cause; its code is in `smimeCode`). */
  'ERR_LIST_SIGNATURE',
  /** The signed content is not JSON. */
  'ERR_LIST_NOT_JSON',
  /** The JSON is not a valid image list (schema, dates). */
  'ERR_LIST_NOT_IMAGELIST',
  /** No `hv:endorser` of the list has the signer's subject as `hv:dn` and its issuer as `hv:ca`. */
  'ERR_LIST_SIGNER_MISMATCH',
  /** The list's `dc:identifier` is empty or not the one expected. */
  'ERR_LIST_IDENTIFIER',
  /** The signer is not authorised for this subscription. */
  'ERR_LIST_NOT_AUTHORISED',
  /** `dc:date:created` lies in the future. */
  'ERR_LIST_CREATED_IN_FUTURE',
  /** `dc:date:expires` has passed. */
  'ERR_LIST_EXPIRED',
  /** `hv:version` is lower than the stored list's. */
  'ERR_LIST_LOWER_VERSION',
  /** `dc:date:created` is older than the stored list's: a rollback. */
  'ERR_LIST_ROLLBACK',
  /** An unexpected failure (a bug, or an environment problem not foreseen). */
  'ERR_LIST_INTERNAL',
] as const;

export type ListClientErrorCode = (typeof LIST_CLIENT_ERROR_CODES)[number];

export interface ListClientErrorContext {
  /** The URL concerned, without credentials. */
  url?: string;
  /** HTTP status of a failed download. */
  httpStatus?: number;
  /** The code of the SmimeError behind `ERR_LIST_SIGNATURE`. */
  smimeCode?: string;
  cause?: unknown;
}

/** The one error class of `@hepix/imagelist-client`. */
export class ListClientError extends HepixError<ListClientErrorCode> {
  override readonly name = 'ListClientError';
  readonly url?: string;
  readonly httpStatus?: number;
  readonly smimeCode?: string;

  constructor(code: ListClientErrorCode, message: string, context: ListClientErrorContext = {}) {
    super(code, message, { cause: context.cause });
    assignDefined<ListClientError>(this, {
      url: context.url,
      httpStatus: context.httpStatus,
      smimeCode: context.smimeCode,
    });
  }
}
