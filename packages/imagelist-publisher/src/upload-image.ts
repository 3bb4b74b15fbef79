// Uploading a new version of an image: one call turns an image file into the image's next published version.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FileDigest, hashFile, type Logger, messageOf, noopLogger, utcStamp } from '@hepix/common';
import type { PublisherRepository } from '@hepix/imagelist-store';
import {
  type Compression,
  compressFile,
  compressionForFormat,
  detectFileCompression,
} from './compression.js';
import { internal, PublisherError } from './errors.js';
import { imageLocations, requireImage } from './images.js';
import { putFile, resolveTarget, type TargetSource, uploadFailure } from './target.js';
import { nextVersion } from './versions.js';

export type UploadPhase = 'hash' | 'compress' | 'upload';

export interface UploadImageOptions {
  store: PublisherRepository;
  /** The upload target, or a function creating it (called only when there is something to upload). */
  target: TargetSource;
  image: string;
  file: string;
  now?: () => Date;
  signal?: AbortSignal;
  /** Directory for the compressed copy (default: the OS temp dir). */
  tmpDir?: string;
  onProgress?: (phase: UploadPhase, done: number, total: number | undefined) => void;
  log?: Logger;
}

export interface UploadImageResult {
  image: string;
  /** False when the file's checksum equals the published one: nothing was uploaded or changed. */
  changed: boolean;
  uri: string;
  sha512: string;
  size: number;
  version: string;
  previousVersion?: string;
  previousUri?: string;
  /** Set when the file was compressed before upload. */
  compressed?: Compression;
  /** The `sl:locations` removed because the mirrors hold the previous file. */
  clearedLocations?: string[];
}

/**
 * The URI of a new upload: same scheme, host, port and directory as `currentUri`, file name
 * `<uuid>_<UTC YYYY-mm-dd_HH-MM-SS>.<ext>`, where ext is the image's `hv:format` or `img`.
 */
export function newImageUri(
  currentUri: string,
  image: string,
  format: string | undefined,
  date: Date,
): string {
  let url: URL;
  try {
    url = new URL(currentUri);
  } catch (cause) {
    throw new PublisherError(
      'ERR_PUBLISHER_IMAGE_NO_URI',
      `image ${image} has an invalid hv:uri '${currentUri}'`,
      {
        subject: image,
        cause,
      },
    );
  }
  const ext = format?.trim() ? format.trim() : 'img';
  const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1) || '/';
  const name = `${image}_${utcStamp(date)}.${ext}`;
  return `${url.protocol}//${url.host}${dir}${encodeURIComponent(name).replace(/%3A/gi, ':')}`;
}

/**
 * Uploads a new version of an image: compresses it when `hv:format` asks for it and the file is not compressed
 * yet, hashes it in the same pass, and when the checksum differs from the published one uploads it beside the
 * old file and only then records the new `hv:uri`, `hv:size`, `sl:checksum:sha512` and a bumped `hv:version`
 * (and clears `sl:locations`: the mirrors hold the previous file). The store is left untouched if anything
 * fails or the signal fires (`ERR_PUBLISHER_ABORTED`).
 */
