// Streaming upload: the body is cut into parts while it is read, and at most `queueSize` parts are in flight, so
// an image of any size passes through a bounded amount of memory. The object appears only when the upload is
// completed, after the optional `verify` hook; on any failure the upload is aborted, so nothing is left visible
// and (unless the process dies) no parts are left behind.
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Logger } from '@hepix/common';
import { ObjectStoreError, toObjectStoreError } from './errors.js';

const MiB = 1024 ** 2;
/** S3's smallest part (all but the last) and its largest part count. */
const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;

export interface UploadProgress {
  /** Bytes read from the body so far. */
  readBytes: number;
  /** Bytes the server has acknowledged. */
  uploadedBytes: number;
  /** Parts acknowledged. */
  parts: number;
}

export interface PutStreamOptions {
  /** The body's size when known: a body of another size is refused (`ERR_OBJECT_INTEGRITY`, `mismatch: 'size'`). */
  size?: number;
  /** User metadata (lower-case names, printable ASCII values). */
  metadata?: Record<string, string>;
  contentType?: string;
  /** Bytes per part (default 16 MiB, at least 5 MiB; raised when `size` would need more than 10 000 parts). */
  partSize?: number;
  /** Parts uploaded at the same time (default 2). */
  queueSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
  /**
   * Called once the whole body has been read and sent, before the object is made visible: throwing here aborts
   * the upload (this is how {@link putVerified} refuses bytes whose hash is wrong).
   */
  verify?: () => void | Promise<void>;
}

export interface PutStreamResult {
  etag: string;
  size: number;
  /** 0 for a single PUT. */
  parts: number;
}

interface Target {
  client: S3Client;
  bucket: string;
  key: string;
  url: string;
  log?: Logger;
}

export async function putStream(
  target: Target,
  body: Readable,
  options: PutStreamOptions = {},
): Promise<PutStreamResult> {
  const { client, bucket, key, url, log } = target;
  const { signal, size, onProgress } = options;
  const queueSize = options.queueSize ?? 2;
  let partSize = options.partSize ?? 16 * MiB;
  if (!(partSize >= MIN_PART) || !Number.isSafeInteger(partSize) || !(queueSize >= 1)) {
    throw new ObjectStoreError(
      'ERR_OBJECT_INVALID',
      'partSize must be at least 5 MiB and queueSize at least 1',
      {
        bucket,
        key,
      },
    );
  }
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
    throw new ObjectStoreError('ERR_OBJECT_INVALID', `invalid size ${size}`, { bucket, key });
  }
  if (size !== undefined && size > partSize * MAX_PARTS) partSize = Math.ceil(size / MAX_PARTS);
  const fail = (err: unknown, what: string) => toObjectStoreError(err, what, { bucket, key, signal });
  if (signal?.aborted) {
    body.destroy();
    throw fail(signal.reason, `uploading ${url}`);
  }

  let uploadId: string | undefined;
  const parts: { PartNumber: number; ETag?: string }[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let chunks: Buffer[] = [];
  let buffered = 0;
  let readBytes = 0;
  let uploadedBytes = 0;
  let partNumber = 0;

  const progress = () => onProgress?.({ readBytes, uploadedBytes, parts: parts.length });
  const sizeMismatch = (actual: number) =>
    new ObjectStoreError(
      'ERR_OBJECT_INTEGRITY',
      `the body of ${url} has ${actual} bytes, not the ${size} expected`,
      { bucket, key, mismatch: 'size', expected: String(size), actual: String(actual) },
    );
  const takeBuffered = () => {
    const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
    chunks = [];
    buffered = 0;
    return data;
  };

  const startPart = async (data: Buffer) => {
    if (!uploadId) {
      const r = await client
        .send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            Metadata: options.metadata,
            ContentType: options.contentType,
          }),
          { abortSignal: signal },
        )
        .catch((err) => {
          throw fail(err, `starting the upload of ${url}`);
        });
      if (!r.UploadId)
        throw new ObjectStoreError('ERR_OBJECT_INTERNAL', `no upload id for ${url}`, { bucket, key });
      uploadId = r.UploadId;
      log?.('debug', `multipart upload of ${url} started`, { name: 'object-store', uploadId });
    }
    const n = ++partNumber;
    if (n > MAX_PARTS) {
      throw new ObjectStoreError(
        'ERR_OBJECT_INVALID',
        `${url} needs more than ${MAX_PARTS} parts: raise partSize`,
        {
          bucket,
          key,
        },
      );
    }
    while (inflight.size >= queueSize) await Promise.race(inflight);
    if (failure) throw failure;
    const id = uploadId;
    const p = client
      .send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: id,
          PartNumber: n,
          Body: data,
          ContentLength: data.length,
        }),
        { abortSignal: signal },
      )
      .then(
        (r) => {
          parts.push({ PartNumber: n, ETag: r.ETag });
          uploadedBytes += data.length;
          progress();
        },
        (err) => {
          failure ??= fail(err, `uploading part ${n} of ${url}`);
        },
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  const abortUpload = async () => {
    await Promise.allSettled([...inflight]);
    if (!uploadId) return;
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
      log?.('debug', `multipart upload of ${url} aborted`, { name: 'object-store', uploadId });
    } catch (err) {
      // Left for abortStaleUploads; the object itself never became visible.
      log?.('warn', `could not abort the multipart upload of ${url}: ${(err as Error).message}`, {
        name: 'object-store',
        uploadId,
      });
    }
  };

  // A body that stalls must not keep an aborted upload waiting.
  const onAbort = () => body.destroy(fail(signal?.reason, `uploading ${url}`));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      if (failure) throw failure;
      if (signal?.aborted) throw fail(signal.reason, `uploading ${url}`);
      let buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      readBytes += buf.length;
      if (size !== undefined && readBytes > size) throw sizeMismatch(readBytes);
      while (buf.length > 0) {
        const take = Math.min(partSize - buffered, buf.length);
        chunks.push(take === buf.length ? buf : buf.subarray(0, take));
        buffered += take;
        buf = buf.subarray(take);
        if (buffered === partSize) await startPart(takeBuffered());
      }
      progress();
    }
    if (signal?.aborted) throw fail(signal.reason, `uploading ${url}`);
    if (size !== undefined && readBytes !== size) throw sizeMismatch(readBytes);

    if (!uploadId) {
      // Smaller than one part: the whole body is here, so it is verified before anything is sent.
      const data = takeBuffered();
      await options.verify?.();
      const r = await client
        .send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: data,
            ContentLength: data.length,
            Metadata: options.metadata,
            ContentType: options.contentType,
          }),
          { abortSignal: signal },
        )
        .catch((err) => {
          throw fail(err, `uploading ${url}`);
        });
      uploadedBytes = data.length;
      progress();
      return { etag: r.ETag ?? '', size: data.length, parts: 0 };
    }

    if (buffered > 0) await startPart(takeBuffered());
    while (inflight.size > 0) await Promise.race(inflight);
    if (failure) throw failure;
    await options.verify?.();
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    const r = await client
      .send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
        { abortSignal: signal },
      )
      .catch((err) => {
        throw fail(err, `completing the upload of ${url}`);
      });
    log?.('debug', `uploaded ${url} in ${parts.length} parts`, { name: 'object-store', bytes: readBytes });
    return { etag: r.ETag ?? '', size: readBytes, parts: parts.length };
  } catch (err) {
    body.destroy();
    await abortUpload();
    throw signal?.aborted ? fail(signal.reason, `uploading ${url}`) : err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
