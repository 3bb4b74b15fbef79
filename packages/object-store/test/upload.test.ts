// Streaming uploads against the real S3 API: a few hundred MiB through bounded memory, an abort mid-upload, and a
// worker process killed with SIGKILL mid-upload, whose invisible leftovers abortStaleUploads removes.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore, UploadProgress } from '../src/index.js';
import {
  allKeys,
  awsEnv,
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
  store = await testStore(bucket, 'up');
});
afterAll(async () => {
  store?.close();
  await dropBucket(bucket);
});

describe('multipart upload while streaming', () => {
  it('uploads 320 MiB in 8 MiB parts with memory bounded by the parts in flight, byte for byte', async () => {
    const size = 320 * MiB + 12345;
    const body = generatedBody(size, 42);
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const seen: UploadProgress[] = [];
    const r = await store.putStream('big/object', body.stream(), {
      partSize: 8 * MiB,
      queueSize: 2,
      size,
      onProgress: (p) => {
        peak = Math.max(peak, process.memoryUsage().rss);
        if (seen.length === 0 || p.parts !== seen[seen.length - 1].parts) seen.push(p);
      },
    });
    expect(r).toMatchObject({ size, parts: 41 });
    expect(r.etag).toMatch(/-41"$/);
    // (queueSize + 2) × partSize = 32 MiB of parts; the rest is the SDK, sockets and garbage not yet collected.
    // The bound is generous and still far below the 320 MiB that buffering the body would take.
    expect(peak - baseline).toBeLessThan(160 * MiB);
    // Parts were acknowledged while the body was still being read.
    expect(seen.some((p) => p.parts > 0 && p.readBytes < size)).toBe(true);
    expect(await sha512Of(await store.get('big/object'))).toEqual({ sha512: body.sha512(), size });
    expect(await uploadsInProgress(bucket)).toEqual([]);
  });

  it('a body of another size than announced is ERR_OBJECT_INTEGRITY and leaves nothing', async () => {
    const body = generatedBody(11 * MiB, 3);
    const e = await expectCode(
      store.putStream('size/short', body.stream(), { partSize: 5 * MiB, size: 12 * MiB }),
      'ERR_OBJECT_INTEGRITY',
    );
    expect(e).toMatchObject({ mismatch: 'size', expected: String(12 * MiB), actual: String(11 * MiB) });
    const e2 = await expectCode(
      store.putStream('size/long', body.stream(), { partSize: 5 * MiB, size: 6 * MiB }),
      'ERR_OBJECT_INTEGRITY',
    );
    expect(e2.mismatch).toBe('size');
    expect(await store.head('size/short')).toBeUndefined();
    expect(await store.head('size/long')).toBeUndefined();
    expect(await uploadsInProgress(bucket)).toEqual([]);
  });

  it('an abort mid-upload is ERR_OBJECT_ABORTED: no object, no upload left', async () => {
    const body = generatedBody(60 * MiB, 5);
    const ac = new AbortController();
    const e = await expectCode(
      store.putStream('abort/me', body.stream(), {
        partSize: 5 * MiB,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.parts >= 2) ac.abort();
        },
      }),
      'ERR_OBJECT_ABORTED',
    );
    expect(e.key).toBe('up/abort/me');
    expect(await store.head('abort/me')).toBeUndefined();
    expect(await uploadsInProgress(bucket)).toEqual([]);
    expect(await store.abortStaleUploads('', 0)).toBe(0);
    // An already aborted signal sends nothing at all.
    await expectCode(
      store.putStream('abort/early', generatedBody(1000).stream(), { signal: ac.signal }),
      'ERR_OBJECT_ABORTED',
    );
    expect(await store.head('abort/early')).toBeUndefined();
  });

  it('an error of the body is rethrown as it is and aborts the upload', async () => {
    const body = generatedBody(30 * MiB, 6).stream();
    let n = 0;
    body.on('data', () => {
      if (++n === 12) body.destroy(new Error('the download broke'));
    });
    await expect(store.putStream('broken/body', body, { partSize: 5 * MiB })).rejects.toThrow(
      'the download broke',
    );
    expect(await store.head('broken/body')).toBeUndefined();
    expect(await uploadsInProgress(bucket)).toEqual([]);
  });

  it('a worker killed with SIGKILL mid-upload leaves nothing visible; abortStaleUploads removes its upload', async () => {
    const child = fileURLToPath(new URL('./fixtures/upload-child.mjs', import.meta.url));
    const proc = spawn(process.execPath, [child, `s3://${bucket}/up`, 'killed/object', String(200 * MiB)], {
      env: { ...process.env, ...awsEnv(), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // The child says when two parts are on the server; then it dies without a chance to clean up.
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        if (out.includes('PARTS 2')) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`the child exited (${code}) before two parts: ${out}`)));
    });
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.once('exit', resolve));
    expect(await store.head('killed/object')).toBeUndefined();
    expect(await allKeys(bucket)).not.toContain('up/killed/object');
    expect(await uploadsInProgress(bucket)).toEqual(['up/killed/object']);
    // A fresh upload does not count as stale; two hours later (the clock is injected) it does.
    expect(await store.abortStaleUploads('killed/', 3_600_000)).toBe(0);
    const later = await testStore(bucket, 'up', { now: () => new Date(Date.now() + 2 * 3_600_000) });
    try {
      expect(await later.abortStaleUploads('other/', 3_600_000)).toBe(0);
      expect(await later.abortStaleUploads('killed/', 3_600_000)).toBe(1);
    } finally {
      later.close();
    }
    expect(await uploadsInProgress(bucket)).toEqual([]);
    expect(await store.head('killed/object')).toBeUndefined();
  });
});
