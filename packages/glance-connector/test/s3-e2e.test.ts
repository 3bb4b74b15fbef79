// An s3:// cache feeding Glance, with the built bins as a site runs them: `vmcatcher_cache --cache-url s3://…
// -x vmcatcher-glance` against the real S3 API of scripts/start-swift.sh (OpenStack Swift's s3api) and the real
// glance-api of scripts/start-glance.sh. The connector copies the object named by the event, checks its size and
// sha512 before Glance sees anything, ingests and uploads it; a tampered or truncated object is refused with
// ERR_GLANCE_CACHE_INTEGRITY and nothing in Glance; sync reads the bucket's cache index; an expiry needs no bytes.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createObjectStore, type ObjectStore } from '@hepix/object-store';
import {
  makeListJson,
  makePki,
  signWithOpenssl,
  startHttpServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { env, files, glanceImages, qcow2From, rawDisk, sha512File, tempDir, uniqueTag } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cliDist = join(root, 'packages/vmcatcher-cli/dist/bin');
const glanceBin = join(root, 'packages/glance-connector/dist/bin/vmcatcher-glance.js');
const SUB = 'e2e0e2e0-5353-4b4b-8c8c-000000000001';
const IMAGE = 'e2e0e2e0-5353-4b4b-8c8c-0000000000a1';
const OTHER = 'e2e0e2e0-5353-4b4b-8c8c-0000000000b2';
const QUEUED = 'e2e0e2e0-5353-4b4b-8c8c-0000000000c3';
const consumerExample = join(root, 'examples/event-queue/consumer.mjs');

let dir: string;
let bin: string;
let pki: TestPki;
let server: TestServer;
let tag: string;
let cacheUrl: string;
let objects: ObjectStore;
let listVersion = 0;
const base = Date.now() - 24 * 3600_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The AWS_* variables a site sets for its S3 server (here Swift's s3api on loopback). */
function awsEnv(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: env('TEST_S3_ENDPOINT'),
    AWS_ACCESS_KEY_ID: env('TEST_S3_ACCESS_KEY'),
    AWS_SECRET_ACCESS_KEY: env('TEST_S3_SECRET_KEY'),
    AWS_REGION: env('TEST_S3_REGION'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

function siteEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir,
    VMCATCHER_RDBMS: `sqlite:///${join(dir, 'vmcatcher.db')}`,
    VMCATCHER_DIR_CERT: pki.certDir,
    VMCATCHER_CACHE_URL: cacheUrl,
    VMCATCHER_CACHE_DIR_DOWNLOAD: join(dir, 'partial'),
    VMCATCHER_CACHE_EVENT_TIMEOUT: '120',
    VMCATCHER_GLANCE_CONFIG: join(dir, 'glance.yaml'),
    OS_AUTH_TYPE: 'none',
    OS_IMAGE_URL: env('TEST_GLANCE_URL'),
    ...awsEnv(),
    ...extra,
  };
}

function sh(cmd: string, args: string[], extra: Record<string, string> = {}, input?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: siteEnv(extra), cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function ok(cmd: string, args: string[], extra: Record<string, string> = {}): Promise<Ran> {
  const r = await sh(cmd, args, extra);
  expect(r.code, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

/** Signs and serves the next version of the list with these images. */
function publish(images: { id: string; path: string; format: string }[]): void {
  listVersion++;
  for (const i of images) server.serve(`/images/${i.id}-${listVersion}`, readFileSync(i.path));
  const json = makeListJson({
    identifier: SUB,
    version: `1.${listVersion}`,
    created: new Date(base + listVersion * 60_000),
    expires: new Date(Date.now() + 365 * 24 * 3600_000),
    uri: `${server.url}/list.smime`,
    dn: pki.endorser.subject,
    ca: pki.endorser.issuer,
    images: images.map((i) => ({
      identifier: i.id,
      sha512: sha512File(i.path),
      size: readFileSync(i.path).length,
      uri: `${server.url}/images/${i.id}-${listVersion}`,
      version: '1',
      format: i.format,
    })),
  });
  server.serve('/list.smime', signWithOpenssl(json, pki.endorser, dir));
}

/** The events the cache fired (its event command keeps a copy of each JSON before the connector reads it). */
function events(): { type: string; metadata: Record<string, unknown>; dirs: Record<string, string> }[] {
  let text = '';
  try {
    text = readFileSync(join(dir, 'events.jsonl'), 'utf8');
  } catch {}
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function availableEvent(id: string): string {
  const e = events().findLast((x) => x.type === 'AvailablePostfix' && x.metadata['dc:identifier'] === id);
  if (!e) throw new Error(`no AvailablePostfix for ${id}`);
  return JSON.stringify(e);
}

/** The object's key under the cache prefix, from the event's cache URL. */
function keyOf(url: unknown): string {
  const prefix = `${cacheUrl}/`;
  expect(String(url).startsWith(prefix)).toBe(true);
  return String(url).slice(prefix.length);
}

async function bytes(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await objects.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function overwrite(key: string, data: Buffer): Promise<void> {
  await objects.putStream(key, Readable.from([data]), { size: data.length });
}

const TEE = () => `tee -a '${join(dir, 'events.jsonl')}'`;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = tempDir('hepix-glance-s3-');
  bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const name of ['vmcatcher_endorser', 'vmcatcher_subscribe', 'vmcatcher_image', 'vmcatcher_cache']) {
    chmodSync(join(cliDist, `${name}.js`), 0o755);
    symlinkSync(join(cliDist, `${name}.js`), join(bin, name));
  }
  chmodSync(glanceBin, 0o755);
  symlinkSync(glanceBin, join(bin, 'vmcatcher-glance'));
  pki = makePki(join(dir, 'pki'));
  server = await startHttpServer();
  tag = uniqueTag();
  cacheUrl = `s3://vmc-${randomUUID().slice(0, 18)}/site-a`;
  objects = createObjectStore({ url: cacheUrl, env: awsEnv() });
  writeFileSync(
    join(dir, 'glance.yaml'),
    [
      `tag: ${tag}`,
      `scratch_dir: ${join(dir, 'scratch')}`,
      'formats: [qcow2, raw]',
      'max_virtual_size: 1G',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'scratch'));
  mkdirSync(join(dir, 'partial'));
});
afterAll(async () => {
  objects?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('vmcatcher_cache --cache-url s3:// -x vmcatcher-glance', () => {
  it('imports from the bucket, refuses a tampered object, syncs from the bucket and expires', {
    timeout: 600_000,
  }, async () => {
    const v1 = qcow2From(rawDisk(join(dir, 'a.raw'), 2 << 20), join(dir, 'a.qcow2'));
    publish([{ id: IMAGE, path: v1, format: 'QCOW2' }]);
    await ok('vmcatcher_endorser', [
      '--create',
      '--endorser_uuid',
      'e2e',
      '--subject',
      pki.endorser.subject,
      '--issuer',
      pki.endorser.issuer,
    ]);
    await ok('vmcatcher_subscribe', ['-s', `${server.url}/list.smime`]);
    await ok('vmcatcher_subscribe', ['-U']);
    await ok('vmcatcher_image', ['-a', '-u', IMAGE]);
    await ok('vmcatcher_subscribe', ['-u', SUB, '--imagelist-newimage-subscribe']);

    // 1. The cache run puts the image into the bucket; its event names the object; the connector imports it.
    const first = await ok('vmcatcher_cache', ['--json', '-x', `${TEE()} | vmcatcher-glance`]);
    expect(JSON.parse(first.stdout)).toMatchObject({ downloaded: [IMAGE], eventFailures: [] });
    const ev = JSON.parse(availableEvent(IMAGE));
    expect(ev.dirs.cache).toBe(cacheUrl);
    const key = keyOf(ev.metadata['vmcatcher:cache.url']);
    expect(key).toBe(`sha512/${sha512File(v1).slice(0, 2)}/${sha512File(v1)}`);
    expect(events().map((e) => e.type)).toContain('ProcessPostfix'); // the metadata refresh read the bucket
    let images = await glanceImages(tag);
    expect(images).toHaveLength(1);
    const a = images[0];
    expect(a).toMatchObject({
      status: 'active',
      disk_format: 'qcow2',
      os_hash_algo: 'sha512',
      os_hash_value: sha512File(v1),
      size: readFileSync(v1).length,
      vmcatcher_event_dc_identifier: IMAGE,
      vmcatcher_event_il_dc_identifier: SUB,
      vmcatcher_event_sl_checksum_sha512: sha512File(v1),
      vmcatcher_event_hv_size: String(readFileSync(v1).length),
      vmcatcher_source_format: 'qcow2',
    });
    expect(files(join(dir, 'scratch'))).toEqual([]); // the copy of the object is gone
    expect(files(join(dir, 'partial'))).toEqual(['cache.index']); // nothing of the image stays local

    // 2. A second image, cached but not yet given to Glance (the event command only records the event).
    const v2 = qcow2From(rawDisk(join(dir, 'b.raw'), 3 << 20), join(dir, 'b.qcow2'));
    publish([
      { id: IMAGE, path: v1, format: 'QCOW2' },
      { id: OTHER, path: v2, format: 'QCOW2' },
    ]);
    await ok('vmcatcher_subscribe', ['-U']);
    await ok('vmcatcher_cache', ['-x', TEE()]);
    const otherEvent = availableEvent(OTHER);
    const otherKey = keyOf(JSON.parse(otherEvent).metadata['vmcatcher:cache.url']);
    const good = await bytes(otherKey);
    expect(good.equals(readFileSync(v2))).toBe(true);

    // 3. Someone overwrites the object with other bytes of the same size: refused before Glance sees anything.
    const forged = Buffer.from(good);
    forged[forged.length - 1] ^= 0xff;
    await overwrite(otherKey, forged);
    const tampered = await sh(
      'vmcatcher-glance',
      [],
      { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' },
      otherEvent,
    );
    expect(tampered.code, tampered.stderr).toBe(36);
    expect(tampered.stderr).toMatch(/^vmcatcher-glance: ERR_GLANCE_CACHE_INTEGRITY: .* has sha512 /m);
    expect((await glanceImages(tag)).map((i) => [i.id, i.status])).toEqual([[a.id, 'active']]);
    expect(files(join(dir, 'scratch'))).toEqual([]);
    expect((await bytes(otherKey)).equals(forged)).toBe(true); // the connector only reads the bucket

    // 4. A truncated object: the size is wrong (same code, the size named).
    await overwrite(otherKey, good.subarray(0, good.length - 4096));
    const truncated = await sh(
      'vmcatcher-glance',
      [],
      { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' },
      otherEvent,
    );
    expect(truncated.code, truncated.stderr).toBe(36);
    expect(truncated.stderr).toMatch(/ERR_GLANCE_CACHE_INTEGRITY: .* has size \d+, the event states /);
    expect((await glanceImages(tag)).map((i) => i.id)).toEqual([a.id]);

    // 5. A longer object is refused as soon as it passes the stated size.
    await overwrite(otherKey, Buffer.concat([good, Buffer.alloc(1 << 20)]));
    const longer = await sh('vmcatcher-glance', [], { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' }, otherEvent);
    expect(longer.code, longer.stderr).toBe(36);
    expect((await glanceImages(tag)).map((i) => i.id)).toEqual([a.id]);

    // 6. A missing object: ERR_GLANCE_IMAGE_MISSING (exit 8), nothing in Glance.
    await objects.delete(otherKey);
    const missing = await sh(
      'vmcatcher-glance',
      [],
      { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' },
      otherEvent,
    );
    expect(missing.code, missing.stderr).toBe(8);
    expect(missing.stderr).toMatch(/ERR_GLANCE_IMAGE_MISSING/);
    expect((await glanceImages(tag)).map((i) => i.id)).toEqual([a.id]);

    // 7. The right bytes back: sync reads the bucket's cache index and uploads the missing image from it.
    await overwrite(otherKey, good);
    const dry = await ok('vmcatcher-glance', ['sync', '--dry-run', '-C', cacheUrl]);
    // (The first image's metadata changed with the list of step 2, whose refresh only went to tee.)
    expect(dry.stdout.split('\n').filter((l) => l.includes(OTHER))).toEqual([
      expect.stringMatching(new RegExp(`^plan\tupload ${OTHER} \\(sha512 ${sha512File(v2).slice(0, 16)}`)),
    ]);
    expect((await glanceImages(tag)).map((i) => i.id)).toEqual([a.id]);
    const synced = await ok('vmcatcher-glance', ['sync', '-C', cacheUrl]);
    expect(synced.stdout).toMatch(new RegExp(`^done\tupload ${OTHER} .* → `, 'm'));
    expect((await ok('vmcatcher-glance', ['sync', '--dry-run', '-C', cacheUrl])).stdout).toBe('');
    images = await glanceImages(tag);
    const b = images.find((i) => i.vmcatcher_event_dc_identifier === OTHER);
    expect(b).toMatchObject({ status: 'active', os_hash_value: sha512File(v2), disk_format: 'qcow2' });
    expect(images).toHaveLength(2);
    expect(files(join(dir, 'scratch'))).toEqual([]);
    // The same event delivered again: nothing changes.
    const again = await sh('vmcatcher-glance', [], { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' }, otherEvent);
    expect(again.code, again.stderr).toBe(0);
    expect((await glanceImages(tag)).map((i) => i.id).sort()).toEqual([a.id, b?.id].sort());

    // 8. The list drops the first image: the cache moves its bytes to expired/, the ExpirePostfix (no bytes
    //    needed) removes it from Glance.
    publish([{ id: OTHER, path: v2, format: 'QCOW2' }]);
    await ok('vmcatcher_subscribe', ['-U']);
    const expired = await ok('vmcatcher_cache', ['--json', '-x', `${TEE()} | vmcatcher-glance`]);
    expect(JSON.parse(expired.stdout)).toMatchObject({ expired: [IMAGE], eventFailures: [] });
    const expiry = events().findLast((e) => e.type === 'ExpirePostfix');
    expect(expiry?.metadata['dc:identifier']).toBe(IMAGE);
    expect((await glanceImages(tag)).map((i) => i.vmcatcher_event_dc_identifier)).toEqual([OTHER]);
  });

  // Runs after the test above, on the same site (its list, store, bucket and Glance images).
  it('takes the s3 events from RabbitMQ through examples/event-queue into Glance, uploads and expiries', {
    timeout: 600_000,
  }, async () => {
    const amqp = env('TEST_AMQP_URL');
    const queue = `glance-s3-${randomUUID().slice(0, 8)}`;
    const v2 = join(dir, 'b.qcow2');
    const v3 = qcow2From(rawDisk(join(dir, 'c.raw'), 1 << 20), join(dir, 'c.qcow2'));
    publish([
      { id: OTHER, path: v2, format: 'QCOW2' },
      { id: QUEUED, path: v3, format: 'QCOW2' },
    ]);
    await ok('vmcatcher_subscribe', ['-U']);
    // The cache only publishes (no event command); the queue keeps the events until the consumer comes.
    const cached = await ok('vmcatcher_cache', ['--json', '--events', amqp, '--events-queue', queue]);
    expect(JSON.parse(cached.stdout)).toMatchObject({ downloaded: [QUEUED], eventFailures: [] });

    const consumer: ChildProcess = spawn(
      process.execPath,
      [consumerExample, '--url', amqp, '--queue', queue, '--retry-delay', '200', '--', 'vmcatcher-glance'],
      { env: siteEnv({}), cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    consumer.stdout?.on('data', (d) => (out += d));
    consumer.stderr?.on('data', (d) => (out += d));
    const until = async (check: () => Promise<boolean>) => {
      // Polls; the test's own timeout bounds it.
      while (!(await check())) {
        expect(consumer.exitCode, out).toBe(null);
        expect(out).not.toMatch(/FAILED|ERR_GLANCE/); // a failing event would be retried for ever
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    try {
      await until(async () =>
        (await glanceImages(tag)).some(
          (i) => i.vmcatcher_event_dc_identifier === QUEUED && i.status === 'active',
        ),
      );
      const c = (await glanceImages(tag)).find((i) => i.vmcatcher_event_dc_identifier === QUEUED);
      expect(c).toMatchObject({ os_hash_value: sha512File(v3), disk_format: 'qcow2' });
      expect(out).not.toMatch(/FAILED|ERR_GLANCE/);

      // The list drops OTHER: its ExpirePostfix comes through the queue and needs no bytes.
      publish([{ id: QUEUED, path: v3, format: 'QCOW2' }]);
      await ok('vmcatcher_subscribe', ['-U']);
      const expired = await ok('vmcatcher_cache', ['--json', '--events', amqp, '--events-queue', queue]);
      expect(JSON.parse(expired.stdout)).toMatchObject({ expired: [OTHER], eventFailures: [] });
      await until(async () =>
        (await glanceImages(tag)).every((i) => i.vmcatcher_event_dc_identifier !== OTHER),
      );
      expect((await glanceImages(tag)).map((i) => i.vmcatcher_event_dc_identifier)).toEqual([QUEUED]);
      expect(out).not.toMatch(/FAILED|ERR_GLANCE/);
      expect(files(join(dir, 'scratch'))).toEqual([]);
    } finally {
      // SIGTERM lets the event in progress finish; one that hangs must not hide the failure above.
      if (consumer.exitCode === null) {
        const exited = new Promise((r) => consumer.once('exit', r));
        consumer.kill('SIGTERM');
        const stuck = setTimeout(() => consumer.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(stuck);
      }
    }
  });
});
