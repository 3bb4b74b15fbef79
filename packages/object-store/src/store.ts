// The S3 object store: one S3Client (AWS SDK v3) bound to a bucket and a key prefix. Every key a caller passes
// is relative to the prefix; every error is an ObjectStoreError.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { type Logger, mapLimit } from '@hepix/common';
import { ObjectStoreError, toObjectStoreError } from './errors.js';
import { checkKey, checkMetadata, parseObjectUrl } from './keys.js';
import { putStream as putStreamImpl, type PutStreamOptions, type PutStreamResult } from './upload.js';

export interface ObjectStoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ObjectStoreOptions {
  /** `s3://BUCKET[/PREFIX]`: the bucket and the key prefix of every object of this store. */
  url: string;
  /** The S3 endpoint (`https://s3.example.org`); default `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS itself. */
  endpoint?: string;
  /** Default `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`. */
  region?: string;
  /**
   * Default `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); without them, the SDK's own
   * chain (shared config files, web identity, instance metadata).
   */
  credentials?: ObjectStoreCredentials;
  /** Path-style URLs (`endpoint/bucket/key`); default: true when an endpoint is set (most non-AWS servers need it). */
  forcePathStyle?: boolean;
  /** CA certificates (PEM) trusted instead of the system's for an https endpoint; default: the file `AWS_CA_BUNDLE`. */
  tls?: { ca?: (string | Buffer)[] };
  /** Environment to read the defaults from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Attempts of each request, the first included (the SDK's retry with backoff; default 3). */
  maxAttempts?: number;
  /** Objects larger than this are copied part by part (UploadPartCopy); default 5 GiB, S3's CopyObject limit. */
  multipartCopyThreshold?: number;
  /** Part size of a multipart copy; default 512 MiB. */
  copyPartSize?: number;
  /** Clock of `abortStaleUploads` (default `() => new Date()`). */
  now?: () => Date;
  log?: Logger;
}

export interface ObjectHead {
  size: number;
  etag: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

export interface ListedObject {
  /** Relative to the store's prefix. */
  key: string;
  size: number;
  lastModified: Date;
}

/** A multipart upload not completed (nor aborted) yet. */
export interface PendingUpload {
  /** Relative to the store's prefix. */
  key: string;
  uploadId: string;
  initiated?: Date;
}

export interface GetOptions {
  /** Bytes `start` to `end` inclusive (`end` omitted: to the end of the object). */
  range?: { start: number; end?: number };
  signal?: AbortSignal;
}

export interface ObjectStore {
  readonly bucket: string;
  /** The key prefix ('' for the bucket's root), without trailing slash. */
  readonly prefix: string;
  /** `s3://bucket/prefix/key`. */
  url(key: string): string;
  /** Creates the bucket unless it exists (for set-up; a store's bucket is usually made by its administrator). */
  ensureBucket(): Promise<void>;
  /**
   * The object's size, ETag, user metadata and time; `undefined` when there is none. A HEAD answer has no body, so
   * a missing bucket is `undefined` here too; the first write names it (`NoSuchBucket`).
   */
  head(key: string): Promise<ObjectHead | undefined>;
  /**
   * Streams `body` into the object `key`: one PUT when it is smaller than a part, else a multipart upload whose
   * parts are sent while the body is read (memory bounded by about `(queueSize + 2) × partSize`). Nothing is
   * visible under `key` before the end: a failure, an abort or a `verify` that throws aborts the upload. An error
   * of `body` itself is rethrown as it is.
   */
  putStream(key: string, body: Readable, options?: PutStreamOptions): Promise<PutStreamResult>;
  /** Server-side copy (multipart copy above `multipartCopyThreshold`); `metadata` replaces the source's. */
  copy(fromKey: string, toKey: string, options?: { metadata?: Record<string, string> }): Promise<void>;
  /** `copy` then `delete` of the source (S3 has no rename). */
  move(fromKey: string, toKey: string, options?: { metadata?: Record<string, string> }): Promise<void>;
  /** Deletes the object; no error when there is none. */
  delete(key: string): Promise<void>;
  /** Every object whose key (relative to the store's prefix) starts with `prefix`, in key order. */
  list(prefix?: string): AsyncIterable<ListedObject>;
  /** The object's bytes (or a range of them); `ERR_OBJECT_NOT_FOUND` when there is none. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /**
   * Aborts the multipart uploads under `prefix` started more than `olderThanMs` ago: what killed workers left
   * behind (invisible, but their parts take space). Returns how many were aborted.
   */
  abortStaleUploads(prefix: string, olderThanMs: number): Promise<number>;
  /** The multipart uploads in progress (or left by killed workers) under `prefix`: invisible as objects. */
  uploads(prefix?: string): AsyncIterable<PendingUpload>;
  /** Closes the client's connections. */
  close(): void;
}

const GiB = 1024 ** 3;

function readCaBundle(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new ObjectStoreError('ERR_OBJECT_CONFIG', `cannot read the CA bundle ${path} (AWS_CA_BUNDLE)`, {
      cause,
    });
  }
}

