// Images of an `s3://` cache (`vmcatcher_cache --cache-url`): the event names the object
// (`VMCATCHER_EVENT_CACHE_URL`), and the connector copies it into its scratch directory, hashing on the way, so
// that the size and sha512 the event states are checked before anything reaches Glance and the sandboxed
// ingestion reads a local file as for a directory cache.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Logger, messageOf } from '@hepix/common';
import { parseIndex } from '@hepix/image-cache';
import {
  createObjectStore,
  type ObjectStore,
  type ObjectStoreCredentials,
  ObjectStoreError,
  parseObjectUrl,
} from '@hepix/object-store';
import { GlanceConnectorError } from './errors.js';

/** Where the S3 server is; every field defaults to the `AWS_*` variables, as `@hepix/object-store` reads them. */
export interface ObjectSourceOptions {
  /** `https://s3.example.org` (default `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS). */
  endpoint?: string;
  /** Default `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`. */
  region?: string;
  /** Default `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`, else the SDK's chain (profiles, instance roles). */
  credentials?: ObjectStoreCredentials;
  /** Default: true when an endpoint is set. */
  forcePathStyle?: boolean;
  /** A PEM file of the CAs trusted for an https endpoint (default the file `AWS_CA_BUNDLE`). */
  caBundle?: string;
}

/** True for an `s3://` URL (an object store location rather than a directory). */
export function isObjectUrl(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('s3://');
}

/** `s3://BUCKET/KEY` taken apart; anything else is the event's fault (`ERR_GLANCE_EVENT`). */
function splitObjectUrl(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/?#]+)\/([^?#]+)$/.exec(url);
  try {
    if (!m) throw new Error('not s3://BUCKET/KEY');
    parseObjectUrl(`s3://${m[1]}/${m[2]}`); // the bucket name and the key's segments
  } catch (cause) {
    throw new GlanceConnectorError('ERR_GLANCE_EVENT', `the cache URL ${url} is not an s3://BUCKET/KEY URL`, {
      url,
      cause,
    });
  }
  return { bucket: m[1], key: m[2] };
}

/** One client per bucket, opened on first use. */
export interface ObjectSource {
  /**
   * Copies the object to a new file under `scratchDir`, checking `size` (when > 0) and `sha512`. A wrong object
   * is `ERR_GLANCE_CACHE_INTEGRITY` (`mismatch`), a missing one `ERR_GLANCE_IMAGE_MISSING`, any other failure of
   * the store `ERR_GLANCE_OBJECT_STORE`; nothing stays behind on failure.
   */
  fetch(
    url: string,
    expected: { image: string; sha512: string; size: number },
    scratchDir: string,
  ): Promise<{ path: string; cleanup: () => Promise<void> }>;
  /** Whether the object exists (for sync). */
  exists(url: string): Promise<boolean>;
  /** The `cache.index` of an `s3://BUCKET/PREFIX` cache, as `vmcatcher_cache --cache-url` keeps it. */
  readCacheIndex(cacheUrl: string): Promise<Map<string, Record<string, unknown>>>;
  close(): void;
}

function storeError(err: unknown, url: string, image?: string): GlanceConnectorError {
  if (err instanceof GlanceConnectorError) return err;
  const context = { url, cause: err, ...(image ? { image } : {}) };
  if (err instanceof ObjectStoreError && err.code === 'ERR_OBJECT_NOT_FOUND')
    return new GlanceConnectorError('ERR_GLANCE_IMAGE_MISSING', `${url} is not in the object store`, context);
  return new GlanceConnectorError(
    'ERR_GLANCE_OBJECT_STORE',
    `cannot read ${url}: ${messageOf(err)}`,
    context,
  );
}

