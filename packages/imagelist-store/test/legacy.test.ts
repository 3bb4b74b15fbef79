// Databases made with the original DDL (reference §3.9 and §4.4, as SQLAlchemy emits it), filled with
// representative rows including the originals' integrity problems, imported into a new store.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'libsql';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { importLegacyVmcasterDb, importLegacyVmcatcherDb, openStore, type Store } from '../src/index.js';
import {
  createTestDatabase,
  type DialectName,
  dialects,
  expectCode,
  freshStore,
  tempDir,
} from './helpers.js';

const VMCATCHER_DDL = `
CREATE TABLE endorser (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "endorserPrincible" (id INTEGER NOT NULL, hv_dn VARCHAR(50) NOT NULL, hv_ca VARCHAR(50) NOT NULL, endorser INTEGER,
  PRIMARY KEY (id), UNIQUE (hv_dn));
CREATE TABLE subscription (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, description VARCHAR(200), uri VARCHAR(200) NOT NULL,
  authorised BOOLEAN NOT NULL, imagelist_latest INTEGER, updated DATETIME, "trustAnchor" INTEGER NOT NULL, "userName" VARCHAR(200),
  password VARCHAR(200), "updateMode" INTEGER NOT NULL, PRIMARY KEY (id), UNIQUE (identifier), UNIQUE (uri));
CREATE TABLE "subscriptionAuth" (id INTEGER NOT NULL, subscription INTEGER, endorser INTEGER, authorised BOOLEAN NOT NULL, PRIMARY KEY (id));
CREATE TABLE "ImageDefinition" (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, latest INTEGER, cache INTEGER NOT NULL,
  subscription INTEGER, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "imageListInstance" (id INTEGER NOT NULL, data BLOB NOT NULL, data_hash VARCHAR(128) NOT NULL, expired DATETIME,
  sub_auth INTEGER, imported DATETIME NOT NULL, created DATETIME NOT NULL, expires DATETIME NOT NULL, version VARCHAR(50) NOT NULL,
  PRIMARY KEY (id));
CREATE TABLE "ImageInstance" (id INTEGER NOT NULL, description VARCHAR(50) NOT NULL, hypervisor VARCHAR(50) NOT NULL,
  sha512 VARCHAR(128) NOT NULL, uri VARCHAR(128) NOT NULL, os VARCHAR(50) NOT NULL, osversion VARCHAR(50) NOT NULL,
  arch VARCHAR(50) NOT NULL, version VARCHAR(50) NOT NULL, size INTEGER NOT NULL, title VARCHAR(100) NOT NULL, comments VARCHAR(100),
  "fkIdentifier" INTEGER, fkimagelistinstance INTEGER, PRIMARY KEY (id));
`;

const VMCASTER_DDL = `
CREATE TABLE endorser (id INTEGER NOT NULL, subject VARCHAR(100) NOT NULL, PRIMARY KEY (id), UNIQUE (subject));
CREATE TABLE "endorserMetadata" (id INTEGER NOT NULL, "fkEndorser" INTEGER, key VARCHAR(200), value VARCHAR(200), PRIMARY KEY (id));
CREATE TABLE imagelist (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, updated DATETIME, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "ImagelistMetadata" (id INTEGER NOT NULL, "fkImageList" INTEGER, key VARCHAR(200), value VARCHAR(200), PRIMARY KEY (id));
CREATE TABLE "Image" (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "ImageMetadata" (id INTEGER NOT NULL, "fkImage" INTEGER, key VARCHAR(200), value VARCHAR(200), PRIMARY KEY (id));
CREATE TABLE "Endorsement" (id INTEGER NOT NULL, "fkImageList" INTEGER, "fkEndorser" INTEGER, PRIMARY KEY (id));
CREATE TABLE "ImageListImage" (id INTEGER NOT NULL, "fkImageList" INTEGER, "fkImage" INTEGER, PRIMARY KEY (id));
`;

