// The object store against a real S3 API (OpenStack Swift's s3api): objects, metadata, listings, ranges,
// copies, and the errors a site meets (bad credentials, no server, no bucket, bad input).
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore, type ObjectStore } from '../src/index.js';
import {
  allKeys,
  awsEnv,
  bucketName,
  dropBucket,
  expectCode,
  generatedBody,
  s3Env,
  sha512Of,
  testStore,
  textOf,
} from './helpers.js';

const bucket = bucketName();
let store: ObjectStore;

beforeAll(async () => {
  store = await testStore(bucket, 'site-a/cache');
});
afterAll(async () => {
  store?.close();
  await dropBucket(bucket);
});

const body = (text: string) => Readable.from([Buffer.from(text)]);

describe('objects', () => {
  it('puts, heads, gets and deletes an object under the prefix', async () => {
    expect(store.bucket).toBe(bucket);
    expect(store.prefix).toBe('site-a/cache');
    expect(store.url('a/b')).toBe(`s3://${bucket}/site-a/cache/a/b`);
    const r = await store.putStream('a/hello', body('hello world'), { metadata: { origin: 'test' } });
    expect(r).toMatchObject({ size: 11, parts: 0 });
    expect(r.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const head = await store.head('a/hello');
    expect(head).toMatchObject({ size: 11, etag: r.etag, metadata: { origin: 'test' } });
    expect(head!.lastModified).toBeInstanceOf(Date);
    expect(await allKeys(bucket)).toContain('site-a/cache/a/hello');
    expect(await textOf(await store.get('a/hello'))).toBe('hello world');
    await store.delete('a/hello');
    expect(await store.head('a/hello')).toBeUndefined();
    // Deleting what is not there is no error.
    await store.delete('a/hello');
  });

  it('reads ranges', async () => {
    await store.putStream('r/digits', body('0123456789abcdefghij'));
    expect(await textOf(await store.get('r/digits', { range: { start: 10, end: 14 } }))).toBe('abcde');
    expect(await textOf(await store.get('r/digits', { range: { start: 15 } }))).toBe('fghij');
    expect(await textOf(await store.get('r/digits', { range: { start: 0, end: 0 } }))).toBe('0');
    await expectCode(store.get('r/digits', { range: { start: 5, end: 2 } }), 'ERR_OBJECT_INVALID');
    await expectCode(store.get('r/digits', { range: { start: -1 } }), 'ERR_OBJECT_INVALID');
  });

  it('lists by prefix, relative to the store prefix, and not the objects of another prefix', async () => {
    const other = createObjectStore({ url: `s3://${bucket}/site-b`, env: awsEnv() });
    try {
      await other.putStream('l/one', body('x'));
      for (const k of ['l/one', 'l/two', 'l/sub/three', 'm/four']) await store.putStream(k, body(k));
      const keys = async (s: ObjectStore, p?: string) => {
        const out: string[] = [];
        for await (const o of s.list(p)) out.push(o.key);
        return out;
      };
      expect(await keys(store, 'l/')).toEqual(['l/one', 'l/sub/three', 'l/two']);
      expect(await keys(store, 'l/sub/')).toEqual(['l/sub/three']);
      expect(await keys(store, 'nothing/')).toEqual([]);
      expect(await keys(other)).toEqual(['l/one']);
      const listed = [];
      for await (const o of store.list('m/')) listed.push(o);
      expect(listed).toEqual([{ key: 'm/four', size: 6, lastModified: expect.any(Date) }]);
    } finally {
      other.close();
    }
  });

  it('copies server-side, keeping or replacing the metadata, and moves', async () => {
    await store.putStream('c/src', body('copy me'), { metadata: { k: 'v' } });
    await store.copy('c/src', 'c/same');
    expect(await store.head('c/same')).toMatchObject({ size: 7, metadata: { k: 'v' } });
    await store.copy('c/src', 'c/replaced', { metadata: { other: '1' } });
    expect((await store.head('c/replaced'))!.metadata).toEqual({ other: '1' });
    expect(await textOf(await store.get('c/replaced'))).toBe('copy me');
    await store.move('c/replaced', 'expired/c/replaced');
    expect(await store.head('c/replaced')).toBeUndefined();
    expect(await textOf(await store.get('expired/c/replaced'))).toBe('copy me');
    await expectCode(store.copy('c/none', 'c/x'), 'ERR_OBJECT_NOT_FOUND');
    expect(await store.head('c/x')).toBeUndefined();
  });

  it('copies an object above the threshold part by part (UploadPartCopy)', async () => {
    const big = generatedBody(12 * 1024 ** 2 + 123, 7);
    const small = await testStore(bucket, 'site-a/cache', {
      multipartCopyThreshold: 6 * 1024 ** 2,
      copyPartSize: 5 * 1024 ** 2,
    });
    try {
      await small.putStream('mc/src', big.stream(), {
        metadata: { sha512: big.sha512() },
        partSize: 5 * 1024 ** 2,
      });
      await small.copy('mc/src', 'mc/dst');
      const head = await small.head('mc/dst');
      expect(head).toMatchObject({ size: 12 * 1024 ** 2 + 123, metadata: { sha512: big.sha512() } });
      // A multipart object's ETag names its part count: 3 parts of at most 5 MiB.
      expect(head!.etag).toMatch(/-3"$/);
      expect(await sha512Of(await small.get('mc/dst'))).toEqual({
        sha512: big.sha512(),
        size: 12 * 1024 ** 2 + 123,
      });
    } finally {
      small.close();
    }
  });
});

describe('errors', () => {
  it('a missing object is undefined for head and ERR_OBJECT_NOT_FOUND for get', async () => {
    expect(await store.head('nope')).toBeUndefined();
    const e = await expectCode(store.get('nope'), 'ERR_OBJECT_NOT_FOUND');
    expect(e).toMatchObject({ bucket, key: 'site-a/cache/nope', httpStatus: 404, s3Code: 'NoSuchKey' });
  });

  it('a missing bucket is ERR_OBJECT_NOT_FOUND (NoSuchBucket); head cannot tell it from a missing object', async () => {
    const s = createObjectStore({ url: `s3://${bucketName()}/x`, env: awsEnv() });
    try {
      const e = await expectCode(s.get('k'), 'ERR_OBJECT_NOT_FOUND');
      expect(e.s3Code).toBe('NoSuchBucket');
      expect(await s.head('k')).toBeUndefined();
      expect((await expectCode(s.putStream('k', body('x')), 'ERR_OBJECT_NOT_FOUND')).s3Code).toBe(
        'NoSuchBucket',
      );
    } finally {
      s.close();
    }
  });

  it('a wrong secret is ERR_OBJECT_ACCESS_DENIED and writes nothing', async () => {
    const before = await allKeys(bucket);
    const e = s3Env();
    const s = createObjectStore({
      url: `s3://${bucket}/site-a/cache`,
      endpoint: e.endpoint,
      region: e.region,
      credentials: { accessKeyId: e.accessKeyId, secretAccessKey: 'wrong' },
    });
    try {
      await expectCode(s.head('a'), 'ERR_OBJECT_ACCESS_DENIED');
      const err = await expectCode(s.putStream('denied', body('x')), 'ERR_OBJECT_ACCESS_DENIED');
      expect(err.httpStatus).toBe(403);
      await expectCode(s.get('a'), 'ERR_OBJECT_ACCESS_DENIED');
    } finally {
      s.close();
    }
    expect(await allKeys(bucket)).toEqual(before);
  });

  it('a server that is not there is ERR_OBJECT_NETWORK', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const s = createObjectStore({
      url: `s3://${bucket}/x`,
      env: { ...awsEnv(), AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` },
      maxAttempts: 1,
    });
    try {
      await expectCode(s.head('k'), 'ERR_OBJECT_NETWORK');
    } finally {
      s.close();
    }
  });

  it('bad configuration is ERR_OBJECT_CONFIG at creation', async () => {
    await expectCode(() => createObjectStore({ url: 'file:///tmp/x' }), 'ERR_OBJECT_CONFIG');
    await expectCode(
      () => createObjectStore({ url: 's3://images', endpoint: 'ftp://x' }),
      'ERR_OBJECT_CONFIG',
    );
    await expectCode(
      () => createObjectStore({ url: 's3://images', env: { AWS_CA_BUNDLE: '/nonexistent/ca.pem' } }),
      'ERR_OBJECT_CONFIG',
    );
    await expectCode(
      () => createObjectStore({ url: 's3://images', copyPartSize: 1024 }),
      'ERR_OBJECT_CONFIG',
    );
  });

  it('bad keys and metadata are ERR_OBJECT_INVALID and store nothing', async () => {
    const before = await allKeys(bucket);
    for (const key of ['', '/abs', 'a//b', 'a/../b', 'tab\tkey']) {
      await expectCode(() => store.putStream(key, body('x')), 'ERR_OBJECT_INVALID');
    }
    await expectCode(() => store.putStream('m', body('x'), { metadata: { Bad: 'x' } }), 'ERR_OBJECT_INVALID');
    await expectCode(store.putStream('m', body('x'), { partSize: 1024 }), 'ERR_OBJECT_INVALID');
    expect(await allKeys(bucket)).toEqual(before);
  });
});
