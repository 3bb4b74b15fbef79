// Databases made with the original DDL (legacy-fixtures.ts) imported into a new store.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  importLegacyDb,
  importLegacyVmcasterDb,
  importLegacyVmcatcherDb,
  openStore,
  type Store,
} from '../src/index.js';
import { type DialectName, dialects, expectCode, freshStore, tempDir } from './helpers.js';
import {
  APPDB,
  DESY,
  DN,
  type Legacy,
  legacyDatabase,
  VMCASTER_DDL,
  VMCATCHER_DDL,
  vmcasterDb,
  vmcatcherDb,
} from './legacy-fixtures.js';

const cleanups: (() => Promise<unknown>)[] = [];
const track = (db: Legacy): Legacy => {
  cleanups.push(() => db.dispose());
  return db;
};
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function target(dialect: DialectName): Promise<Store> {
  const t = await freshStore(dialect, { now: () => new Date('2026-01-01T00:00:00Z') });
  cleanups.push(() => t.dispose());
  return t.store;
}

describe.each(dialects())('legacy vmcatcher import on %s', (dialect) => {
  it('imports endorsers, principals by their endorser column, subscriptions, credentials, lists and images', async () => {
    const db = track(await vmcatcherDb(dialect));
    const store = await target(dialect);
    const r = await importLegacyVmcatcherDb(db.url, store);
    expect(r).toMatchObject({
      endorsers: 2,
      principals: 2,
      subscriptions: 2,
      links: 2,
      imageLists: 2,
      imageDefinitions: 3,
      imageInstances: 3,
    });
    expect(r.warnings.join('\n')).toContain('/CN=orphan');
    expect(r.warnings.join('\n')).toContain('img-orphan');
    const s = store.subscriber;
    expect(await s.listEndorsers()).toEqual([
      { identifier: 'appdb', principals: [APPDB] },
      { identifier: 'desy', principals: [DESY] },
    ]);
    expect(await s.listLinks()).toEqual([
      { endorser: 'appdb', subscription: 'sub-B', authorised: false },
      { endorser: 'desy', subscription: 'sub-A', authorised: true },
    ]);
    expect(await s.isAuthorised('sub-A', DESY)).toBe(true);
    expect(await s.isAuthorised('sub-A', APPDB)).toBe(false);

    const a = await s.getSubscription('sub-A');
    expect(a).toMatchObject({
      identifier: 'sub-A',
      description: 'DESY images',
      uri: 'https://example.org/desy.smime',
      authorised: true,
      trustAnchor: 'igtf',
      updateMode: 3,
      hasUsername: true,
      hasPassword: true,
      updated: new Date('2018-10-09T12:34:56.123Z'),
    });
    expect(a?.latest).toMatchObject({
      version: '2',
      signer: DESY,
      expires: new Date('2099-01-01T00:00:00Z'),
    });
    expect(await s.getCredentials('sub-A')).toEqual({ username: 'TOKEN', password: 'x-oauth-basic' });
    expect(await s.getSubscription('sub-B')).toMatchObject({
      authorised: false,
      trustAnchor: 'none',
      updateMode: 0,
      hasUsername: false,
    });
    expect((await s.getSubscription('sub-B'))?.latest).toBeUndefined();

    const latest = await s.getLatestImageList('sub-A');
    expect(latest?.metadata['ad:vo']).toBe('dteam');
    expect(latest?.metadata['hv:images']).toBeUndefined();
    expect(createHash('sha512').update(latest!.data).digest('hex')).toBe(latest?.dataHash);

    const images = await s.listImages();
    expect(images.map((i) => [i.identifier, i.subscription, i.state])).toEqual([
      ['img-1', 'sub-A', 3],
      ['img-2', 'sub-A', 0],
      ['img-3', 'sub-B', 0],
    ]);
    expect(images[0].latest).toMatchObject({ version: '2', format: 'OVA', size: 1234, arch: 'x86_64' });
    expect(images[0].latest?.image['ad:mpuri']).toBe('https://appdb.egi.eu/mp/img-1:2/');
    // The older list was marked expired by vmcatcher; its instance is kept, with its own list.
    expect(images[1].latest?.version).toBe('1');
    expect(images[2].latest).toBeUndefined();
    const candidates = await s.listCacheCandidates();
    expect(candidates.map((c) => [c.identifier, c.list.version])).toEqual([['img-1', '2']]);
    expect(
      (await s.findImagesBySha512(createHash('sha512').update('img-11').digest('hex'))).map(
        (i) => i.identifier,
      ),
    ).toEqual(['img-1']);
  });

  it('rolls back everything when the target already holds a subscription', async () => {
    const db = track(await vmcatcherDb(dialect));
    const store = await target(dialect);
    await store.subscriber.createSubscription({
      identifier: 'sub-B',
      description: 'mine',
      uri: 'file:///mine',
    });
    await expectCode(importLegacyVmcatcherDb(db.url, store), 'ERR_STORE_CONFLICT');
    expect(await store.subscriber.listEndorsers()).toEqual([]);
    expect((await store.subscriber.listSubscriptions()).map((x) => x.identifier)).toEqual(['sub-B']);
  });

  it("with replace, the target's subscriber side gives way to the original's (its publisher side stays)", async () => {
    const db = track(await vmcatcherDb(dialect));
    const store = await target(dialect);
    await store.subscriber.createSubscription({
      identifier: 'sub-B',
      description: 'mine',
      uri: 'file:///mine',
    });
    await store.subscriber.createEndorser('mine', [{ subject: '/CN=mine', issuer: '/CN=CA' }]);
    await store.publisher.addImageList('published');
    const r = await importLegacyVmcatcherDb(db.url, store, { replace: true });
    expect(r.subscriptions).toBe(2);
    expect((await store.subscriber.listSubscriptions()).map((x) => [x.identifier, x.description])).toEqual([
      ['sub-A', 'DESY images'],
      ['sub-B', 'AppDB VO list'],
    ]);
    expect((await store.subscriber.listEndorsers()).map((e) => e.identifier)).toEqual(['appdb', 'desy']);
    expect(await store.publisher.listImageLists()).toEqual(['published']);
  });

  it('imports a long history of stored lists (read in batches), each with its own instances', async () => {
    const db = track(await legacyDatabase(dialect, VMCATCHER_DDL));
    const yes = dialect === 'sqlite' ? 1 : true;
    await db.run('insert into endorser (id, identifier) values (1, ?)', ['desy']);
    await db.run('insert into "endorserPrincible" (id, hv_dn, hv_ca, endorser) values (1, ?, ?, 1)', [
      DESY.subject,
      DESY.issuer,
    ]);
    const n = 120;
    await db.run(
      'insert into subscription (id, identifier, description, uri, authorised, imagelist_latest, updated, "trustAnchor", "userName", password, "updateMode") values (1, ?, ?, ?, ?, ?, ?, 0, null, null, 0)',
      ['sub-A', 'long', 'https://example.org/l', yes, n, null],
    );
    await db.run(
      'insert into "subscriptionAuth" (id, subscription, endorser, authorised) values (1, 1, 1, ?)',
      [yes],
    );
    await db.run(
      'insert into "ImageDefinition" (id, identifier, latest, cache, subscription) values (1, ?, ?, 1, 1)',
      ['img', 1000 + n],
    );
    for (let v = 1; v <= n; v++) {
      const data = Buffer.from(
        JSON.stringify({ 'hv:imagelist': { 'dc:identifier': 'sub-A', 'hv:version': String(v) } }),
      );
      await db.run(
        'insert into "imageListInstance" (id, data, data_hash, expired, sub_auth, imported, created, expires, version) values (?, ?, ?, null, 1, ?, ?, ?, ?)',
        [
          v,
          data,
          createHash('sha512').update(data).digest('hex'),
          '2020-01-01 00:00:00',
          '2020-01-01 00:00:00',
          '2099-01-01 00:00:00',
          String(v),
        ],
      );
      await db.run(
        'insert into "ImageInstance" (id, description, hypervisor, sha512, uri, os, osversion, arch, version, size, title, comments, "fkIdentifier", fkimagelistinstance) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)',
        [
          1000 + v,
          '',
          'kvm',
          createHash('sha512').update(String(v)).digest('hex'),
          'https://example.org/i',
          'Linux',
          '9',
          'x86_64',
          String(v),
          v,
          'img',
          '',
          v,
        ],
      );
    }
    const store = await target(dialect);
    const r = await importLegacyVmcatcherDb(db.url, store);
    expect(r).toMatchObject({ imageLists: n, imageInstances: n, warnings: [] });
    const [img] = await store.subscriber.listImages();
    expect(img).toMatchObject({ identifier: 'img', cache: true, state: 3 });
    expect(img.latest).toMatchObject({
      version: String(n),
      size: n,
      sha512: createHash('sha512').update(String(n)).digest('hex'),
    });
    expect((await store.subscriber.getLatestImageList('sub-A'))?.version).toBe(String(n));
  });

  it('importLegacyDb finds which tool a database is from, and refuses one with no original tables', async () => {
    const db = track(await vmcatcherDb(dialect));
    const store = await target(dialect);
    const r = await importLegacyDb(db.url, store);
    expect(r).toMatchObject({ tools: ['vmcatcher'], inPlace: false, vmcatcher: { subscriptions: 2 } });
    const empty = await freshStore(dialect);
    cleanups.push(() => empty.dispose());
    const err = await expectCode(importLegacyDb(empty.url, store), 'ERR_STORE_LEGACY');
    expect(err.message).toContain('holds no tables of the original vmcatcher or vmcaster');
    expect(await store.subscriber.listSubscriptions()).toHaveLength(2);
  });

  it('refuses a database that is not from vmcatcher', async () => {
    const db = await legacyDatabase(dialect, VMCASTER_DDL.replace(/CREATE TABLE endorser[^;]*;/, ''));
    cleanups.push(() => db.dispose());
    const store = await target(dialect);
    const err = await expectCode(importLegacyVmcatcherDb(db.url, store), 'ERR_STORE_LEGACY');
    expect(err.message).toContain("table 'endorser' is missing");
  });
});

