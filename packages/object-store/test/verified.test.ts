// putVerified against the real S3 API: the bytes become visible under their content address only when their
// sha512 and size are the expected ones; otherwise nothing appears, and no upload is left behind.
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageKey, type ObjectStore, putVerified } from '../src/index.js';
import {
  allKeys,
  bucketName,
  dropBucket,
  expectCode,
  generatedBody,
  sha512Of,
  testStore,
  uploadsInProgress,
} from './helpers.js';

const MiB = 1024 ** 2;
const bucket = bucketName();
let store: ObjectStore;

beforeAll(async () => {
  store = await testStore(bucket, 'cache');
});
afterAll(async () => {
  store?.close();
  await dropBucket(bucket);
});

describe.each([
  ['a small image (one PUT)', 300_000],
  ['a large image (multipart)', 13 * MiB + 7],
])('putVerified, %s', (_, size) => {
  const body = generatedBody(size, size);
  const sha512 = body.sha512();
  const key = imageKey(sha512);

  it('a wrong sha512 is ERR_OBJECT_INTEGRITY (sha512): nothing under the key, no upload left', async () => {
    const before = await allKeys(bucket);
    const wrong = 'f'.repeat(128);
    const e = await expectCode(
      putVerified(store, imageKey(wrong), body.stream(), {
        expectedSha512: wrong,
        expectedSize: size,
        partSize: 5 * MiB,
      }),
      'ERR_OBJECT_INTEGRITY',
    );
    expect(e).toMatchObject({ mismatch: 'sha512', expected: wrong, actual: sha512 });
    expect(await store.head(imageKey(wrong))).toBeUndefined();
    expect(await allKeys(bucket)).toEqual(before);
    expect(await uploadsInProgress(bucket)).toEqual([]);
  });

  it('a wrong size is ERR_OBJECT_INTEGRITY (size), too many bytes as well as too few', async () => {
    const before = await allKeys(bucket);
    for (const expectedSize of [size - 1, size + 1]) {
      const e = await expectCode(
        putVerified(store, key, body.stream(), { expectedSha512: sha512, expectedSize, partSize: 5 * MiB }),
        'ERR_OBJECT_INTEGRITY',
      );
      expect(e).toMatchObject({ mismatch: 'size', expected: String(expectedSize) });
    }
    expect(await store.head(key)).toBeUndefined();
    expect(await allKeys(bucket)).toEqual(before);
    expect(await uploadsInProgress(bucket)).toEqual([]);
  });

  it('the right bytes become visible under their content address, with their sha512; a second put reads nothing', async () => {
    const r = await putVerified(store, key, body.stream(), {
      expectedSha512: sha512.toUpperCase(),
      expectedSize: size,
      partSize: 5 * MiB,
      metadata: { identifier: 'img-1' },
    });
    expect(r).toMatchObject({ created: true, key, url: `s3://${bucket}/cache/${key}`, size, sha512 });
    const head = await store.head(key);
    expect(head).toMatchObject({ size, metadata: { sha512, identifier: 'img-1' } });
    expect(await sha512Of(await store.get(key))).toEqual({ sha512, size });

    // The same bytes for another list: already there, so the body is not read (a download is not even started).
    let read = false;
    const second = new Readable({
      read() {
        read = true;
        this.push(null);
      },
    });
    const again = await putVerified(store, key, second, { expectedSha512: sha512, expectedSize: size });
    expect(again).toMatchObject({ created: false, size, sha512, etag: head!.etag });
    expect(read).toBe(false);
  });
});

it('a failed upload stops the download it reads from', async () => {
  const download = generatedBody(40 * MiB, 9).stream();
  const ac = new AbortController();
  const h = 'e'.repeat(128);
  await expectCode(
    putVerified(store, imageKey(h), download, {
      expectedSha512: h,
      partSize: 5 * MiB,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.readBytes > 12 * MiB) ac.abort();
      },
    }),
    'ERR_OBJECT_ABORTED',
  );
  expect(download.destroyed).toBe(true);
  expect(await store.head(imageKey(h))).toBeUndefined();
  expect(await uploadsInProgress(bucket)).toEqual([]);
});

it('putVerified refuses a malformed sha512 with ERR_OBJECT_INVALID before reading anything', async () => {
  const before = await allKeys(bucket);
  await expectCode(
    putVerified(store, 'x', Readable.from([Buffer.from('x')]), { expectedSha512: 'abc' }),
    'ERR_OBJECT_INVALID',
  );
  expect(await allKeys(bucket)).toEqual(before);
});
