// One error class for the publisher; the CLI maps `code` to an exit status in one place (exit-codes.ts).

export type VmcasterErrorCode =
  | 'ERR_VMCASTER_USAGE'
  | 'ERR_VMCASTER_CONFIG'
  | 'ERR_VMCASTER_NOT_FOUND'
  | 'ERR_VMCASTER_CONFLICT'
  | 'ERR_VMCASTER_IMAGE_NOT_BOUND'
  | 'ERR_VMCASTER_IMAGE_NO_URI'
  | 'ERR_VMCASTER_FORMAT'
  | 'ERR_VMCASTER_COMPRESS'
  | 'ERR_VMCASTER_IMAGELIST_INVALID'
  | 'ERR_VMCASTER_NO_URI'
  | 'ERR_VMCASTER_CREDENTIALS'
  | 'ERR_VMCASTER_KEY'
  | 'ERR_VMCASTER_PASSPHRASE'
  | 'ERR_VMCASTER_KEY_USAGE'
  | 'ERR_VMCASTER_NO_DIGITAL_SIGNATURE'
  | 'ERR_VMCASTER_ENDORSER_MISMATCH'
  | 'ERR_VMCASTER_UPLOAD_CONFIG'
  | 'ERR_VMCASTER_UPLOAD'
  | 'ERR_VMCASTER_DOWNLOAD'
  | 'ERR_VMCASTER_VERIFY';

export interface VmcasterErrorOptions {
  cause?: unknown;
  /** The image list, image or endorser the error is about. */
  subject?: string;
  /** Further details, one per line (validation issues, transfer output). */
  details?: string[];
}

export class VmcasterError extends Error {
  override readonly name = 'VmcasterError';
  readonly code: VmcasterErrorCode;
  readonly subject?: string;
  readonly details: string[];

  constructor(code: VmcasterErrorCode, message: string, options: VmcasterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.subject = options.subject;
    this.details = options.details ?? [];
  }
}

export function isVmcasterError(error: unknown): error is VmcasterError {
  return error instanceof VmcasterError;
}
