// The examples in /examples must keep working: run each against a real cache run.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@hepix/imagelist-store';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runConnector } from '../../../examples/connector-hooks/connector.js';
import { createImageCache } from '../src/index.js';
import { type ImageServer, makePki, startImageServer, type TestPki as Pki } from '@hepix/test-support';
import { imageData, prepareStore, publish, sha512, type TestImage } from './helpers.js';

const examples = new URL('../../../examples/', import.meta.url).pathname;
const SUB = 'e1e1e1e1-0000-4000-8000-000000000000';
let root: string;
let pki: Pki;
let server: ImageServer;
let store: Store | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-examples-'));
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
});
afterEach(async () => {
  await store?.close();
  store = undefined;
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

function image(identifier: string, size: number): TestImage {
  const data = imageData(size);
  const path = `/${randomUUID()}.img`;
  server.images.set(path, { data });
  return { identifier, data, uri: `${server.url}${path}` };
}

describe('examples', () => {
  it('openstack-handler imports into the fake glance and deletes on expiry', async () => {
    const work = await mkdtemp(join(root, 'glance-'));
    const [a, b] = ['e1e1e1e1-0000-4000-8000-00000000000a', 'e1e1e1e1-0000-4000-8000-00000000000b'];
    const imgs = [image(a, 20_000), image(b, 30_000)];
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a, b]);
    await publish(store, pki, work, SUB, imgs, { vo: 'dteam' });
    const glanceDir = join(work, 'glance');
    const cache = createImageCache({
      store,
      dirs: { cache: join(work, 'cache') },
      eventCommand: join(examples, 'openstack-handler/vmcatcher-glance-handler.sh'),
      eventEnv: {
        PATH: process.env.PATH,
        GLANCE: join(examples, 'openstack-handler/fake-glance'),
        FAKE_GLANCE_DIR: glanceDir,
      },
    });
    const first = await cache.run();
    expect(first.downloaded.sort()).toEqual([a, b]);
    expect((await store.subscriber.listFailedEvents()).map((f) => f.error)).toEqual([]);
    expect((await readdir(glanceDir)).sort()).toEqual([
      `${a}.img`,
      `${a}.properties`,
      `${b}.img`,
      `${b}.properties`,
    ]);
    expect(sha512(await readFile(join(glanceDir, `${b}.img`)))).toBe(sha512(imgs[1].data));
    expect(await readFile(join(glanceDir, `${a}.properties`), 'utf8')).toBe(
      `name=title of ${a}\nvmcatcher_identifier=${a}\nvmcatcher_sha512=${sha512(imgs[0].data)}\nvmcatcher_vo=dteam\n`,
    );
    await publish(store, pki, work, SUB, [imgs[0]]);
    const second = await cache.run();
    expect(second.expired).toEqual([b]);
    expect((await readdir(glanceDir)).sort()).toEqual([`${a}.img`, `${a}.properties`]);
  });

  it('connector-hooks publishes, vetoes an expiry while in use, then withdraws', async () => {
    const work = await mkdtemp(join(root, 'connector-'));
    const a = 'e1e1e1e1-0000-4000-8000-0000000000c1';
    const img = image(a, 25_000);
    store = await prepareStore(join(work, 'db.sqlite'), SUB, [a]);
    await publish(store, pki, work, SUB, [img]);
    const catalogue = join(work, 'catalogue');
    let busy = true;
    const messages: string[] = [];
    const options = { catalogue, inUse: () => busy, log: (m: string) => messages.push(m) };
    const cacheOptions = { store, dirs: { cache: join(work, 'cache') } };
    expect((await runConnector(cacheOptions, options)).downloaded).toEqual([a]);
    const entries = JSON.parse(await readFile(join(catalogue, 'catalogue.json'), 'utf8'));
    expect(entries[a]).toMatchObject({ identifier: a, format: 'raw', sha512: sha512(img.data) });
    await store.subscriber.setImageCache(a, false);
    const vetoed = await runConnector(cacheOptions, options);
    expect(vetoed.vetoed).toEqual([{ identifier: a, step: 'expire' }]);
    expect(Object.keys(JSON.parse(await readFile(join(catalogue, 'catalogue.json'), 'utf8')))).toEqual([a]);
    busy = false;
    expect((await runConnector(cacheOptions, options)).expired).toEqual([a]);
    expect(JSON.parse(await readFile(join(catalogue, 'catalogue.json'), 'utf8'))).toEqual({});
    expect(messages).toContain(`published ${a}`);
    expect(messages).toContain(`withdrew ${a} (not-endorsed)`);
  });
});