export function createObjectSource(
  options: ObjectSourceOptions & { env?: NodeJS.ProcessEnv; log?: Logger } = {},
): ObjectSource {
  const stores = new Map<string, Promise<ObjectStore>>();

  function store(bucket: string, url: string): Promise<ObjectStore> {
    let s = stores.get(bucket);
    if (!s) {
      s = (async () => {
        const ca = options.caBundle ? [await readFile(options.caBundle)] : undefined;
        return createObjectStore({
          url: `s3://${bucket}`,
          ...(options.endpoint ? { endpoint: options.endpoint } : {}),
          ...(options.region ? { region: options.region } : {}),
          ...(options.credentials ? { credentials: options.credentials } : {}),
          ...(options.forcePathStyle !== undefined ? { forcePathStyle: options.forcePathStyle } : {}),
          ...(ca ? { tls: { ca } } : {}),
          ...(options.env ? { env: options.env } : {}),
          ...(options.log ? { log: options.log } : {}),
        });
      })();
      stores.set(bucket, s);
      // A bad configuration is reported for this call, and tried again on the next.
      s.catch(() => stores.delete(bucket));
    }
    return s.catch((err) => {
      throw storeError(err, url);
    });
  }

  return {
    async fetch(url, expected, scratchDir) {
      const { bucket, key } = splitObjectUrl(url);
      const objects = await store(bucket, url);
      await mkdir(scratchDir, { recursive: true, mode: 0o700 });
      const dir = await mkdtemp(join(scratchDir, 'object-'));
      const cleanup = () => rm(dir, { recursive: true, force: true });
      const path = join(dir, 'image');
      const hash = createHash('sha512');
      let size = 0;
      const limit = expected.size > 0 ? expected.size : undefined;
      const integrity = (mismatch: 'size' | 'sha512', stated: string, found: string) =>
        new GlanceConnectorError(
          'ERR_GLANCE_CACHE_INTEGRITY',
          `${expected.image}: ${url} has ${mismatch} ${found}, the event states ${stated}`,
          { image: expected.image, url, mismatch, declared: stated, detected: found },
        );
      try {
        let body: Awaited<ReturnType<ObjectStore['get']>>;
        try {
          body = await objects.get(key);
        } catch (err) {
          throw storeError(err, url, expected.image);
        }
        const counting = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            size += chunk.length;
            // Stop at once: a longer object cannot be the image, and must not fill the scratch disk.
            if (limit !== undefined && size > limit) {
              cb(integrity('size', String(limit), `over ${limit}`));
              return;
            }
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        try {
          // pipeline keeps back-pressure: memory stays at a few stream buffers whatever the image size.
          await pipeline(body, counting, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
        } catch (err) {
          if (err instanceof GlanceConnectorError) throw err;
          throw storeError(err, url, expected.image);
        }
        if (limit !== undefined && size !== limit) throw integrity('size', String(limit), String(size));
        const sha512 = hash.digest('hex');
        if (sha512 !== expected.sha512) throw integrity('sha512', expected.sha512, sha512);
        options.log?.(
          'debug',
          `${expected.image}: ${url} copied to ${path} (${size} bytes, sha512 checked)`,
          {
            image: expected.image,
          },
        );
        return { path, cleanup };
      } catch (err) {
        await cleanup();
        throw err;
      }
    },

    async exists(url) {
      const { bucket, key } = splitObjectUrl(url);
      const objects = await store(bucket, url);
      try {
        return (await objects.head(key)) !== undefined;
      } catch (err) {
        throw storeError(err, url);
      }
    },

    async readCacheIndex(cacheUrl) {
      const base = cacheUrl.replace(/\/+$/, '');
      const url = `${base}/index/cache.index`;
      const { bucket, key } = splitObjectUrl(url);
      const objects = await store(bucket, url);
      let text: string;
      try {
        if (!(await objects.head(key))) return new Map();
        const chunks: Buffer[] = [];
        for await (const c of await objects.get(key)) chunks.push(c as Buffer);
        text = Buffer.concat(chunks).toString('utf8');
      } catch (err) {
        throw storeError(err, url);
      }
      try {
        return parseIndex(text, url);
      } catch (cause) {
        throw new GlanceConnectorError('ERR_GLANCE_STORE', `${url}: ${messageOf(cause)}`, { url, cause });
      }
    },

    close() {
      for (const s of stores.values()) s.then((o) => o.close()).catch(() => {});
      stores.clear();
    },
  };
}
