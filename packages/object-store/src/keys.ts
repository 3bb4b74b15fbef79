// Names: the s3:// URL of a store, its keys, the content address of an image, user metadata. Pure functions.
import { ObjectStoreError } from './errors.js';

/** `s3://BUCKET/PREFIX` taken apart. The prefix has no leading or trailing slash ('' for the bucket's root). */
export interface ParsedObjectUrl {
  bucket: string;
  prefix: string;
}

// S3's rules for new buckets (3–63 of lower-case letters, digits, dots, hyphens); dots are allowed
// for older stores, IP-like names are not.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://BUCKET[/PREFIX]`; anything else is `ERR_OBJECT_CONFIG`. */
export function parseObjectUrl(url: string): ParsedObjectUrl {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url);
  if (!m) {
    throw new ObjectStoreError('ERR_OBJECT_CONFIG', `'${url}' is not an s3://BUCKET/PREFIX URL`);
  }
  const bucket = m[1];
  if (!BUCKET.test(bucket) || /^\d+\.\d+\.\d+\.\d+$/.test(bucket) || bucket.includes('..')) {
    throw new ObjectStoreError('ERR_OBJECT_CONFIG', `'${bucket}' is not a valid S3 bucket name`, { bucket });
  }
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix) checkKey(prefix, bucket);
  return { bucket, prefix };
}

/** Refuses keys that would surprise: empty, absolute, `//`, `.`/`..` segments, control characters. */
export function checkKey(key: string, bucket?: string): void {
  const bad =
    typeof key !== 'string' ||
    key === '' ||
    key.startsWith('/') ||
    key.includes('//') ||
    key.split('/').some((s) => s === '.' || s === '..') ||
    /[\u0000-\u001f\u007f]/.test(key) ||
    Buffer.byteLength(key) > 1024;
  if (bad) throw new ObjectStoreError('ERR_OBJECT_INVALID', `invalid object key '${key}'`, { bucket, key });
}

const SHA512 = /^[0-9a-f]{128}$/;

/** Lower-case hex of 128 digits, or `ERR_OBJECT_INVALID`. */
export function checkSha512(sha512: string): string {
  const h = typeof sha512 === 'string' ? sha512.toLowerCase() : '';
  if (!SHA512.test(h)) {
    throw new ObjectStoreError('ERR_OBJECT_INVALID', `'${sha512}' is not a sha512 in hex (128 digits)`);
  }
  return h;
}

/**
 * The content address of an image: `sha512/<first two hex digits>/<the whole sha512>`. The same bytes in several
 * lists or versions are one object; the fan-out directory keeps listings of one level short.
 */
export function imageKey(sha512: string): string {
  const h = checkSha512(sha512);
  return `sha512/${h.slice(0, 2)}/${h}`;
}

/** Where an expired object is moved to: `expired/<key>`. */
export function expiredKey(key: string): string {
  checkKey(key);
  return `expired/${key}`;
}

const META_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * User metadata must survive every S3 implementation: lower-case names, printable ASCII values of at most 256
 * bytes (Swift's limit), at most 2 KiB in all (S3's).
 */
export function checkMetadata(metadata: Record<string, string> | undefined, key?: string): void {
  if (!metadata) return;
  let total = 0;
  for (const [k, v] of Object.entries(metadata)) {
    if (!META_KEY.test(k) || typeof v !== 'string' || !/^[\u0020-\u007e]*$/.test(v) || v.length > 256) {
      throw new ObjectStoreError(
        'ERR_OBJECT_INVALID',
        `metadata '${k}' is not a lower-case name with a printable ASCII value of at most 256 characters`,
        { key },
      );
    }
    total += k.length + v.length;
  }
  if (total > 2048) {
    throw new ObjectStoreError('ERR_OBJECT_INVALID', `metadata of ${total} bytes is more than 2 KiB`, {
      key,
    });
  }
}