interface Legacy {
  url: string;
  run(sql: string, params?: unknown[]): Promise<void>;
  dispose(): Promise<void>;
}

/** An empty database of the dialect with the given DDL, and a way to insert rows with `?` placeholders. */
async function legacyDatabase(dialect: DialectName, ddl: string): Promise<Legacy> {
  const target = await createTestDatabase(dialect);
  if (dialect === 'sqlite') {
    const path = new URL(target.url.replace('sqlite:///', 'file:///')).pathname.replace(
      'store.db',
      'legacy.db',
    );
    const db = new Database(path);
    db.exec(ddl);
    return {
      url: `sqlite:///${path}`,
      run: async (sql, params = []) => void db.prepare(sql).run(...params),
      dispose: async () => {
        db.close();
        await target.dispose();
      },
    };
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  await client.query(
    ddl.replace(/\bBLOB\b/g, 'BYTEA').replace(/\bDATETIME\b/g, 'TIMESTAMP WITHOUT TIME ZONE'),
  );
  return {
    url: target.url,
    run: async (sql, params = []) => {
      let n = 0;
      await client.query(
        sql.replace(/\?/g, () => `$${++n}`),
        params.map((p) => (typeof p === 'boolean' && dialect === 'postgres' ? p : p)),
      );
    },
    dispose: async () => {
      await client.end();
      await target.dispose();
    },
  };
}

const DESY = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
  issuer: '/C=DE/O=GermanGrid/CN=GridKa-CA',
};
const APPDB = {
  subject: '/DC=EU/DC=EGI/C=GR/O=Robots/CN=Robot:AppDB',
  issuer: '/DC=EU/DC=EGI/C=NL/O=Hosts/CN=EGI CA',
};

