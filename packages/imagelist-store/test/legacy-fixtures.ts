// Databases made with the original DDL (reference §3.9 and §4.4, as SQLAlchemy emits it), filled with
// representative rows including the originals' integrity problems. The caller disposes them.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import Database from 'libsql';
import pg from 'pg';
import { createTestDatabase, type DialectName } from './helpers.js';

export const VMCATCHER_DDL = `
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

export const VMCASTER_DDL = `
CREATE TABLE endorser (id INTEGER NOT NULL, subject VARCHAR(100) NOT NULL, PRIMARY KEY (id), UNIQUE (subject));
CREATE TABLE "endorserMetadata" (id INTEGER NOT NULL, "fkEndorser" INTEGER, key VARCHAR(200), value VARCHAR(200), PRIMARY KEY (id));
CREATE TABLE imagelist (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, updated DATETIME, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "ImagelistMetadata" (id INTEGER NOT NULL, "fkImageList" INTEGER, key VARCHAR(200), value VARCHAR(200), PRIMARY KEY (id));
CREATE TABLE "Image" (id INTEGER NOT NULL, identifier VARCHAR(50) NOT NULL, PRIMARY KEY (id), UNIQUE (identifier));
CREATE TABLE "ImageMetadata" (id INTEGER NOT NULL, "fkImage" INTEGER, key VARCHAR(200), value VARCHAR(200), PRIMARY KEY (id));
CREATE TABLE "Endorsement" (id INTEGER NOT NULL, "fkImageList" INTEGER, "fkEndorser" INTEGER, PRIMARY KEY (id));
CREATE TABLE "ImageListImage" (id INTEGER NOT NULL, "fkImageList" INTEGER, "fkImage" INTEGER, PRIMARY KEY (id));
`;

export interface Legacy {
  url: string;
  /** The SQLite file, when it is one. */
  path?: string;
  run(sql: string, params?: unknown[]): Promise<void>;
  /** Closes the connection that wrote the rows (before the store opens the same database). */
  closeWriter(): Promise<void>;
  dispose(): Promise<void>;
}

/** An empty database of the dialect with the given DDL, and a way to insert rows with `?` placeholders. */
export async function legacyDatabase(dialect: DialectName, ddl: string): Promise<Legacy> {
  const target = await createTestDatabase(dialect);
  if (dialect === 'sqlite') {
    const path = resolve(
      new URL(target.url.replace('sqlite:///', 'file:///')).pathname.replace('store.db', 'legacy.db'),
    );
    const db = new Database(path);
    db.exec(ddl);
    let open = true;
    const closeWriter = async () => {
      if (open) db.close();
      open = false;
    };
    return {
      url: `sqlite:///${path}`,
      path,
      run: async (sql, params = []) => void db.prepare(sql).run(...params),
      closeWriter,
      dispose: async () => {
        await closeWriter();
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
    closeWriter: async () => {},
    dispose: async () => {
      await client.end();
      await target.dispose();
    },
  };
}

export const DESY = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
  issuer: '/C=DE/O=GermanGrid/CN=GridKa-CA',
};
export const APPDB = {
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

/** A vmcatcher 0.6 database with representative rows, including the originals' integrity problems. */
export async function vmcatcherDb(dialect: DialectName, ddl = VMCATCHER_DDL): Promise<Legacy> {
  const db = await legacyDatabase(dialect, ddl);
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

export const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';

/** A vmcaster 0.0.x database, with a duplicate metadata key and an orphan row. */
export async function vmcasterDb(dialect: DialectName): Promise<Legacy> {
  const db = await legacyDatabase(dialect, VMCASTER_DDL);
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
