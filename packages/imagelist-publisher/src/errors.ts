// The one error class of @hepix/imagelist-publisher. Errors of the packages below (StoreError,
// ListClientError, SmimeError, ImageListError) pass through as they are; upload failures are reported with
// the publisher's codes, because whether an upload configuration problem concerns an image or a list matters
// to the caller (the original vmcaster exits 99 for one and 21 for the other).
import { assignDefined, HepixError, isHepixError, messageOf } from '@hepix/common';

/** Every code of {@link PublisherError}, for a CLI's exit table. */
export const PUBLISHER_ERROR_CODES = [
  /** An image list, image, endorser or location that is not there. */
  'ERR_PUBLISHER_NOT_FOUND',
  /** A value given by the caller is not acceptable (an empty deprecation reason, a location that is no URL). */
  'ERR_PUBLISHER_INVALID_ARGUMENT',
  /** A document to import is not an image list. */
  'ERR_PUBLISHER_DOCUMENT',
  /** The image is not bound to any image list. */
  'ERR_PUBLISHER_IMAGE_NOT_BOUND',
  /** The image has no (valid) `hv:uri` to publish next to. */
  'ERR_PUBLISHER_IMAGE_NO_URI',
  /** The image file is compressed otherwise than its `hv:format` says. */
  'ERR_PUBLISHER_FORMAT',
  /** Compressing the image failed. */
  'ERR_PUBLISHER_COMPRESS',
  /** The list cannot be published: it does not validate in strict mode (the problems are in `details`). */
  'ERR_PUBLISHER_LIST_INCOMPLETE',
  /** The list has no `hv:uri` to publish to. */
  'ERR_PUBLISHER_LIST_NO_URI',
  /** No endorser bound to the list has the signing certificate's subject and issuer. */
  'ERR_PUBLISHER_ENDORSER_MISMATCH',
  /** The certificate or key file cannot be read or decoded. */
  'ERR_PUBLISHER_CREDENTIALS',
  /** The private key cannot be used: unsupported, or not the certificate's. */
  'ERR_PUBLISHER_KEY',
  /** The passphrase of the key (or PKCS#12 file) is missing or wrong. */
  'ERR_PUBLISHER_PASSPHRASE',
  /** The signing certificate has no keyUsage extension. */
  'ERR_PUBLISHER_KEY_USAGE',
  /** The signing certificate's keyUsage lacks digitalSignature. */
  'ERR_PUBLISHER_NO_DIGITAL_SIGNATURE',
  /** The trust directory for verifying imported lists cannot be loaded. */
  'ERR_PUBLISHER_TRUST',
  /** No upload configuration for the image's host, or a target the configuration refuses. */
  'ERR_PUBLISHER_IMAGE_TARGET',
  /** No upload configuration for the list's host, or a target the configuration refuses. */
  'ERR_PUBLISHER_LIST_TARGET',
  /** The transfer failed (connection, server, authentication, disk). */
  'ERR_PUBLISHER_TRANSFER',
  /** The caller's signal fired; nothing was changed. */
  'ERR_PUBLISHER_ABORTED',
  /** An unexpected failure (a bug, or an environment problem nobody foresaw). */
  'ERR_PUBLISHER_INTERNAL',
] as const;

export type PublisherErrorCode = (typeof PUBLISHER_ERROR_CODES)[number];

export interface PublisherErrorContext {
  /** The image list, image, endorser or file the error is about. */
  subject?: string;
  /** Further details, one per line (validation issues, transfer output). */
  details?: string[];
  /** The public URI concerned (an upload, a download). */
  uri?: string;
  cause?: unknown;
}

export class PublisherError extends HepixError<PublisherErrorCode> {
  override readonly name = 'PublisherError';
  readonly subject?: string;
  readonly details: string[];
  readonly uri?: string;

  constructor(code: PublisherErrorCode, message: string, context: PublisherErrorContext = {}) {
    super(code, message, { cause: context.cause });
    this.details = context.details ?? [];
    assignDefined<PublisherError>(this, { subject: context.subject, uri: context.uri });
  }
}

/** Errors of this and the other HEPiX packages as they are; anything else as `ERR_PUBLISHER_INTERNAL`. */
export function internal(err: unknown, what: string): Error {
  if (isHepixError(err)) return err;
  return new PublisherError('ERR_PUBLISHER_INTERNAL', `${what} failed: ${messageOf(err)}`, { cause: err });
}