function smime(list: Record<string, unknown>): Buffer {
  const json = JSON.stringify({ 'hv:imagelist': list }, null, 4);
  return Buffer.from(
    [
      'MIME-Version: 1.0',
      'Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg="sha-256"; boundary="----5C2A1B"',
      '',
      'This is an S/MIME signed message',
      '',
      '------5C2A1B',
      json.replace(/\n/g, '\r\n'),
      '',
      '------5C2A1B',
      'Content-Type: application/x-pkcs7-signature; name="smime.p7s"',
      'Content-Transfer-Encoding: base64',
      '',
      'MIIGbgYJKoZIhvcNAQcCoIIGXzCCBlsCAQExDzANBglghkgBZQMEAgEFADALBgkq',
      '',
      '------5C2A1B--',
      '',
    ].join('\r\n'),
  );
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function target(dialect: DialectName): Promise<Store> {
  const t = await freshStore(dialect, { now: () => new Date('2026-01-01T00:00:00Z') });
  cleanups.push(() => t.dispose());
  return t.store;
}

describe.each(dialects())('legacy vmcatcher import on %s', (dialect) => {
  async function vmcatcherDb(): Promise<Legacy> {
    const db = await legacyDatabase(dialect, VMCATCHER_DDL);
    cleanups.push(() => db.dispose());
    const bool = (b: boolean) => (dialect === 'sqlite' ? (b ? 1 : 0) : b);
    await db.run('insert into endorser (id, identifier) values (?, ?), (?, ?)', [1, 'appdb', 2, 'desy']);
    // Principal ids deliberately differ from their endorsers' ids: the originals joined on the ids (§6.8).
    await db.run(
      'insert into "endorserPrincible" (id, hv_dn, hv_ca, endorser) values (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)',
      [1, DESY.subject, DESY.issuer, 2, 2, APPDB.subject, APPDB.issuer, 1, 3, '/CN=orphan', '/CN=ca', 99],
    );
    await db.run(
      'insert into subscription (id, identifier, description, uri, authorised, imagelist_latest, updated, "trustAnchor", "userName", password, "updateMode") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        5,
        'sub-A',
        'DESY images',
        'https://example.org/desy.smime',
        bool(true),
        7,
        '2018-10-09 12:34:56.123456',
        2,
        'TOKEN',
        'x-oauth-basic',
        3,
        6,
        'sub-B',
        'AppDB VO list',
        'https://vmcaster.appdb.egi.eu/store/vo/dteam/image.list',
        bool(false),
        null,
        null,
        0,
        null,
        null,
        0,
      ],
    );
    await db.run(
      'insert into "subscriptionAuth" (id, subscription, endorser, authorised) values (?, ?, ?, ?), (?, ?, ?, ?)',
      [3, 5, 2, bool(true), 4, 6, 1, bool(false)],
    );
    const image = (id: string, v: string) => ({
      'dc:identifier': id,
      'dc:title': `Title ${id}`,
      'dc:description': `Description ${id}`,
      'hv:hypervisor': 'QEMU,KVM',
      'hv:size': 1234,
      'hv:uri': `https://example.org/${id}-${v}.ova`,
      'hv:version': v,
      'sl:arch': 'x86_64',
      'sl:checksum:sha512': createHash('sha512').update(`${id}${v}`).digest('hex'),
      'sl:comments': '',
      'sl:os': 'Linux',
      'sl:osversion': 'SL 6',
      'hv:format': 'OVA',
      'ad:mpuri': `https://appdb.egi.eu/mp/${id}:${v}/`,
    });
    const list = (v: string, images: Record<string, unknown>[]) => ({
      'dc:identifier': 'sub-A',
      'dc:date:created': '2018-09-01T00:00:00Z',
      'dc:date:expires': '2099-01-01T00:00:00Z',
      'hv:version': v,
      'ad:vo': 'dteam',
      'hv:endorser': {
        'hv:x509': { 'hv:dn': DESY.subject, 'hv:ca': DESY.issuer, 'dc:creator': 'Owen', 'hv:email': 'o@e' },
      },
      'hv:images': images.map((i) => ({ 'hv:image': i })),
    });
    const v1 = smime(list('1', [image('img-1', '1'), image('img-2', '1')]));
    const v2 = smime(list('2', [image('img-1', '2')]));
    const sha = (b: Buffer) => createHash('sha512').update(b).digest('hex');
    await db.run(
      'insert into "imageListInstance" (id, data, data_hash, expired, sub_auth, imported, created, expires, version) values (?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        6,
        v1,
        sha(v1),
        '2018-10-01 00:00:00',
        3,
        '2018-09-01 10:00:00',
        '2018-09-01 00:00:00',
        '2099-01-01 00:00:00',
        '1',
        7,
        v2,
        sha(v2),
        null,
        3,
        '2018-10-09 12:34:56.123456',
        '2018-10-09 00:00:00',
        '2099-01-01 00:00:00',
        '2',
      ],
    );
    await db.run(
      'insert into "ImageDefinition" (id, identifier, latest, cache, subscription) values (?, ?, ?, ?, ?), (?, ?, ?, ?, ?), (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)',
      [10, 'img-1', 21, 1, 5, 11, 'img-2', 20, 0, 5, 12, 'img-3', 0, 0, 6, 13, 'img-orphan', 0, 0, 77],
    );
    const instance = (id: number, def: number, listId: number, img: Record<string, unknown>) => [
      id,
      img['dc:description'],
      img['hv:hypervisor'],
      img['sl:checksum:sha512'],
      img['hv:uri'],
      img['sl:os'],
      img['sl:osversion'],
      img['sl:arch'],
      img['hv:version'],
      img['hv:size'],
      img['dc:title'],
      img['sl:comments'],
      def,
      listId,
    ];
    const cols =
      'insert into "ImageInstance" (id, description, hypervisor, sha512, uri, os, osversion, arch, version, size, title, comments, "fkIdentifier", fkimagelistinstance) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
    await db.run(cols, instance(20, 11, 6, image('img-2', '1')));
    await db.run(cols, instance(21, 10, 7, image('img-1', '2')));
    await db.run(cols, instance(22, 10, 6, image('img-1', '1')));
    return db;
  }

  it('imports endorsers, principals by their endorser column, subscriptions, credentials, lists and images', async () => {
    const db = await vmcatcherDb();
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
    const db = await vmcatcherDb();
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

  it('refuses a database that is not from vmcatcher', async () => {
    const db = await legacyDatabase(dialect, VMCASTER_DDL.replace(/CREATE TABLE endorser[^;]*;/, ''));
    cleanups.push(() => db.dispose());
    const store = await target(dialect);
    const err = await expectCode(importLegacyVmcatcherDb(db.url, store), 'ERR_STORE_LEGACY');
    expect(err.message).toContain("table 'endorser' is missing");
  });
});

describe.each(dialects())('legacy vmcaster import on %s', (dialect) => {
  const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';

  async function vmcasterDb(): Promise<Legacy> {
    const db = await legacyDatabase(dialect, VMCASTER_DDL);
    cleanups.push(() => db.dispose());
    await db.run('insert into endorser (id, subject) values (?, ?)', [4, DN]);
    await db.run(
      'insert into "endorserMetadata" (id, "fkEndorser", key, value) values (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)',
      [
        1,
        4,
        'hv:ca',
        '/C=DE/CN=old-CA',
        2,
        4,
        'dc:creator',
        'Owen',
        3,
        4,
        'hv:ca',
        '/C=DE/O=GermanGrid/CN=GridKa-CA',
      ],
    );
    await db.run('insert into imagelist (id, identifier, updated) values (?, ?, ?)', [
      2,
      'list-uuid',
      '2014-01-21 10:11:12',
    ]);
    await db.run(
      'insert into "ImagelistMetadata" (id, "fkImageList", key, value) values (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)',
      [
        1,
        2,
        'hv:version',
        '0.0.7',
        2,
        2,
        'dc:title',
        'DESY lists',
        3,
        2,
        'hv:uri',
        'https://example.org/list.smime',
      ],
    );
    await db.run('insert into "Image" (id, identifier) values (?, ?), (?, ?), (?, ?)', [
      1,
      'img-a',
      2,
      'img-b',
      3,
      'img-unbound',
    ]);
    await db.run(
      'insert into "ImageMetadata" (id, "fkImage", key, value) values (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)',
      [
        1,
        1,
        'hv:size',
        '1024',
        2,
        2,
        'hv:size',
        '2048',
        3,
        3,
        'hv:version',
        '0.0.1',
        // The duplicate that image_key_update inserts for an image bound to no list: the last one wins.
        4,
        3,
        'hv:version',
        '0.0.2',
        5,
        99,
        'dc:title',
        'orphan',
        6,
        1,
        'dc:title',
        'A',
      ],
    );
    await db.run(
      'insert into "Endorsement" (id, "fkImageList", "fkEndorser") values (?, ?, ?), (?, ?, ?)',
      [1, 2, 4, 2, 2, 4],
    );
    await db.run(
      'insert into "ImageListImage" (id, "fkImageList", "fkImage") values (?, ?, ?), (?, ?, ?)',
      [1, 2, 2, 2, 2, 1],
    );
    return db;
  }

  it('imports endorsers, lists, images, metadata and bindings', async () => {
    const db = await vmcasterDb();
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
    const out = (await p.exportImageList('list-uuid'))['hv:imagelist'] as Record<string, unknown>;
    expect(out['hv:images']).toEqual([
      { 'hv:image': { 'dc:identifier': 'img-b', 'hv:size': 2048 } },
      { 'hv:image': { 'dc:identifier': 'img-a', 'dc:title': 'A', 'hv:size': 1024 } },
    ]);
  });

  it('rolls back everything on a conflict with the target', async () => {
    const db = await vmcasterDb();
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
