// The connector's s3:// source as a library, against the real S3 API of scripts/start-swift.sh and the real
// glance-api of scripts/start-glance.sh: the S3 server given as options (no AWS_* variables), the object named
// by an event, refusals of bad cache URLs, wrong credentials and a bucket that is not there (nothing in
// Glance, nothing left in the scratch directory), the local file of a directory cache preferred, and the `s3`
// section of the configuration file.
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createImageCache, createS3Storage } from '@hepix/image-cache';
import { createObjectStore, imageKey, type ObjectStore } from '@hepix/object-store';
import { makePki, startImageServer } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageData, prepareStore, publish, sha512 } from '../../image-cache/test/helpers.js';
import {
  createGlanceConnector,
  type GlanceConnector,
  type GlanceConnectorError,
  type GlanceConnectorOptions,
  parseConnectorConfig,
} from '../src/index.js';
import { createObjectSource } from '../src/objects.js';
import {
  env,
  files,
  glanceImages,
  noauthCloud,
  qcow2From,
  rawDisk,
  sha512File,
  tempDir,
  uniqueTag,
} from './helpers.js';

const SUB = '3f1b7c3e-5353-4000-8000-00000000c0de';
let dir: string;
let scratch: string;
let url: string;
let objects: ObjectStore;
let disk: string;
let objectUrl: string;

const s3 = () => ({
  endpoint: env('TEST_S3_ENDPOINT'),
  region: env('TEST_S3_REGION'),
  credentials: { accessKeyId: env('TEST_S3_ACCESS_KEY'), secretAccessKey: env('TEST_S3_SECRET_KEY') },
});

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = tempDir('hepix-glance-s3-source-');
  scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  url = `s3://vmc-${randomUUID().slice(0, 18)}/site-b`;
  objects = createObjectStore({ url, ...s3(), env: {} });
  await objects.ensureBucket();
  disk = qcow2From(rawDisk(join(dir, 'd.raw'), 1 << 20), join(dir, 'd.qcow2'));
  const key = imageKey(sha512File(disk));
  await objects.putStream(key, Readable.from([readFileSync(disk)]));
  objectUrl = objects.url(key);
});
afterAll(() => {
  objects?.close();
  rmSync(dir, { recursive: true, force: true });
});

function event(identifier: string, extra: Record<string, unknown> = {}, dirs: Record<string, string> = {}) {
  return {
    type: 'AvailablePostfix' as const,
    session: randomUUID(),
    metadata: {
      'dc:identifier': identifier,
      'dc:title': 'An image of an s3 cache',
      'sl:checksum:sha512': sha512File(disk),
      'hv:size': readFileSync(disk).length,
      'hv:imagelist.dc:identifier': SUB,
      'hv:image.hv:format': 'qcow2',
      filename: identifier,
      'vmcatcher:cache.url': objectUrl,
      ...extra,
    },
    dirs: { cache: url, ...dirs },
  };
}

