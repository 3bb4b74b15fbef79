import { assignDefined, HepixError } from '@hepix/common';

/** Every code of {@link ObjectStoreError}, for a CLI's exit table. */
export const OBJECT_STORE_ERROR_CODES = [
  /** No such object, bucket or multipart upload (`s3Code`: NoSuchKey, NoSuchBucket, NoSuchUpload, …). */
  'ERR_OBJECT_NOT_FOUND',
  /** The server refused the credentials or the operation (HTTP 401/403: bad key, bad signature, no right). */
  'ERR_OBJECT_ACCESS_DENIED',
  /** The endpoint could not be reached or the connection broke (after the client's own retries). */
  'ERR_OBJECT_NETWORK',
  /** The server failed (HTTP 5xx, after the client's own retries). */
  'ERR_OBJECT_SERVER',
  /** The bytes are not the ones expected: `mismatch` says whether the `size` or the `sha512` differs. */
  'ERR_OBJECT_INTEGRITY',
  /** The caller's signal aborted the operation; an upload under way was aborted too. */
  'ERR_OBJECT_ABORTED',
  /** Unusable configuration: the `s3://` URL, the endpoint, the CA bundle, missing credentials, a bad bucket name. */
  'ERR_OBJECT_CONFIG',
  /** Bad input from the caller: a malformed key, hash, range or metadata value, too many parts. */
  'ERR_OBJECT_INVALID',
  /** Anything unexpected: a bug, or an answer of the server that makes no sense (`cause`). */
  'ERR_OBJECT_INTERNAL',
] as const;

export type ObjectStoreErrorCode = (typeof OBJECT_STORE_ERROR_CODES)[number];

export interface ObjectStoreErrorContext {
  /** The bucket concerned. */
  bucket?: string;
  /** The object key concerned (the full key, prefix included). */
  key?: string;
  /** HTTP status of a refused request. */
  httpStatus?: number;
  /** The S3 error code of the server's answer (`NoSuchKey`, `SignatureDoesNotMatch`, …). */
  s3Code?: string;
  /** For `ERR_OBJECT_INTEGRITY`: which check failed. */
  mismatch?: 'size' | 'sha512';
  /** For `ERR_OBJECT_INTEGRITY`: the expected size in bytes or sha512 (hex). */
  expected?: string;
  /** For `ERR_OBJECT_INTEGRITY`: what the bytes had. */
  actual?: string;
  cause?: unknown;
}

/** The one error class of `@hepix/object-store`. */
export class ObjectStoreError extends HepixError<ObjectStoreErrorCode> {
  override readonly name = 'ObjectStoreError';
  readonly bucket?: string;
  readonly key?: string;
  readonly httpStatus?: number;
  readonly s3Code?: string;
  readonly mismatch?: 'size' | 'sha512';
  readonly expected?: string;
  readonly actual?: string;

  constructor(code: ObjectStoreErrorCode, message: string, context: ObjectStoreErrorContext = {}) {
    super(code, message, { cause: context.cause });
    assignDefined<ObjectStoreError>(this, {
      bucket: context.bucket,
      key: context.key,
      httpStatus: context.httpStatus,
      s3Code: context.s3Code,
      mismatch: context.mismatch,
      expected: context.expected,
      actual: context.actual,
    });
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
]);
const NOT_FOUND = new Set(['NoSuchKey', 'NoSuchBucket', 'NoSuchUpload', 'NotFound', 'NoSuchVersion']);
const CONFIG = new Set(['InvalidBucketName', 'PermanentRedirect', 'AuthorizationHeaderMalformed']);
const TLS = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

interface SdkLike {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Maps whatever the S3 client threw to an {@link ObjectStoreError} (an ObjectStoreError passes through). `what`
 * names the operation for the message ("uploading part 3 of s3://b/k").
 */
export function toObjectStoreError(
  err: unknown,
  what: string,
  context: { bucket?: string; key?: string; signal?: AbortSignal } = {},
): ObjectStoreError {
  if (err instanceof ObjectStoreError) return err;
  const e = (err ?? {}) as SdkLike;
  const status = e.$metadata?.httpStatusCode;
  const s3Code = e.Code ?? (status !== undefined ? e.name : undefined);
  const base = { bucket: context.bucket, key: context.key, httpStatus: status, s3Code, cause: err };
  const detail = e.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  if (context.signal?.aborted || e.name === 'AbortError') {
    return new ObjectStoreError('ERR_OBJECT_ABORTED', `${what} was aborted`, base);
  }
  if (status !== undefined) {
    if (status === 404 || (s3Code && NOT_FOUND.has(s3Code))) {
      return new ObjectStoreError('ERR_OBJECT_NOT_FOUND', `${what}: not found (${s3Code ?? status})`, base);
    }
    if (status === 401 || status === 403) {
      return new ObjectStoreError(
        'ERR_OBJECT_ACCESS_DENIED',
        `${what}: access denied (${s3Code && s3Code !== 'Unknown' ? s3Code : `HTTP ${status}`})`,
        base,
      );
    }
    if (s3Code && CONFIG.has(s3Code)) {
      return new ObjectStoreError('ERR_OBJECT_CONFIG', `${what}: ${s3Code}${detail}`, base);
    }
    if (status >= 500) {
      return new ObjectStoreError(
        'ERR_OBJECT_SERVER',
        `${what}: the server failed (HTTP ${status})${detail}`,
        base,
      );
    }
    return new ObjectStoreError(
      'ERR_OBJECT_INTERNAL',
      `${what}: HTTP ${status} ${s3Code ?? ''}${detail}`,
      base,
    );
  }
  const code = e.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (e.name === 'CredentialsProviderError') {
    return new ObjectStoreError('ERR_OBJECT_CONFIG', `${what}: no credentials${detail}`, base);
  }
  if (code && TLS.test(code)) {
    return new ObjectStoreError('ERR_OBJECT_NETWORK', `${what}: TLS failure (${code})${detail}`, base);
  }
  if ((code && NETWORK_CODES.has(code)) || e.name === 'TimeoutError' || e.name === 'RequestTimeout') {
    return new ObjectStoreError('ERR_OBJECT_NETWORK', `${what}: ${code ?? e.name}${detail}`, base);
  }
  return new ObjectStoreError('ERR_OBJECT_INTERNAL', `${what}: ${e.message ?? String(err)}`, base);
}
