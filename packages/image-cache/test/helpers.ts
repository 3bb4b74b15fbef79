// Test fixtures for the cache: a real image server on 127.0.0.1, a throwaway PKI and lists signed with the
// openssl CLI, and a real store (SQLite) prepared through the store API.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openStore, type Store } from '@hepix/imagelist-store';

const run = promisify(execFile);
const repoRoot = new URL('../../../', import.meta.url).pathname;

export interface ServedImage {
  data: Buffer;
  /** Serve these bytes instead (corruption). */
  body?: Buffer;
  /** Close the connection after this many body bytes, for the next `dropTimes` requests. */
  dropAfter?: number;
  dropTimes?: number;
  /** Bytes per second (throttles the response, for kill tests). */
  rate?: number;
}

export interface ImageServer {
  url: string;
  images: Map<string, ServedImage>;
  /** Honour `Range` requests (switchable). */
  range: boolean;
  requests: { path: string; range?: string; status: number }[];
  /** path → Location of a 302 answer. */
  redirects: Map<string, string>;
  close(): Promise<void>;
}

export async function startImageServer(tls?: { cert: Buffer; key: Buffer }): Promise<ImageServer> {
  const state: ImageServer = {
    url: '',
    images: new Map(),
    range: true,
    requests: [],
    redirects: new Map(),
    close: async () => {},
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const location = state.redirects.get(path);
    if (location) {
      res.statusCode = 302;
      res.setHeader('location', location);
      res.end();
      state.requests.push({ path, status: 302 });
      return;
    }
    const image = state.images.get(path);
    if (!image) {
      res.statusCode = 404;
      res.end();
      state.requests.push({ path, status: 404 });
      return;
    }
    const body = image.body ?? image.data;
    let start = 0;
    const range = req.headers.range;
    if (state.range) res.setHeader('accept-ranges', 'bytes');
    if (range && state.range) {
      const m = /^bytes=(\d+)-$/.exec(range);
      start = m ? Number(m[1]) : 0;
      if (start >= body.length) {
        res.statusCode = 416;
        res.setHeader('content-range', `bytes */${body.length}`);
        res.end();
        state.requests.push({ path, range, status: 416 });
        return;
      }
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    } else {
      res.statusCode = 200;
    }
    state.requests.push({ path, ...(range ? { range } : {}), status: res.statusCode });
    const rest = body.subarray(start);
    res.setHeader('content-length', rest.length);
    const drop = image.dropAfter !== undefined && (image.dropTimes ?? 1) > 0;
    if (drop) image.dropTimes = (image.dropTimes ?? 1) - 1;
    const limit = drop ? Math.min(image.dropAfter!, rest.length) : rest.length;
    const chunk = 64 * 1024;
    let sent = 0;
    const pump = () => {
      while (sent < limit) {
        const piece = rest.subarray(sent, Math.min(limit, sent + chunk));
        sent += piece.length;
        const more = res.write(piece);
        if (image.rate) {
          setTimeout(pump, (piece.length / image.rate) * 1000);
          return;
        }
        if (!more) {
          res.once('drain', pump);
          return;
        }
      }
      // Drop only once the bytes sent so far have left, so the client really has them.
      if (drop && limit < rest.length) res.write('', () => res.socket?.destroy());
      else res.end();
    };
    pump();
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

export interface Pki {
  dir: string;
  cert: string;
  key: string;
}

export async function makePki(dir: string): Promise<Pki> {
  await run('bash', [join(repoRoot, 'scripts/make-test-pki.sh'), dir]);
  return { dir, cert: join(dir, 'endorser/usercert.pem'), key: join(dir, 'endorser/userkey.pem') };
}

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
  pki: Pki,
  work: string,
  subscription: string,
  images: TestImage[],
  options: { created?: Date; expires?: Date; vo?: string } = {},
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
  };
  const doc = { 'hv:imagelist': { ...listMeta, 'hv:images': hvImages } };
  const jsonPath = join(work, `list-${listCounter}.json`);
  const smimePath = join(work, `list-${listCounter}.smime`);
  await writeFile(jsonPath, JSON.stringify(doc, null, 2));
  await run('openssl', [
    'smime',
    '-sign',
    '-signer',
    pki.cert,
    '-inkey',
    pki.key,
    '-in',
    jsonPath,
    '-out',
    smimePath,
  ]);
  const data = await readFile(smimePath);
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
    images: imageIds.map((identifier) => ({ identifier, cache: true })),
  });
  await store.subscriber.updateSubscription(subscription, { authorised: true });
  return store;
}
