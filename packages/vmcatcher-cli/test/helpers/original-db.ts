// A database exactly as the original vmcatcher 0.6 leaves it (SQLAlchemy's DDL on SQLite, reference §3.9):
// one endorser (principal row id ≠ endorser row id, §6.8), one IGTF subscription with its stored signed list,
// and image definitions with instances, one of them subscribed for caching.
import { createHash } from 'node:crypto';
import Database from 'libsql';

interface OriginalImage {
  identifier: string;
  sha512: string;
  size: number;
  cache: boolean;
}

export interface OriginalDb {
  list: string;
  uri: string;
  endorser: { identifier: string; subject: string; issuer: string };
  images: OriginalImage[];
  /** The raw signed list stored as the latest. */
  stored: Buffer;
  created: Date;
  expires: Date;
}

const DDL = `
CREATE TABLE endorser (
	id INTEGER NOT NULL, 
	identifier VARCHAR(50) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (identifier)
);
CREATE TABLE "endorserPrincible" (
	id INTEGER NOT NULL, 
	hv_dn VARCHAR(50) NOT NULL, 
	hv_ca VARCHAR(50) NOT NULL, 
	endorser INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (hv_dn), 
	FOREIGN KEY(endorser) REFERENCES endorser (id) ON DELETE CASCADE
);
CREATE TABLE subscription (
	id INTEGER NOT NULL, 
	identifier VARCHAR(50) NOT NULL, 
	description VARCHAR(200), 
	uri VARCHAR(200) NOT NULL, 
	authorised BOOLEAN NOT NULL, 
	imagelist_latest INTEGER, 
	updated DATETIME, 
	"trustAnchor" INTEGER NOT NULL, 
	"userName" VARCHAR(200), 
	password VARCHAR(200), 
	"updateMode" INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (identifier), 
	UNIQUE (uri), 
	CHECK (authorised IN (0, 1))
);
CREATE TABLE "subscriptionAuth" (
	id INTEGER NOT NULL, 
	subscription INTEGER, 
	endorser INTEGER, 
	authorised BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(subscription) REFERENCES subscription (id) ON DELETE CASCADE, 
	FOREIGN KEY(endorser) REFERENCES endorser (id) ON DELETE CASCADE, 
	CHECK (authorised IN (0, 1))
);
CREATE TABLE "ImageDefinition" (
	id INTEGER NOT NULL, 
	identifier VARCHAR(50) NOT NULL, 
	latest INTEGER, 
	cache INTEGER NOT NULL, 
	subscription INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (identifier), 
	FOREIGN KEY(subscription) REFERENCES subscription (id) ON DELETE CASCADE
);
CREATE TABLE "imageListInstance" (
	id INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	data_hash VARCHAR(128) NOT NULL, 
	expired DATETIME, 
	sub_auth INTEGER, 
	imported DATETIME NOT NULL, 
	created DATETIME NOT NULL, 
	expires DATETIME NOT NULL, 
	version VARCHAR(50) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(sub_auth) REFERENCES "subscriptionAuth" (id) ON DELETE CASCADE
);
CREATE TABLE "ImageInstance" (
	id INTEGER NOT NULL, 
	description VARCHAR(50) NOT NULL, 
	hypervisor VARCHAR(50) NOT NULL, 
	sha512 VARCHAR(128) NOT NULL, 
	uri VARCHAR(128) NOT NULL, 
	os VARCHAR(50) NOT NULL, 
	osversion VARCHAR(50) NOT NULL, 
	arch VARCHAR(50) NOT NULL, 
	version VARCHAR(50) NOT NULL, 
	size INTEGER NOT NULL, 
	title VARCHAR(100) NOT NULL, 
	comments VARCHAR(100), 
	"fkIdentifier" INTEGER, 
	fkimagelistinstance INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY("fkIdentifier") REFERENCES "ImageDefinition" (id) ON DELETE CASCADE, 
	FOREIGN KEY(fkimagelistinstance) REFERENCES "imageListInstance" (id) ON DELETE CASCADE
);
`;

/** SQLAlchemy's naive-UTC DATETIME text. */
const pyTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '000');

export function makeOriginalVmcatcherDb(path: string, o: OriginalDb): void {
  const db = new Database(path);
  db.exec(DDL);
  const now = new Date();
  db.prepare('INSERT INTO endorser (id, identifier) VALUES (7, ?)').run(o.endorser.identifier);
  db.prepare('INSERT INTO "endorserPrincible" (id, hv_dn, hv_ca, endorser) VALUES (3, ?, ?, 7)').run(
    o.endorser.subject,
    o.endorser.issuer,
  );
  db.prepare(
    'INSERT INTO subscription (id, identifier, description, uri, authorised, imagelist_latest, updated, "trustAnchor", "userName", password, "updateMode") VALUES (1, ?, ?, ?, 1, 1, ?, 2, NULL, NULL, 0)',
  ).run(o.list, 'CERN Virtual Machine', o.uri, pyTime(now));
  db.prepare(
    'INSERT INTO "subscriptionAuth" (id, subscription, endorser, authorised) VALUES (1, 1, 7, 1)',
  ).run();
  db.prepare(
    'INSERT INTO "imageListInstance" (id, data, data_hash, expired, sub_auth, imported, created, expires, version) VALUES (1, ?, ?, NULL, 1, ?, ?, ?, ?)',
  ).run(
    o.stored,
    createHash('sha512').update(o.stored).digest('hex'),
    pyTime(now),
    pyTime(o.created),
    pyTime(o.expires),
    '1',
  );
  o.images.forEach((image, i) => {
    db.prepare(
      'INSERT INTO "ImageDefinition" (id, identifier, latest, cache, subscription) VALUES (?, ?, ?, ?, 1)',
    ).run(i + 11, image.identifier, i + 21, image.cache ? 1 : 0);
    db.prepare(
      `INSERT INTO "ImageInstance" (id, description, hypervisor, sha512, uri, os, osversion, arch, version, size, title, comments, "fkIdentifier", fkimagelistinstance)
       VALUES (?, 'd', 'kvm', ?, ?, 'Linux', 'SL 6.4', 'x86_64', '1', ?, 't', '', ?, 1)`,
    ).run(i + 21, image.sha512, `https://example.org/${image.identifier}.img`, image.size, i + 11);
  });
  db.close();
}
