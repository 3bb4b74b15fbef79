// A database made by the original vmcatcher 0.6 (schema of reference §3.9, written here with SQLite) is
// imported with the store's importLegacyVmcatcherDb and keeps working with `-U`.

import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { importLegacyVmcatcherDb, openStore } from '@hepix/imagelist-store';
import {
  makeListJson,
  makePki,
  makeTempDir,
  signWithOpenssl,
  startHttpsServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import Database from 'libsql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runImageCommand, runSubscribeCommand } from '../src/index.js';

const DAY = 86_400_000;
const LIST = '63175437-7d59-4851-b333-c96cb6545a86';
const IMAGES = ['327016b0-6508-41d2-bce0-c1724cb3d3e2', '858a817e-0ca2-473f-89d3-d5bdfc51968e'];
let tmp: string;
let pki: TestPki;
let https: TestServer;

function io() {
  const out = { stdout: '', stderr: '' };
  const cli: CliIo = {
    stdout: (t) => {
      out.stdout += t;
    },
    stderr: (t) => {
      out.stderr += t;
    },
  };
  return { out, cli };
}

const pyTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '000');

function listBytes(version: string, created: Date) {
  return signWithOpenssl(
    makeListJson({
      identifier: LIST,
      version,
      created,
      expires: new Date(Date.now() + 28 * DAY),
      uri: `${https.url}/image.list`,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: IMAGES.map((identifier) => ({ identifier })),
    }),
    pki.endorser,
    tmp,
  );
}

/** The tables vmcatcher 0.6 creates (SQLAlchemy declarative, reference §3.9). */
function makeLegacyDb(path: string, stored: Buffer, created: Date) {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE endorser (id INTEGER PRIMARY KEY, identifier VARCHAR(50) NOT NULL UNIQUE);
    CREATE TABLE "endorserPrincible" (id INTEGER PRIMARY KEY, hv_dn VARCHAR(50) NOT NULL UNIQUE, hv_ca VARCHAR(50) NOT NULL,
      endorser INTEGER REFERENCES endorser(id) ON DELETE CASCADE);
    CREATE TABLE subscription (id INTEGER PRIMARY KEY, identifier VARCHAR(50) NOT NULL UNIQUE, description VARCHAR(200),
      uri VARCHAR(200) NOT NULL UNIQUE, authorised BOOLEAN NOT NULL, imagelist_latest INTEGER, updated DATETIME,
      "trustAnchor" INTEGER NOT NULL DEFAULT 0, "userName" VARCHAR(200), password VARCHAR(200), "updateMode" INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE "subscriptionAuth" (id INTEGER PRIMARY KEY, subscription INTEGER REFERENCES subscription(id),
      endorser INTEGER REFERENCES endorser(id), authorised BOOLEAN NOT NULL);
    CREATE TABLE "ImageDefinition" (id INTEGER PRIMARY KEY, identifier VARCHAR(50) NOT NULL UNIQUE, latest INTEGER,
      cache INTEGER NOT NULL, subscription INTEGER REFERENCES subscription(id));
    CREATE TABLE "imageListInstance" (id INTEGER PRIMARY KEY, data BLOB NOT NULL, data_hash VARCHAR(128) NOT NULL,
      expired DATETIME, sub_auth INTEGER REFERENCES "subscriptionAuth"(id), imported DATETIME NOT NULL,
      created DATETIME NOT NULL, expires DATETIME NOT NULL, version VARCHAR(50) NOT NULL);
    CREATE TABLE "ImageInstance" (id INTEGER PRIMARY KEY, description VARCHAR(50) NOT NULL, hypervisor VARCHAR(50) NOT NULL,
      sha512 VARCHAR(128) NOT NULL, uri VARCHAR(128) NOT NULL, os VARCHAR(50) NOT NULL, osversion VARCHAR(50) NOT NULL,
      arch VARCHAR(50) NOT NULL, version VARCHAR(50) NOT NULL, size INTEGER NOT NULL, title VARCHAR(100) NOT NULL,
      comments VARCHAR(100), "fkIdentifier" INTEGER REFERENCES "ImageDefinition"(id),
      fkimagelistinstance INTEGER REFERENCES "imageListInstance"(id));
  `);
  const now = new Date();
  // Row ids deliberately differ between endorser and principal (the originals' join bug, §6.8).
  db.prepare('INSERT INTO endorser (id, identifier) VALUES (7, ?)').run('Owen Synge');
  db.prepare('INSERT INTO "endorserPrincible" (id, hv_dn, hv_ca, endorser) VALUES (3, ?, ?, 7)').run(
    pki.endorser.subject,
    pki.endorser.issuer,
  );
  db.prepare(
    'INSERT INTO subscription (id, identifier, description, uri, authorised, imagelist_latest, updated, "trustAnchor", "updateMode") VALUES (1, ?, ?, ?, 1, 1, ?, 2, 0)',
  ).run(LIST, 'CERN Virtual Machine', `${https.url}/image.list`, pyTime(now));
  db.prepare(
    'INSERT INTO "subscriptionAuth" (id, subscription, endorser, authorised) VALUES (1, 1, 7, 1)',
  ).run();
  db.prepare(
    'INSERT INTO "imageListInstance" (id, data, data_hash, expired, sub_auth, imported, created, expires, version) VALUES (1, ?, ?, NULL, 1, ?, ?, ?, ?)',
  ).run(
    stored,
    createHash('sha512').update(stored).digest('hex'),
    pyTime(now),
    pyTime(created),
    pyTime(new Date(Date.now() + 28 * DAY)),
    '1',
  );
  IMAGES.forEach((id, i) => {
    db.prepare(
      'INSERT INTO "ImageDefinition" (id, identifier, latest, cache, subscription) VALUES (?, ?, ?, ?, 1)',
    ).run(i + 1, id, i + 1, i === 1 ? 1 : 0);
    db.prepare(
      `INSERT INTO "ImageInstance" (id, description, hypervisor, sha512, uri, os, osversion, arch, version, size, title, comments, "fkIdentifier", fkimagelistinstance)
       VALUES (?, 'd', 'kvm', ?, ?, 'Linux', 'SL 6.4', 'x86_64', '1', 1024, 't', '', ?, 1)`,
    ).run(i + 1, 'a'.repeat(128), `https://example.org/${id}.img`, i + 1);
  });
  db.close();
}

