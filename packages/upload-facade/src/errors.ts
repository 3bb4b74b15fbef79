/** Stable error codes of @hepix/upload-facade. */
export type UploadErrorCode =
  | 'ERR_UPLOAD_CONFIG'
  | 'ERR_UPLOAD_NO_SECTION'
  | 'ERR_UPLOAD_TARGET'
  | 'ERR_UPLOAD_FAILED'
  | 'ERR_UPLOAD_ABORTED'
  | 'ERR_UPLOAD_HOST_KEY'
  | 'ERR_UPLOAD_TLS'
  | 'ERR_UPLOAD_AUTH'
  | 'ERR_UPLOAD_UNSUPPORTED';

/** Context fields an {@link UploadError} may carry; which ones are set depends on the code. */
export interface UploadErrorContext {
  /** Configuration file (config errors, no-section errors). */
  file?: string;
  /** Configuration section name. */
  section?: string;
  /** Configuration key. */
  key?: string;
  /** Host name of a public URI or a remote server. */
  host?: string;
  /** Remote target (after mapping). */
  target?: string;
  /** Protocol / backend name. */
  protocol?: string;
  /** HTTP status code, command exit code or SFTP status. */
  status?: number;
  /** The original error. */
  cause?: unknown;
}

/** The one error class of this package: check `code`, never the message. */
export class UploadError extends Error {
  override name = 'UploadError';
  readonly code: UploadErrorCode;
  readonly file?: string;
  readonly section?: string;
  readonly key?: string;
  readonly host?: string;
  readonly target?: string;
  readonly protocol?: string;
  readonly status?: number;

  constructor(code: UploadErrorCode, message: string, context: UploadErrorContext = {}) {
    const { cause, ...fields } = context;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    Object.assign(this, fields);
  }
}

/** True when `err` is an {@link UploadError}, optionally with the given code. */
export function isUploadError(err: unknown, code?: UploadErrorCode): err is UploadError {
  return err instanceof UploadError && (code === undefined || err.code === code);
}
