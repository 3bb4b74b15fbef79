// `--upload-image`: one command turns an image file into a new published version of the image.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bumpVersion } from '@hepix/hepix-imagelist-schema';
import type { PublisherRepository } from '@hepix/imagelist-store';
import {
  type Compression,
  compressFile,
  compressionForFormat,
  type Digest,
  detectFileCompression,
  digestFile,
} from './compression.js';
import { VmcasterError } from './errors.js';

/** What the publisher needs from an upload facade (`@hepix/upload-facade` satisfies it). */
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

export type UploadPhase = 'hash' | 'compress' | 'upload';

export interface UploadImageOptions {
  store: PublisherRepository;
  /** Created lazily, only when there is something to upload. */
  target: UploadTarget | (() => Promise<UploadTarget>);
  image: string;
  file: string;
  now?: () => Date;
  signal?: AbortSignal;
  /** Directory for the compressed copy (default: the OS temp dir). */
  tmpDir?: string;
  onProgress?: (phase: UploadPhase, done: number, total: number | undefined) => void;
  log?: (level: 'debug' | 'info' | 'warn', message: string) => void;
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
}

/** `YYYY-mm-dd_HH-MM-SS` in UTC. */
export function uploadTimestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())}_` +
    `${p(date.getUTCHours())}-${p(date.getUTCMinutes())}-${p(date.getUTCSeconds())}`
  );
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
    throw new VmcasterError(
      'ERR_VMCASTER_IMAGE_NO_URI',
      `image ${image} has an invalid hv:uri '${currentUri}'`,
      {
        subject: image,
        cause,
      },
    );
  }
  const ext = format?.trim() ? format.trim() : 'img';
  const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1) || '/';
  const name = `${image}_${uploadTimestamp(date)}.${ext}`;
  return `${url.protocol}//${url.host}${dir}${encodeURIComponent(name).replace(/%3A/gi, ':')}`;
}

/** Version after `previous` (patch + 1); `0.0.1` for an image that never had one. */
export function nextVersion(previous: string | undefined): string {
  const base = previous?.trim() ? previous.trim() : '0.0.0';
  if (!/\d/.test(base)) return '0.0.1';
  return bumpVersion(base);
}

/**
 * Uploads a new version of an image: compresses it when `hv:format` asks for it and the file is not
 * compressed yet, hashes it in the same pass, and when the checksum differs from the published one uploads it
 * beside the old file and only then records the new `hv:uri`, `hv:size`, `sl:checksum:sha512` and a bumped
 * `hv:version`. The store is left untouched if anything fails.
 */
export async function uploadImage(options: UploadImageOptions): Promise<UploadImageResult> {
  const { store, image, file } = options;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => {});
  const record = await store.getImage(image);
  if (!record)
    throw new VmcasterError('ERR_VMCASTER_NOT_FOUND', `image ${image} does not exist`, { subject: image });
  if (record.imageLists.length === 0)
    throw new VmcasterError(
      'ERR_VMCASTER_IMAGE_NOT_BOUND',
      `image ${image} is not part of any image list; bind it first (--imagelist-add-image)`,
      { subject: image },
    );
  const currentUri = record.metadata['hv:uri'];
  if (!currentUri)
    throw new VmcasterError(
      'ERR_VMCASTER_IMAGE_NO_URI',
      `image ${image} has no hv:uri; set one so vmcaster knows where the image is published`,
      { subject: image },
    );
  const info = await stat(file).catch((cause: unknown) => {
    throw new VmcasterError(
      'ERR_VMCASTER_NOT_FOUND',
      `cannot read image file ${file}: ${(cause as Error).message}`,
      {
        subject: file,
        cause,
      },
    );
  });
  if (!info.isFile())
    throw new VmcasterError('ERR_VMCASTER_NOT_FOUND', `${file} is not a regular file`, { subject: file });

  const format = record.metadata['hv:format'];
  const wanted = compressionForFormat(format);
  const present = await detectFileCompression(file);
  const previousVersion = record.metadata['hv:version'];
  const storedSha512 = record.metadata['sl:checksum:sha512']?.toLowerCase();
  const getTarget = async () =>
    typeof options.target === 'function' ? await options.target() : options.target;
  let uploadPath = file;
  let digest: Digest | undefined;
  let compressed: Compression | undefined;
  let tmp: string | undefined;
  let uri: string | undefined;
  try {
    if (wanted && present !== wanted) {
      if (present)
        throw new VmcasterError(
          'ERR_VMCASTER_FORMAT',
          `image ${image} has hv:format '${format}' (${wanted}) but ${file} is ${present}-compressed`,
          { subject: image },
        );
      tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'vmcaster-'));
      uploadPath = join(tmp, `image.${wanted === 'gzip' ? 'gz' : wanted === 'bzip2' ? 'bz2' : 'xz'}`);
      log('info', `compressing ${file} with ${wanted}`);
      digest = await compressFile(file, uploadPath, wanted, {
        signal: options.signal,
        onProgress: (n) => options.onProgress?.('compress', n, info.size),
      });
      compressed = wanted;
    } else if (storedSha512 && String(info.size) === record.metadata['hv:size']) {
      // Same size as the published file: it may well be unchanged, so hash before deciding to upload.
      digest = await digestFile(file, {
        signal: options.signal,
        onProgress: (n) => options.onProgress?.('hash', n, info.size),
      });
    } else {
      // A different size cannot be the published file: upload and hash at once, as two readers of the same
      // file (the second is served from the page cache), so that a backend can copy the file its fastest way.
      uri = newImageUri(currentUri, image, format, now());
      const target = await getTarget();
      log('info', `uploading ${file} to ${uri} (hashing alongside)`);
      const both = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, both.signal]) : both.signal;
      const stop = (err: unknown) => {
        both.abort(err);
        throw err;
      };
      const [hashed] = await Promise.all([
        digestFile(file, { signal }).catch(stop),
        target
          .put(uri, file, {
            size: info.size,
            signal,
            onProgress: (p) => options.onProgress?.('upload', p.transferred, info.size),
          })
          .catch(stop),
      ]);
      digest = hashed;
    }

    if (!uri) {
      if (digest.sha512 === storedSha512) {
        log('warn', `Image unchanged, aborting update: ${image} already has this sha512`);
        return {
          image,
          changed: false,
          uri: currentUri,
          sha512: digest.sha512,
          size: digest.size,
          version: previousVersion ?? '',
          previousVersion,
          previousUri: currentUri,
          compressed,
        };
      }
      uri = newImageUri(currentUri, image, format, now());
      const target = await getTarget();
      log('info', `uploading ${uploadPath} to ${uri}`);
      const size = digest.size;
      await target.put(uri, uploadPath, {
        size,
        signal: options.signal,
        onProgress: (p) => options.onProgress?.('upload', p.transferred, size),
      });
    }
    const version = nextVersion(previousVersion);
    await store.setImageKeys(image, {
      'hv:uri': uri,
      'hv:size': String(digest.size),
      'sl:checksum:sha512': digest.sha512,
      'hv:version': version,
    });
    return {
      image,
      changed: true,
      uri,
      sha512: digest.sha512,
      size: digest.size,
      version,
      previousVersion,
      previousUri: currentUri,
      compressed,
    };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