beforeAll(async () => {
  tmp = makeTempDir('hepix-legacy-');
  pki = makePki(join(tmp, 'pki'));
  https = await startHttpsServer(pki.server.cert, pki.server.key);
}, 120_000);

afterAll(async () => {
  await https?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('legacy vmcatcher database', () => {
  it('imports, lists the same states, and keeps updating with -U', async () => {
    const created = new Date(Date.now() - 2 * DAY);
    const v1 = listBytes('1', created);
    makeLegacyDb(join(tmp, 'legacy.db'), v1, created);
    const db = `sqlite:///${join(tmp, 'new.db')}`;
    const store = await openStore(db);
    try {
      const r = await importLegacyVmcatcherDb(`sqlite:///${join(tmp, 'legacy.db')}`, store);
      expect(r.subscriptions).toBe(1);
    } finally {
      await store.close();
    }
    const env = { VMCATCHER_RDBMS: db, VMCATCHER_DIR_CERT: pki.certDir };

    let c = io();
    expect(await runImageCommand(['-l'], env, c.cli)).toBe(0);
    expect(c.out.stdout.trim().split('\n').sort()).toEqual([
      `${IMAGES[0]}\t2\t${LIST}`,
      `${IMAGES[1]}\t3\t${LIST}`,
    ]);

    https.serve('/image.list', v1);
    c = io();
    expect(await runSubscribeCommand(['-U', '--json'], env, c.cli)).toBe(0);
    expect(JSON.parse(c.out.stdout)[0]).toMatchObject({ outcome: 'unchanged', status: 0 });

    https.serve('/image.list', listBytes('2', new Date(Date.now() - DAY)));
    c = io();
    expect(await runSubscribeCommand(['-U', '--json'], env, c.cli)).toBe(0);
    expect(JSON.parse(c.out.stdout)[0]).toMatchObject({ outcome: 'updated', status: 0, version: '2' });

    https.serve('/image.list', listBytes('1', new Date()));
    c = io();
    expect(await runSubscribeCommand(['-U'], env, c.cli)).toBe(17);

    c = io();
    expect(await runImageCommand(['-l'], env, c.cli)).toBe(0);
    expect(c.out.stdout.trim().split('\n').sort()).toEqual([
      `${IMAGES[0]}\t2\t${LIST}`,
      `${IMAGES[1]}\t3\t${LIST}`,
    ]);
    c = io();
    expect(await runSubscribeCommand(['-l'], env, c.cli)).toBe(0);
    expect(c.out.stdout).toBe(`${LIST}\tTrue\tIGTF\t${https.url}/image.list\n`);
  });
});
