// Test fixtures for the cache that need the store: lists signed with the openssl CLI (through
// @hepix/test-support) and recorded in a real store (SQLite or PostgreSQL) through the store API.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import { type ImageServer, makePki, signList, startImageServer, type TestPki } from '@hepix/test-support';
import { afterAll, beforeAll, beforeEach } from 'vitest';

export const SIGNER = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
  issuer: '/C=DE/O=GermanGrid/CN=Test CA',
};

export interface TestImage {
  identifier: string;
  data: Buffer;
  /** Defaults to the data's size and sha512. */
  size?: number;
  sha512?: string;
  uri: string;
  extra?: Record<string, unknown>;
}

export function imageData(size: number): Buffer {
  return randomBytes(size);
}

export function sha512(data: Buffer): string {
  return createHash('sha512').update(data).digest('hex');
}

let listCounter = 0;

/** Signs a list with the openssl CLI and records it through the store API, as vmcatcher_subscribe would. */
export async function publish(
  store: Store,
  pki: TestPki,
  work: string,
  subscription: string,
  images: TestImage[],
  options: { created?: Date; expires?: Date; vo?: string; listExtra?: Record<string, unknown> } = {},
): Promise<void> {
  const created = options.created ?? new Date('2026-01-01T00:00:00Z');
  const expires = options.expires ?? new Date('2099-01-01T00:00:00Z');
  const version = `1.${++listCounter}`;
  const hvImages = images.map((i) => ({
    'hv:image': {
      'dc:identifier': i.identifier,
      'dc:title': `title of ${i.identifier}`,
      'dc:description': 'a test image',
      'hv:uri': i.uri,
      'hv:size': i.size ?? i.data.length,
      'sl:checksum:sha512': i.sha512 ?? sha512(i.data),
      'hv:hypervisor': 'kvm',
      'hv:version': '1',
      'sl:arch': 'x86_64',
      'sl:os': 'Linux',
      'sl:osversion': 'Test 1',
      'sl:comments': '',
      'hv:format': 'raw',
      'ad:mpuri': `https://mp.example/${i.identifier}`,
      ...i.extra,
    },
  }));
  const listMeta: Record<string, unknown> = {
    'dc:identifier': subscription,
    'dc:title': 'test list',
    'dc:description': 'test',
    'dc:date:created': created.toISOString().replace('.000', ''),
    'dc:date:expires': expires.toISOString().replace('.000', ''),
    'hv:version': version,
    'hv:uri': `http://127.0.0.1/${subscription}`,
    ...(options.vo ? { 'ad:vo': options.vo } : {}),
    ...options.listExtra,
  };
  const doc = { 'hv:imagelist': { ...listMeta, 'hv:images': hvImages } };
  // Both files stay in `work` for inspection after a failure.
  const json = JSON.stringify(doc, null, 2);
  await writeFile(join(work, `list-${listCounter}.json`), json);
  const data = signList(json, pki.endorser);
  await writeFile(join(work, `list-${listCounter}.smime`), data);
  await store.subscriber.recordImageList(subscription, {
    data: new Uint8Array(data),
    dataHash: sha512(data),
    created,
    expires,
    version,
    signer: SIGNER,
    metadata: listMeta,
    images: hvImages.map(({ 'hv:image': img }) => ({
      identifier: String(img['dc:identifier']),
      title: String(img['dc:title']),
      description: String(img['dc:description']),
      hypervisor: String(img['hv:hypervisor']),
      sha512: String(img['sl:checksum:sha512']),
      uri: String(img['hv:uri']),
      os: String(img['sl:os']),
      osversion: String(img['sl:osversion']),
      arch: String(img['sl:arch']),
      version: String(img['hv:version']),
      size: Number(img['hv:size']),
      comments: String(img['sl:comments']),
      format: String(img['hv:format']),
      image: img,
    })),
  });
}

/** A store with one authorised subscription whose images are all subscribed for caching. */
export async function prepareStore(
  dbPath: string,
  subscription: string,
  imageIds: string[],
  listUri = 'http://127.0.0.1/list',
): Promise<Store> {
  return prepareStoreAt(`sqlite:///${dbPath}`, subscription, imageIds, listUri);
}

/** Same as prepareStore, for any store URL (PostgreSQL included). */
export async function prepareStoreAt(
  url: string,
  subscription: string,
  imageIds: string[],
  listUri = 'http://127.0.0.1/list',
): Promise<Store> {
  const store = await openStore(url);
  await store.subscriber.createEndorser('endorser-1', [SIGNER]);
  await store.subscriber.createSubscription({
    identifier: subscription,
    description: 'test subscription',
    uri: listUri,
    endorser: 'endorser-1',
    updateMode: 3,
    // What vmcatcher_subscribe gives a new subscription: its servers (lists and images) verified against the
    // system roots.
    trustAnchor: 'browser',
    images: imageIds.map((identifier) => ({ identifier, cache: true })),
  });
  await store.subscriber.updateSubscription(subscription, { authorised: true });
  return store;
}

/**
 * What most cache tests of a file share: a temporary root with a test PKI and an image server (once per file),
 * and a fresh `work` directory below the root for each test, with the server's images cleared. Read the fields
 * inside tests and hooks, after beforeAll.
 */
export function cacheFixture(prefix: string) {
  const f = {} as { root: string; work: string; pki: TestPki; server: ImageServer };
  beforeAll(async () => {
    f.root = await mkdtemp(join(tmpdir(), prefix));
    f.pki = await makePki(join(f.root, 'pki'));
    f.server = await startImageServer();
  });
  afterAll(async () => {
    await f.server?.close();
    if (f.root) await rm(f.root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    f.work = await mkdtemp(join(f.root, 'case-'));
    f.server.images.clear();
  });
  return {
    get root() {
      return f.root;
    },
    get work() {
      return f.work;
    },
    get pki() {
      return f.pki;
    },
    get server() {
      return f.server;
    },
    /** An image of `size` bytes served at a new path. */
    image(identifier: string, size = 40_000): TestImage {
      const data = imageData(size);
      const path = `/images/${randomUUID()}.img`;
      f.server.images.set(path, { data });
      return { identifier, data, uri: `${f.server.url}${path}` };
    },
  };
}
