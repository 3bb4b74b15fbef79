// Where images and lists go: anything with the upload facade's `put` (`@hepix/upload-facade` satisfies it).
// Upload failures are reported with the publisher's codes, telling an image's configuration problem from a
// list's, and a transfer failure from both.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHepixError, messageOf } from '@hepix/common';
import { isUploadError } from '@hepix/upload-facade';
import { PublisherError } from './errors.js';

/** What the publisher needs from an upload facade. */
export interface UploadTarget {
  put(
    publicUri: string,
    source: string | NodeJS.ReadableStream,
    options?: {
      size?: number;
      signal?: AbortSignal;
      onProgress?: (progress: { transferred: number; total?: number }) => void;
    },
  ): Promise<unknown>;
}

/** A target, or a function creating it on first use (a configuration file is read only when needed). */
export type TargetSource = UploadTarget | (() => Promise<UploadTarget>);

export type UploadKind = 'image' | 'list';

/** An upload error as the publisher reports it; the caller's own errors (a CLI's) pass through. */
export function uploadFailure(err: unknown, kind: UploadKind, uri: string, signal?: AbortSignal): Error {
  if (err instanceof PublisherError) return err;
  const what = kind === 'image' ? 'image' : 'image list';
  if (signal?.aborted || (isUploadError(err) && err.code === 'ERR_UPLOAD_ABORTED'))
    return new PublisherError(
      'ERR_PUBLISHER_ABORTED',
      `the upload of the ${what} to ${uri} was interrupted`,
      {
        uri,
        cause: err,
      },
    );
  if (isUploadError(err)) {
    if (
      err.code === 'ERR_UPLOAD_CONFIG' ||
      err.code === 'ERR_UPLOAD_NO_SECTION' ||
      err.code === 'ERR_UPLOAD_TARGET'
    )
      return new PublisherError(
        kind === 'image' ? 'ERR_PUBLISHER_IMAGE_TARGET' : 'ERR_PUBLISHER_LIST_TARGET',
        err.message,
        {
          uri,
          cause: err,
        },
      );
    return new PublisherError('ERR_PUBLISHER_TRANSFER', err.message, { uri, cause: err });
  }
  if (isHepixError(err)) return err;
  return new PublisherError(
    'ERR_PUBLISHER_INTERNAL',
    `the upload of the ${what} to ${uri} failed: ${messageOf(err)}`,
    {
      uri,
      cause: err,
    },
  );
}

export async function resolveTarget(
  target: TargetSource,
  kind: UploadKind,
  uri: string,
): Promise<UploadTarget> {
  try {
    return typeof target === 'function' ? await target() : target;
  } catch (err) {
    throw uploadFailure(err, kind, uri);
  }
}

/** Uploads a file (a path) or bytes (through a temporary file) so that it is served at `uri`. */
export async function putFile(
  target: TargetSource,
  kind: UploadKind,
  uri: string,
  source: string | Uint8Array,
  options: {
    size?: number;
    signal?: AbortSignal;
    onProgress?: (progress: { transferred: number; total?: number }) => void;
    tmpDir?: string;
  } = {},
): Promise<void> {
  const resolved = await resolveTarget(target, kind, uri);
  let tmp: string | undefined;
  try {
    let path: string;
    let size = options.size;
    if (typeof source === 'string') path = source;
    else {
      tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'hepix-publish-'));
      path = join(tmp, 'upload');
      await writeFile(path, source, { mode: 0o644 });
      size = source.length;
    }
    await resolved.put(uri, path, {
      ...(size === undefined ? {} : { size }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } catch (err) {
    throw uploadFailure(err, kind, uri, options.signal);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