/** The SDK's client configuration reads this variable once, when the first client is made. */
const NODE_WARNING = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Makes a client without the SDK's warning that its releases after January 2027 need Node 22: the release this
 * package pins supports Node 20, and the warning would reach every cron mail of a site. A site that sets the
 * variable itself keeps its choice; the environment is left as it was (event commands inherit it).
 */
function quietly<T>(make: () => T): T {
  const had = Object.hasOwn(process.env, NODE_WARNING);
  if (!had) process.env[NODE_WARNING] = 'true';
  try {
    return make();
  } finally {
    if (!had) delete process.env[NODE_WARNING];
  }
}

/** An {@link ObjectStore} on the S3 API. Throws `ERR_OBJECT_CONFIG` for a bad URL, endpoint or CA bundle. */
export function createObjectStore(options: ObjectStoreOptions): ObjectStore {
  const env = options.env ?? process.env;
  const { bucket, prefix } = parseObjectUrl(options.url);
  const endpoint = options.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  if (endpoint !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(endpoint);
    } catch {}
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new ObjectStoreError('ERR_OBJECT_CONFIG', `the S3 endpoint '${endpoint}' is not an http(s) URL`, {
        bucket,
      });
    }
  }
  const region = options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1');
  let credentials = options.credentials;
  if (!credentials && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  const ca = options.tls?.ca ?? (env.AWS_CA_BUNDLE ? [readCaBundle(env.AWS_CA_BUNDLE)] : undefined);
  const log = options.log;
  const now = options.now ?? (() => new Date());
  const copyThreshold = options.multipartCopyThreshold ?? 5 * GiB;
  const copyPartSize = options.copyPartSize ?? 512 * 1024 ** 2;
  if (!(copyPartSize >= 5 * 1024 ** 2) || !(copyThreshold >= copyPartSize)) {
    throw new ObjectStoreError(
      'ERR_OBJECT_CONFIG',
      'copyPartSize must be at least 5 MiB and multipartCopyThreshold at least copyPartSize',
      { bucket },
    );
  }

  const client = quietly(
    () =>
      new S3Client({
        region,
        endpoint,
        forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
        credentials,
        maxAttempts: options.maxAttempts ?? 3,
        // Flexible checksums (CRC32 trailers) are not implemented by every S3 server (Swift, older Ceph): send
        // them only where the API requires one. Integrity is checked end to end with the sha512 anyway.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: {
          connectionTimeout: 30_000,
          // Idle socket time, not the duration of a part.
          requestTimeout: 120_000,
          httpAgent: new HttpAgent({ keepAlive: true }),
          httpsAgent: new HttpsAgent({ keepAlive: true, ...(ca ? { ca } : {}) }),
        },
      }),
  );

  const full = (key: string) => {
    checkKey(key, bucket);
    return prefix ? `${prefix}/${key}` : key;
  };
  const rel = (key: string) => (prefix && key.startsWith(`${prefix}/`) ? key.slice(prefix.length + 1) : key);
  const s3url = (fullKey: string) => `s3://${bucket}/${fullKey}`;
  // CopySource is `bucket/key`, URL-encoded per segment.
  const copySource = (fullKey: string) => `${bucket}/${fullKey.split('/').map(encodeURIComponent).join('/')}`;

  const send = async <T>(
    // biome-ignore lint/suspicious/noExplicitAny: each command has its own output type
    command: any,
    what: string,
    key?: string,
    signal?: AbortSignal,
  ): Promise<T> => {
    try {
      return (await client.send(command, signal ? { abortSignal: signal } : undefined)) as T;
    } catch (err) {
      throw toObjectStoreError(err, what, { bucket, key, signal });
    }
  };

  const headFull = async (fullKey: string): Promise<ObjectHead | undefined> => {
    try {
      const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey }));
      return {
        size: Number(r.ContentLength ?? 0),
        etag: r.ETag ?? '',
        metadata: { ...(r.Metadata ?? {}) },
        lastModified: r.LastModified ?? new Date(0),
      };
    } catch (err) {
      const e = toObjectStoreError(err, `reading ${s3url(fullKey)}`, { bucket, key: fullKey });
      if (e.code === 'ERR_OBJECT_NOT_FOUND' && e.s3Code !== 'NoSuchBucket') return undefined;
      throw e;
    }
  };

  const copyFull = async (from: string, to: string, metadata?: Record<string, string>) => {
    checkMetadata(metadata, to);
    const what = `copying ${s3url(from)} to ${s3url(to)}`;
    const src = await headFull(from);
    if (!src) {
      throw new ObjectStoreError('ERR_OBJECT_NOT_FOUND', `${what}: no such object`, { bucket, key: from });
    }
    if (src.size <= copyThreshold) {
      await send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: to,
          CopySource: copySource(from),
          ...(metadata
            ? { MetadataDirective: 'REPLACE', Metadata: metadata }
            : { MetadataDirective: 'COPY' }),
        }),
        what,
        to,
      );
      return;
    }
    // Above 5 GiB S3 copies only part by part; the metadata goes with the new upload.
    const created = await send<{ UploadId?: string }>(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: to, Metadata: metadata ?? src.metadata }),
      what,
      to,
    );
    const uploadId = created.UploadId;
    if (!uploadId)
      throw new ObjectStoreError('ERR_OBJECT_INTERNAL', `${what}: no upload id`, { bucket, key: to });
    try {
      const count = Math.ceil(src.size / copyPartSize);
      const parts = await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        4,
        async (i) => {
          const start = i * copyPartSize;
          const end = Math.min(src.size, start + copyPartSize) - 1;
          const r = await send<{ CopyPartResult?: { ETag?: string } }>(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: to,
              UploadId: uploadId,
              PartNumber: i + 1,
              CopySource: copySource(from),
              // No CopySourceIfMatch: Swift's s3api refuses it for a multipart (SLO) source whatever the ETag.
              // Sources here are content-addressed and never rewritten in place.
              CopySourceRange: `bytes=${start}-${end}`,
            }),
            `${what} (part ${i + 1} of ${count})`,
            to,
          );
          return { PartNumber: i + 1, ETag: r.CopyPartResult?.ETag };
        },
      );
      await send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: to,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
        what,
        to,
      );
      log?.('debug', `copied ${s3url(from)} to ${s3url(to)} in ${count} parts`, { name: 'object-store' });
    } catch (err) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: uploadId }))
        .catch(() => {});
      throw err;
    }
  };

  const store: ObjectStore = {
    bucket,
    prefix,
    url: (key) => s3url(full(key)),

    async ensureBucket() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
        return;
      } catch (err) {
        const e = toObjectStoreError(err, `looking up the bucket ${bucket}`, { bucket });
        if (e.code !== 'ERR_OBJECT_NOT_FOUND') throw e;
      }
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        log?.('info', `created the bucket ${bucket}`, { name: 'object-store' });
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
        throw toObjectStoreError(err, `creating the bucket ${bucket}`, { bucket });
      }
    },

    head: (key) => headFull(full(key)),

    putStream(key, body, opts = {}) {
      const fullKey = full(key);
      checkMetadata(opts.metadata, fullKey);
      return putStreamImpl({ client, bucket, key: fullKey, url: s3url(fullKey), log }, body, opts);
    },

    copy: (fromKey, toKey, opts = {}) => copyFull(full(fromKey), full(toKey), opts.metadata),

    async move(fromKey, toKey, opts = {}) {
      const from = full(fromKey);
      await copyFull(from, full(toKey), opts.metadata);
      await send(new DeleteObjectCommand({ Bucket: bucket, Key: from }), `deleting ${s3url(from)}`, from);
    },

    async delete(key) {
      const k = full(key);
      await send(new DeleteObjectCommand({ Bucket: bucket, Key: k }), `deleting ${s3url(k)}`, k);
    },

    list(listPrefix = '') {
      const p = prefix ? `${prefix}/${listPrefix}` : listPrefix;
      return {
        async *[Symbol.asyncIterator]() {
          let token: string | undefined;
          do {
            const r = await send<{
              Contents?: { Key?: string; Size?: number; LastModified?: Date }[];
              IsTruncated?: boolean;
              NextContinuationToken?: string;
            }>(
              new ListObjectsV2Command({ Bucket: bucket, Prefix: p || undefined, ContinuationToken: token }),
              `listing s3://${bucket}/${p}`,
            );
            for (const o of r.Contents ?? []) {
              if (!o.Key) continue;
              yield {
                key: rel(o.Key),
                size: Number(o.Size ?? 0),
                lastModified: o.LastModified ?? new Date(0),
              };
            }
            token = r.IsTruncated ? r.NextContinuationToken : undefined;
          } while (token);
        },
      };
    },

    async get(key, opts = {}) {
      const k = full(key);
      let range: string | undefined;
      if (opts.range) {
        const { start, end } = opts.range;
        if (
          !Number.isSafeInteger(start) ||
          start < 0 ||
          (end !== undefined && !(Number.isSafeInteger(end) && end >= start))
        ) {
          throw new ObjectStoreError('ERR_OBJECT_INVALID', `invalid range ${start}-${end ?? ''}`, {
            bucket,
            key: k,
          });
        }
        range = `bytes=${start}-${end ?? ''}`;
      }
      const what = `reading ${s3url(k)}`;
      const r = await send<{ Body?: Readable }>(
        new GetObjectCommand({ Bucket: bucket, Key: k, Range: range }),
        what,
        k,
        opts.signal,
      );
      const body = r.Body;
      if (!body) throw new ObjectStoreError('ERR_OBJECT_INTERNAL', `${what}: no body`, { bucket, key: k });
      // The body's own errors (a connection broken mid-object) become ObjectStoreErrors too.
      const out = new PassThrough();
      body.on('error', (err) =>
        out.destroy(toObjectStoreError(err, what, { bucket, key: k, signal: opts.signal })),
      );
      out.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(out);
      return out;
    },

    async *uploads(uploadPrefix = '') {
      const p = prefix ? `${prefix}/${uploadPrefix}` : uploadPrefix;
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      do {
        const r = await send<{
          Uploads?: { Key?: string; UploadId?: string; Initiated?: Date }[];
          IsTruncated?: boolean;
          NextKeyMarker?: string;
          NextUploadIdMarker?: string;
        }>(
          new ListMultipartUploadsCommand({
            Bucket: bucket,
            Prefix: p || undefined,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
          `listing the multipart uploads of s3://${bucket}/${p}`,
        );
        for (const u of r.Uploads ?? []) {
          if (!u.Key || !u.UploadId) continue;
          yield {
            key: prefix ? u.Key.slice(prefix.length + 1) : u.Key,
            fullKey: u.Key,
            uploadId: u.UploadId,
            ...(u.Initiated ? { initiated: u.Initiated } : {}),
          };
        }
        keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
        uploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
      } while (keyMarker);
    },

    async abortStaleUploads(uploadPrefix, olderThanMs) {
      const cutoff = now().getTime() - olderThanMs;
      let aborted = 0;
      for await (const u of store.uploads(uploadPrefix) as AsyncIterable<
        PendingUpload & { fullKey: string }
      >) {
        if (u.initiated && u.initiated.getTime() > cutoff) continue;
        try {
          await client.send(
            new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.fullKey, UploadId: u.uploadId }),
          );
          aborted++;
          log?.(
            'info',
            `aborted the stale multipart upload of ${s3url(u.fullKey)} started ${u.initiated?.toISOString()}`,
            { name: 'object-store' },
          );
        } catch (err) {
          const e = toObjectStoreError(err, `aborting the upload of ${s3url(u.fullKey)}`, {
            bucket,
            key: u.fullKey,
          });
          // Another worker cleaning up at the same time got there first.
          if (e.code !== 'ERR_OBJECT_NOT_FOUND') throw e;
        }
      }
      return aborted;
    },

    close() {
      client.destroy();
    },
  };
  return store;
}
