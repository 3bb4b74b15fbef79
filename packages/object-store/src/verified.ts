// "Visible only after verification": an image is streamed into the store while its sha512 and size are computed,
// and the object is made visible (the multipart upload completed, or the single PUT sent) only when both match.
// A mismatch aborts the upload, so no reader ever sees wrong or partial bytes under the final key; a worker
// killed mid-upload leaves only an invisible multipart upload, which abortStaleUploads removes.
import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { ObjectStoreError } from './errors.js';
import { checkSha512 } from './keys.js';
import type { ObjectStore } from './store.js';
import type { PutStreamOptions } from './upload.js';

export interface PutVerifiedOptions
  extends Pick<PutStreamOptions, 'partSize' | 'queueSize' | 'signal' | 'onProgress' | 'contentType'> {
  /** The sha512 (hex) the bytes must have. */
  expectedSha512: string;
  /** The size in bytes they must have, when known: more bytes stop the upload at once. */
  expectedSize?: number;
  /** More user metadata; `sha512` is always set to the verified hash. */
  metadata?: Record<string, string>;
  /**
   * When the final key already holds an object with this sha512 (and size), keep it and do not read `body`
   * (default true: content-addressed objects never change).
   */
  skipIfPresent?: boolean;
}

export interface PutVerifiedResult {
  /** False when an object with the same sha512 was already there (nothing was uploaded). */
  created: boolean;
  key: string;
  url: string;
  size: number;
  sha512: string;
  etag: string;
}

/**
 * Streams `body` to `finalKey`, hashing it on the way, and makes the object visible only if its sha512 (and size)
 * are the expected ones; otherwise nothing appears under `finalKey` and the error is `ERR_OBJECT_INTEGRITY` with
 * `mismatch` `sha512` or `size`. The object carries the metadata `sha512`. See {@link imageKey} for the key.
 */
export async function putVerified(
  store: ObjectStore,
  finalKey: string,
  body: Readable,
  options: PutVerifiedOptions,
): Promise<PutVerifiedResult> {
  const expected = checkSha512(options.expectedSha512);
  const { expectedSize } = options;
  const url = store.url(finalKey);
  if (options.skipIfPresent ?? true) {
    const head = await store.head(finalKey);
    if (
      head &&
      head.metadata.sha512 === expected &&
      (expectedSize === undefined || head.size === expectedSize)
    ) {
      body.destroy();
      return { created: false, key: finalKey, url, size: head.size, sha512: expected, etag: head.etag };
    }
  }

  const hash = createHash('sha512');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (expectedSize !== undefined && bytes > expectedSize) {
        done(
          new ObjectStoreError(
            'ERR_OBJECT_INTEGRITY',
            `${url}: the image has more than the ${expectedSize} bytes expected`,
            { key: finalKey, mismatch: 'size', expected: String(expectedSize), actual: `>${expectedSize}` },
          ),
        );
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  body.on('error', (err) => hashing.destroy(err));
  // An upload that fails or is aborted destroys `hashing`; the download behind it must stop too.
  hashing.on('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(hashing);

  let digest: string | undefined;
  const result = await store.putStream(finalKey, hashing, {
    partSize: options.partSize,
    queueSize: options.queueSize,
    signal: options.signal,
    onProgress: options.onProgress,
    contentType: options.contentType,
    metadata: { ...options.metadata, sha512: expected },
    verify() {
      if (expectedSize !== undefined && bytes !== expectedSize) {
        throw new ObjectStoreError(
          'ERR_OBJECT_INTEGRITY',
          `${url}: the image has ${bytes} bytes, not the ${expectedSize} expected`,
          { key: finalKey, mismatch: 'size', expected: String(expectedSize), actual: String(bytes) },
        );
      }
      digest = hash.digest('hex');
      if (digest !== expected) {
        throw new ObjectStoreError(
          'ERR_OBJECT_INTEGRITY',
          `${url}: the image's sha512 is ${digest}, not ${expected}`,
          {
            key: finalKey,
            mismatch: 'sha512',
            expected,
            actual: digest,
          },
        );
      }
    },
  });
  return { created: true, key: finalKey, url, size: result.size, sha512: expected, etag: result.etag };
}
