import { assignDefined, HepixError } from '@hepix/common';

// The safe-ingestion refusals, declared once: part of GLANCE_ERROR_CODES and INGEST_REFUSAL_CODES.
const INGEST_REFUSALS = [
  /** A qcow2 image names a backing file. */
  'ERR_GLANCE_BACKING_FILE',
  /** A qcow2 image uses an external data file (CVE-2024-32498). */
  'ERR_GLANCE_DATA_FILE',
  /** A VMDK image is a descriptor with extents, or names extents other than itself. */
  'ERR_GLANCE_VMDK_EXTENTS',
  /** The virtual size is over the configured cap. */
  'ERR_GLANCE_VIRTUAL_SIZE',
  /** The format found in the content is not the list's `hv:format`. */
  'ERR_GLANCE_FORMAT_MISMATCH',
  /** The disk format is not one the connector or Glance handles. */
  'ERR_GLANCE_FORMAT_UNSUPPORTED',
  /** A compression the connector does not decompress (zip, lz4, 7z, …), or compression nested too deep. */
  'ERR_GLANCE_COMPRESSION_UNSUPPORTED',
  /** The compressed data is corrupt. */
  'ERR_GLANCE_DECOMPRESSION',
  /** Decompressed or converted data grew over the configured size cap. */
  'ERR_GLANCE_TOO_LARGE',
  /** An OVA (tar) holds no disk or more than one. */
  'ERR_GLANCE_OVA_DISKS',
  /** An OVA is not a well-formed tar archive. */
  'ERR_GLANCE_OVA_INVALID',
  /** `qemu-img info` failed or gave no usable answer. */
  'ERR_GLANCE_PROBE',
  /** `qemu-img convert` failed (or hit a resource limit). */
  'ERR_GLANCE_CONVERSION',
  /** Glance's `os_hash_value` is not the hash of the bytes sent, or those bytes are not the list's sha512. */
  'ERR_GLANCE_HASH_MISMATCH',
] as const;

/**
 * Every code a `GlanceConnectorError` can carry. The safe-ingestion refusals have one code each, so a site can
 * tell from the event failure record (and the exit status of `vmcatcher-glance`) why an image was refused.
 */
export const GLANCE_ERROR_CODES = [
  /** The connector configuration, the mapping file or clouds.yaml is invalid. */
  'ERR_GLANCE_CONFIG',
  /** The event (environment and standard input) is not a usable vmcatcher event. */
  'ERR_GLANCE_EVENT',
  /** Keystone refused the credentials or gave no image endpoint. */
  'ERR_GLANCE_AUTH',
  /** Glance or Keystone could not be reached (connection, TLS, timeout). */
  'ERR_GLANCE_CONNECT',
  /** Glance answered with an unexpected HTTP status (`httpStatus`). */
  'ERR_GLANCE_HTTP',
  /** The cached image file is missing or unreadable. */
  'ERR_GLANCE_IMAGE_MISSING',
  /** The store (database) could not be opened or read. */
  'ERR_GLANCE_STORE',
  /** The object of an `s3://` cache could not be read (access denied, network, server, configuration). */
  'ERR_GLANCE_OBJECT_STORE',
  /** The object of an `s3://` cache is not the size or sha512 the event states (`mismatch`): nothing is uploaded. */
  'ERR_GLANCE_CACHE_INTEGRITY',
  ...INGEST_REFUSALS,
  /** The sandbox (prlimit, bwrap) is missing or could not run. */
  'ERR_GLANCE_SANDBOX',
  /** The upload did not leave an active image. */
  'ERR_GLANCE_UPLOAD',
  /** Anything unexpected. */
  'ERR_GLANCE_INTERNAL',
] as const;

export type GlanceErrorCode = (typeof GLANCE_ERROR_CODES)[number];

/** The safe-ingestion refusals, for callers that treat a refused image apart from an outage. */
export const INGEST_REFUSAL_CODES: readonly GlanceErrorCode[] = INGEST_REFUSALS;

export interface GlanceErrorContext {
  cause?: unknown;
  /** The image `dc:identifier` concerned. */
  image?: string;
  /** The Glance image id concerned. */
  glanceId?: string;
  /** The URL concerned (no credentials). */
  url?: string;
  httpStatus?: number;
  path?: string;
  /** What the content is (format found), for format refusals; the size or sha512 found for integrity ones. */
  detected?: string;
  /** What the list declared (`hv:format`), for format refusals; the stated size or sha512 for integrity ones. */
  declared?: string;
  /** Which check an `ERR_GLANCE_CACHE_INTEGRITY` failed. */
  mismatch?: 'size' | 'sha512';
}

export class GlanceConnectorError extends HepixError<GlanceErrorCode> {
  override readonly name = 'GlanceConnectorError';
  readonly image?: string;
  readonly glanceId?: string;
  readonly url?: string;
  readonly httpStatus?: number;
  readonly path?: string;
  readonly detected?: string;
  readonly declared?: string;
  readonly mismatch?: 'size' | 'sha512';

  constructor(code: GlanceErrorCode, message: string, context: GlanceErrorContext = {}) {
    super(code, message, context.cause === undefined ? {} : { cause: context.cause });
    const { cause: _cause, ...fields } = context;
    assignDefined<GlanceConnectorError>(this, fields);
  }
}

/** `err` as a GlanceConnectorError: itself, or ERR_GLANCE_INTERNAL wrapping it. */
export function asGlanceError(err: unknown, context: GlanceErrorContext = {}): GlanceConnectorError {
  if (err instanceof GlanceConnectorError) return err;
  return new GlanceConnectorError('ERR_GLANCE_INTERNAL', (err as Error)?.message ?? String(err), {
    ...context,
    cause: err,
  });
}
