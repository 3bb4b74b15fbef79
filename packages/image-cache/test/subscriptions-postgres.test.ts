// The subscription engine on PostgreSQL (its own throwaway database on the server started by
// scripts/start-postgres.sh): subscribe, update, a rejection leaving the store unchanged, and the advisory lock.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '@hepix/imagelist-store';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptions, type Subscriptions } from '../src/index.js';
import {
  makeListJson,
  makePki,
  makeTempDir,
  signWithOpenssl,
  startHttpsServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';

const DAY = 86_400_000;
const root = fileURLToPath(new URL('../../../', import.meta.url));
let serverUrl: string;
let dbName: string;
let store: Store;
let subs: Subscriptions;
let pki: TestPki;
let https: TestServer;
let tmp: string;
const LIST = randomUUID();

function list(version: string) {
  return signWithOpenssl(
    makeListJson({
      identifier: LIST,
      version,
      created: new Date(Date.now() - DAY + Number.parseFloat(version) * 1000),
      expires: new Date(Date.now() + DAY),
      uri: `${https.url}/pg.list`,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: [{ identifier: randomUUID() }, { identifier: randomUUID() }],
    }),
    pki.endorser,
    tmp,
  );
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  serverUrl = process.env.TEST_POSTGRES_URL ?? '';
  if (!serverUrl) {
    const out = execFileSync('bash', [join(root, 'scripts/start-postgres.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    serverUrl = /^TEST_POSTGRES_URL=(.+)$/m.exec(out)?.[1]?.trim() ?? '';
  }
  expect(serverUrl).toMatch(/^postgres(ql)?:\/\//);
  dbName = `hepix_sub_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
  const u = new URL(serverUrl);
  u.pathname = `/${dbName}`;
  store = await openStore(u.href);
  tmp = makeTempDir();
  pki = makePki(join(tmp, 'pki'));
  https = await startHttpsServer(pki.server.cert, pki.server.key);
  await store.subscriber.createEndorser('owen', [
    { subject: pki.endorser.subject, issuer: pki.endorser.issuer },
  ]);
  subs = createSubscriptions({ store, certDir: pki.certDir });
}, 120_000);

afterAll(async () => {
  await subs?.close();
  await store?.close();
  await https?.close();
  if (dbName) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName}`));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('subscriptions on PostgreSQL', () => {
  it('subscribe, update, reject a lower version with the store unchanged, serialise two updates', async () => {
    expect(store.dialect).toBe('postgres');
    https.serve('/pg.list', list('1.0'));
    await subs.subscribe(`${https.url}/pg.list`, { trustAnchor: 'igtf' });
    let r = await subs.update();
    expect(r.results[0].error).toBeUndefined();
    expect(r.results[0].outcome).toBe('updated');
    expect((await store.subscriber.listImages({ subscription: LIST })).map((i) => i.state)).toEqual([2, 2]);

    const before = await store.subscriber.getLatestImageList(LIST);
    https.serve('/pg.list', list('0.9'));
    r = await subs.update();
    expect(r.results[0].error?.code).toBe('ERR_LIST_LOWER_VERSION');
    expect((await store.subscriber.getLatestImageList(LIST))?.id).toBe(before?.id);

    https.serve('/pg.list', list('2.0'));
    const other = createSubscriptions({ store, certDir: pki.certDir });
    try {
      const [a, b] = await Promise.all([subs.update(), other.update()]);
      expect([a.results[0].outcome, b.results[0].outcome].sort()).toEqual(['unchanged', 'updated']);
    } finally {
      await other.close();
    }
    expect((await store.subscriber.getLatestImageList(LIST))?.version).toBe('2.0');
  });
});