export async function uploadImage(options: UploadImageOptions): Promise<UploadImageResult> {
  const { store, image, file, signal } = options;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? noopLogger;
  const record = await requireImage(store, image);
  if (record.imageLists.length === 0)
    throw new PublisherError(
      'ERR_PUBLISHER_IMAGE_NOT_BOUND',
      `image ${image} is not part of any image list; bind it to one first`,
      { subject: image },
    );
  const currentUri = record.metadata['hv:uri'];
  if (!currentUri)
    throw new PublisherError(
      'ERR_PUBLISHER_IMAGE_NO_URI',
      `image ${image} has no hv:uri; set one so that it is known where the image is published`,
      { subject: image },
    );
  const info = await stat(file).catch((cause: unknown) => {
    throw new PublisherError(
      'ERR_PUBLISHER_NOT_FOUND',
      `cannot read image file ${file}: ${messageOf(cause)}`,
      {
        subject: file,
        cause,
      },
    );
  });
  if (!info.isFile())
    throw new PublisherError('ERR_PUBLISHER_NOT_FOUND', `${file} is not a regular file`, { subject: file });

  const format = record.metadata['hv:format'];
  const wanted = compressionForFormat(format);
  const present = await detectFileCompression(file);
  const previousVersion = record.metadata['hv:version'];
  const storedSha512 = record.metadata['sl:checksum:sha512']?.toLowerCase();
  const fields = { image };
  let uploadPath = file;
  let digest: FileDigest | undefined;
  let compressed: Compression | undefined;
  let tmp: string | undefined;
  let uri: string | undefined;
  const aborted = (err: unknown) =>
    signal?.aborted
      ? new PublisherError('ERR_PUBLISHER_ABORTED', `the upload of image ${image} was interrupted`, {
          subject: image,
          cause: err,
        })
      : err;
  try {
    if (wanted && present !== wanted) {
      if (present)
        throw new PublisherError(
          'ERR_PUBLISHER_FORMAT',
          `image ${image} has hv:format '${format}' (${wanted}) but ${file} is ${present}-compressed`,
          { subject: image },
        );
      tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'hepix-image-'));
      uploadPath = join(tmp, `image.${wanted === 'gzip' ? 'gz' : wanted === 'bzip2' ? 'bz2' : 'xz'}`);
      log('info', `compressing ${file} with ${wanted}`, fields);
      const c = await compressFile(file, uploadPath, wanted, {
        signal,
        onProgress: (n) => options.onProgress?.('compress', n, info.size),
      }).catch((err: unknown) => {
        throw aborted(err);
      });
      digest = { digest: c.sha512, size: c.size };
      compressed = wanted;
    } else if (storedSha512 && String(info.size) === record.metadata['hv:size']) {
      // Same size as the published file: it may well be unchanged, so hash before deciding to upload.
      digest = await hashFile(file, {
        signal,
        onProgress: (n) => options.onProgress?.('hash', n, info.size),
      });
    } else {
      // A different size cannot be the published file: upload and hash at once, as two readers of the same
      // file (the second is served from the page cache), so that a backend can copy the file its fastest way.
      uri = newImageUri(currentUri, image, format, now());
      const target = await resolveTarget(options.target, 'image', uri);
      log('info', `uploading ${file} to ${uri} (hashing alongside)`, { ...fields, uri });
      const both = new AbortController();
      const joint = signal ? AbortSignal.any([signal, both.signal]) : both.signal;
      let failure: { error: unknown } | undefined;
      const stop = (err: unknown): never => {
        failure ??= { error: err };
        both.abort(err);
        throw err;
      };
      const publicUri = uri;
      // Both settle before anything is reported: the backend removes its temp file when it stops, and the
      // caller (a CLI about to exit) must not outrun that.
      const [hashed] = await Promise.allSettled([
        hashFile(file, { signal: joint }).catch(stop),
        target
          .put(publicUri, file, {
            size: info.size,
            signal: joint,
            onProgress: (p) => options.onProgress?.('upload', p.transferred, info.size),
          })
          .catch((err: unknown) => stop(uploadFailure(err, 'image', publicUri, signal))),
      ]);
      if (failure) throw failure.error;
      if (hashed.status !== 'fulfilled') throw hashed.reason;
      digest = hashed.value;
    }

    if (!uri) {
      if (digest.digest === storedSha512) {
        log('warn', `Image unchanged, aborting update: ${image} already has this sha512`, fields);
        return {
          image,
          changed: false,
          uri: currentUri,
          sha512: digest.digest,
          size: digest.size,
          version: previousVersion ?? '',
          ...(previousVersion === undefined ? {} : { previousVersion }),
          previousUri: currentUri,
          ...(compressed ? { compressed } : {}),
        };
      }
      uri = newImageUri(currentUri, image, format, now());
      log('info', `uploading ${uploadPath} to ${uri}`, { ...fields, uri });
      const size = digest.size;
      await putFile(options.target, 'image', uri, uploadPath, {
        size,
        ...(signal ? { signal } : {}),
        onProgress: (p) => options.onProgress?.('upload', p.transferred, size),
      });
    }
    const version = nextVersion(previousVersion);
    const updates: Record<string, string> = {
      'hv:uri': uri,
      'hv:size': String(digest.size),
      'sl:checksum:sha512': digest.digest,
      'hv:version': version,
    };
    const locations = imageLocations(record.metadata);
    if (locations.length) {
      // The mirrors hold the previous file; publishing them with the new checksum would send subscribers there.
      updates['sl:locations'] = '[]';
      log(
        'warn',
        `image ${image}: sl:locations cleared (${locations.join(', ')}); add the mirrors again once they hold the new file`,
        fields,
      );
    }
    try {
      await store.setImageKeys(image, updates);
    } catch (err) {
      throw internal(err, `recording the new version of image ${image}`);
    }
    return {
      image,
      changed: true,
      uri,
      sha512: digest.digest,
      size: digest.size,
      version,
      ...(previousVersion === undefined ? {} : { previousVersion }),
      previousUri: currentUri,
      ...(compressed ? { compressed } : {}),
      ...(locations.length ? { clearedLocations: locations } : {}),
    };
  } catch (err) {
    throw internal(aborted(err), `uploading image ${image}`);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