describe.each(dialects())('legacy vmcaster import on %s', (dialect) => {
  it('imports endorsers, lists, images, metadata and bindings', async () => {
    const db = track(await vmcasterDb(dialect));
    const store = await target(dialect);
    const r = await importLegacyVmcasterDb(db.url, store);
    expect(r).toMatchObject({ endorsers: 1, imageLists: 1, images: 3, bindings: 3 });
    expect(r.warnings).toHaveLength(1);
    const p = store.publisher;
    expect(await p.getEndorser(DN)).toEqual({
      dn: DN,
      metadata: { 'dc:creator': 'Owen', 'hv:ca': '/C=DE/O=GermanGrid/CN=GridKa-CA' },
      imageLists: ['list-uuid'],
    });
    expect(await p.getImageList('list-uuid')).toEqual({
      identifier: 'list-uuid',
      metadata: {
        'dc:title': 'DESY lists',
        'hv:uri': 'https://example.org/list.smime',
        'hv:version': '0.0.7',
      },
      images: ['img-b', 'img-a'],
      endorsers: [DN],
      updated: new Date('2014-01-21T10:11:12Z'),
    });
    expect((await p.getImage('img-unbound'))?.metadata).toEqual({ 'hv:version': '0.0.2' });
    expect((await p.getImageListContents('list-uuid'))?.images).toEqual([
      { identifier: 'img-b', metadata: { 'hv:size': '2048' } },
      { identifier: 'img-a', metadata: { 'dc:title': 'A', 'hv:size': '1024' } },
    ]);
  });

  it('rolls back everything on a conflict with the target', async () => {
    const db = track(await vmcasterDb(dialect));
    const store = await target(dialect);
    await store.publisher.addImage('img-b', { mine: 'yes' });
    await expectCode(importLegacyVmcasterDb(db.url, store), 'ERR_STORE_CONFLICT');
    expect(await store.publisher.listEndorsers()).toEqual([]);
    expect(await store.publisher.listImageLists()).toEqual([]);
    expect(await store.publisher.listImages()).toEqual(['img-b']);
  });
});

describe('legacy import errors', () => {
  it('names a missing legacy file or a bad URL', async () => {
    const t = tempDir();
    cleanups.push(async () => t.dispose());
    const store = await openStore('sqlite://');
    cleanups.push(() => store.close());
    const err = await expectCode(
      importLegacyVmcatcherDb(`sqlite:///${join(t.dir, 'vmcatcher.db')}`, store),
      'ERR_STORE_LEGACY',
    );
    expect(err.message).toContain('does not exist');
    await expectCode(importLegacyVmcasterDb('ftp://x/y', store), 'ERR_STORE_LEGACY');
  });
});
