// The S3 server of the tests (Swift's s3api from scripts/start-swift.sh), a fresh bucket per test file, a raw
// S3 client for what the tests look at behind the store's back (multipart uploads in progress), and bodies of
// any size made while they are read.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  AbortMultipartUploadCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { createObjectStore, type ObjectStore, type ObjectStoreOptions } from '../src/index.js';

export interface S3Env {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export function s3Env(): S3Env {
  const get = (name: 'TEST_S3_ENDPOINT' | 'TEST_S3_ACCESS_KEY' | 'TEST_S3_SECRET_KEY' | 'TEST_S3_REGION') => {
    const v = process.env[name] || inject(name);
    if (!v) throw new Error(`${name} is not set and Swift could not be started`);
    return v;
  };
  return {
    endpoint: get('TEST_S3_ENDPOINT'),
    accessKeyId: get('TEST_S3_ACCESS_KEY'),
    secretAccessKey: get('TEST_S3_SECRET_KEY'),
    region: get('TEST_S3_REGION'),
  };
}

/** The environment a site would set for the S3 server of the tests. */
export function awsEnv(): NodeJS.ProcessEnv {
  const e = s3Env();
  return {
    AWS_ENDPOINT_URL_S3: e.endpoint,
    AWS_ACCESS_KEY_ID: e.accessKeyId,
    AWS_SECRET_ACCESS_KEY: e.secretAccessKey,
    AWS_REGION: e.region,
  };
}

function rawClient(): S3Client {
  const e = s3Env();
  return new S3Client({
    endpoint: e.endpoint,
    region: e.region,
    forcePathStyle: true,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function bucketName(): string {
  return `hepix-test-${randomBytes(5).toString('hex')}`;
}

/** A store on a new bucket (created) under `prefix`. */
export async function testStore(
  bucket: string,
  prefix = 'cache',
  options: Partial<ObjectStoreOptions> = {},
): Promise<ObjectStore> {
  const store = createObjectStore({ url: `s3://${bucket}/${prefix}`, env: awsEnv(), ...options });
  await store.ensureBucket();
  return store;
}

/** The multipart uploads in progress in `bucket` (full keys). */
export async function uploadsInProgress(bucket: string): Promise<string[]> {
  const c = rawClient();
  try {
    const r = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (r.Uploads ?? []).map((u) => u.Key ?? '');
  } finally {
    c.destroy();
  }
}

/** Every full key in `bucket`. */
export async function allKeys(bucket: string): Promise<string[]> {
  const c = rawClient();
  try {
    const r = await c.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (r.Contents ?? []).map((o) => o.Key ?? '').sort();
  } finally {
    c.destroy();
  }
}

/** Empties and deletes `bucket` (uploads, objects, then the bucket). */
export async function dropBucket(bucket: string): Promise<void> {
  const c = rawClient();
  try {
    const u = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const x of u.Uploads ?? [])
      await c.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: x.Key, UploadId: x.UploadId }));
    let token: string | undefined;
    do {
      const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of r.Contents ?? []) await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    await c.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
}

const MiB = 1024 ** 2;

/**
 * A body of `size` bytes made while it is read, in 1 MiB chunks that all differ (a base block with the chunk's
 * number in front), so misplaced or missing parts change the hash. `sha512()` gives the hash of the whole.
 */
export function generatedBody(size: number, seed = 1): { stream: () => Readable; sha512: () => string } {
  const base = createHash('sha512').update(String(seed)).digest();
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += base.length) base.copy(block, i);
  const chunk = (i: number) => {
    const len = Math.min(MiB, size - i * MiB);
    const b = Buffer.allocUnsafe(len);
    block.copy(b, 0, 0, len);
    if (len >= 8) b.writeBigUInt64BE(BigInt(i), 0);
    return b;
  };
  const count = Math.ceil(size / MiB);
  return {
    stream: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < count; i++) yield chunk(i);
        })(),
        { objectMode: false },
      ),
    sha512: () => {
      const h = createHash('sha512');
      for (let i = 0; i < count; i++) h.update(chunk(i));
      return h.digest('hex');
    },
  };
}

export async function sha512Of(stream: Readable): Promise<{ sha512: string; size: number }> {
  const h = createHash('sha512');
  let size = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha512: h.digest('hex'), size };
}

export async function textOf(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

export async function expectCode(
  p: Promise<unknown> | (() => unknown),
  code: string,
): Promise<Error & Record<string, unknown>> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    const e = err as Error & Record<string, unknown>;
    if (e.code !== code)
      throw new Error(`expected ${code}, got ${String(e.code)}: ${e.message}`, { cause: e });
    return e;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}