function connector(tag: string, extra: Partial<GlanceConnectorOptions> = {}): GlanceConnector {
  return createGlanceConnector({
    cloud: noauthCloud(),
    tag,
    scratchDir: scratch,
    formats: ['qcow2'],
    sandbox: 'auto',
    env: { PATH: process.env.PATH },
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<GlanceConnectorError> {
  try {
    await p;
  } catch (err) {
    return err as GlanceConnectorError;
  }
  throw new Error('expected a failure');
}

describe('an s3:// cache as the connector source', () => {
  it('imports the object named by the event, with the S3 server given as options', async () => {
    const tag = uniqueTag();
    const c = connector(tag, { s3: s3() });
    try {
      const id = randomUUID();
      const report = await c.handleEvent(event(id));
      expect(report.results.map((r) => [r.action.kind, r.ok])).toEqual([['upload', true]]);
      const images = await glanceImages(tag);
      expect(images).toMatchObject([
        {
          status: 'active',
          os_hash_value: sha512File(disk),
          vmcatcher_event_dc_identifier: id,
          vmcatcher_event_sl_checksum_sha512: sha512File(disk),
        },
      ]);
      expect(files(scratch)).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('refuses what it cannot or must not read, and leaves Glance and the scratch directory as they were', async () => {
    const tag = uniqueTag();
    const id = randomUUID();
    const good = connector(tag, { s3: s3() });
    const badKeys = connector(tag, {
      s3: { ...s3(), credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong' } },
    });
    try {
      // Not an s3:// URL, or not one of an object.
      for (const bad of ['https://example.org/x', 's3://', 's3://Bad_Bucket/x', `${url}/../x`])
        expect((await failure(good.handleEvent(event(id, { 'vmcatcher:cache.url': bad })))).code).toBe(
          'ERR_GLANCE_EVENT',
        );
      // Wrong credentials: the store refuses (ERR_GLANCE_OBJECT_STORE, the cause kept).
      const denied = await failure(badKeys.handleEvent(event(id)));
      expect(denied.code).toBe('ERR_GLANCE_OBJECT_STORE');
      expect(denied.url).toBe(objectUrl);
      // A bucket or object that is not there.
      const gone = await failure(
        good.handleEvent(
          event(id, { 'vmcatcher:cache.url': `s3://vmc-${randomUUID().slice(0, 18)}/sha512/x` }),
        ),
      );
      expect(gone.code).toBe('ERR_GLANCE_IMAGE_MISSING');
      // The event's sha512 is not the object's: the object's bytes are refused.
      const other = 'ab'.repeat(64);
      const wrong = await failure(good.handleEvent(event(id, { 'sl:checksum:sha512': other })));
      expect(wrong).toMatchObject({
        code: 'ERR_GLANCE_CACHE_INTEGRITY',
        mismatch: 'sha512',
        declared: other,
      });
      const size = await failure(good.handleEvent(event(id, { 'hv:size': 1000 })));
      expect(size).toMatchObject({ code: 'ERR_GLANCE_CACHE_INTEGRITY', mismatch: 'size', declared: '1000' });
      expect(await glanceImages(tag)).toEqual([]);
      expect(files(scratch)).toEqual([]);
    } finally {
      await good.close();
      await badKeys.close();
    }
  });

  it('prefers the local file of a directory cache to the object', async () => {
    const tag = uniqueTag();
    const id = randomUUID();
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { recursive: true });
    const local = join(cacheDir, id);
    // The file of a directory cache is there: the object URL (here one no credentials can read) is not used.
    copyFileSync(disk, local);
    const c = connector(tag, { s3: { ...s3(), credentials: { accessKeyId: 'x', secretAccessKey: 'y' } } });
    try {
      await c.handleEvent(event(id, {}, { cache: cacheDir }));
      expect((await glanceImages(tag)).map((i) => i.status)).toEqual(['active']);
    } finally {
      await c.close();
    }
  });

  it('copies a large object with memory bounded by stream buffers, not by its size', {
    timeout: 300_000,
  }, async () => {
    const MiB = 1024 * 1024;
    const size = 256 * MiB + 777;
    // Deterministic bytes made while streaming, hashed on the way up (never one buffer of the whole object).
    const hash = createHash('sha512');
    async function* generate() {
      const block = Buffer.alloc(MiB);
      for (let sent = 0, n = 0; sent < size; n++) {
        block.fill(n % 251);
        const chunk = block.subarray(0, Math.min(MiB, size - sent));
        hash.update(chunk);
        sent += chunk.length;
        yield Buffer.from(chunk);
      }
    }
    await objects.putStream('big/object', Readable.from(generate()), { size });
    const sha512 = hash.digest('hex');
    const source = createObjectSource({ ...s3(), env: {} });
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 25);
    try {
      const copy = await source.fetch(objects.url('big/object'), { image: 'big', sha512, size }, scratch);
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(statSync(copy.path).size).toBe(size);
      await copy.cleanup();
    } finally {
      clearInterval(sample);
      source.close();
      await objects.delete('big/object');
    }
    // Buffering the object would take its 256 MiB; streaming takes a few buffers plus the SDK and garbage.
    expect(peak - baseline).toBeLessThan(128 * MiB);
    expect(files(scratch)).toEqual([]);
  });

  it('runs in process: createImageCache on createS3Storage with the connector hooks', async () => {
    const tag = uniqueTag();
    const sub = randomUUID();
    const id = randomUUID();
    const work = join(dir, 'in-process');
    mkdirSync(join(work, 'partial'), { recursive: true });
    const server = await startImageServer();
    const pki = await makePki(join(work, 'pki'));
    const data = imageData(700_000); // random bytes: a raw disk
    server.images.set('/img', { data });
    const store = await prepareStore(join(work, 'vmcatcher.db'), sub, [id]);
    const cacheObjects = createObjectStore({
      url: `s3://vmc-${randomUUID().slice(0, 18)}/site-c`,
      ...s3(),
      env: {},
    });
    const problems: string[] = [];
    const glance = connector(tag, {
      s3: s3(),
      store,
      log: (level, message) => {
        if (level === 'error' || level === 'warn') problems.push(message);
      },
    });
    try {
      await publish(store, pki, work, sub, [{ identifier: id, data, uri: `${server.url}/img` }]);
      const cache = createImageCache({
        store,
        storage: createS3Storage({ objects: cacheObjects, partial: join(work, 'partial') }),
        hooks: glance.hooks,
        log: (level, message) => {
          if (level === 'error' || level === 'warn') problems.push(message);
        },
      });
      const summary = await cache.run();
      expect(summary.downloaded).toEqual([id]);
      // The hooks' failures are only logged by the cache: none, and the image is in Glance.
      expect(problems).toEqual([]);
      // Raw bytes converted to the one format the site takes (qcow2): the list's sha512 kept as the version.
      const images = await glanceImages(tag);
      expect(images).toMatchObject([
        {
          status: 'active',
          disk_format: 'qcow2',
          vmcatcher_event_sl_checksum_sha512: sha512(data),
          vmcatcher_source_format: 'raw',
          vmcatcher_event_dc_identifier: id,
        },
      ]);
      expect(images[0].os_hash_value).toBe(images[0].vmcatcher_converted_sha512);
      expect(files(scratch)).toEqual([]);
    } finally {
      await glance.close();
      cacheObjects.close();
      await store.close();
      await server.close();
    }
  });

  it('reads the s3 section of the configuration', async () => {
    const c = await parseConnectorConfig(
      {
        cache_dir: 's3://vmcatcher/site-a',
        s3: {
          endpoint: 'https://s3.example.org',
          region: 'eu-1',
          force_path_style: true,
          ca_bundle: 'ca.pem',
        },
      },
      '/etc/vmcatcher',
    );
    expect(c.cacheDir).toBe('s3://vmcatcher/site-a');
    expect(c.s3).toEqual({
      endpoint: 'https://s3.example.org',
      region: 'eu-1',
      forcePathStyle: true,
      caBundle: '/etc/vmcatcher/ca.pem',
    });
    for (const s3 of [[], 'x', { secret_access_key: 'k' }, { force_path_style: 'yes' }, { endpoint: '' }])
      expect((await failure(parseConnectorConfig({ s3 }))).code).toBe('ERR_GLANCE_CONFIG');
  });
});
