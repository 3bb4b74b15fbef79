// The subscription engine on PostgreSQL (its own throwaway database on the server started by
// scripts/start-postgres.sh): subscribe, update, a rejection leaving the store unchanged, and concurrent updates
// sharing the subscriptions by claims.

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
let dbUrl: string;
let store: Store;
let subs: Subscriptions;
let pki: TestPki;
let https: TestServer;
let tmp: string;
const LIST = randomUUID();

function list(version: string, identifier = LIST, path = '/pg.list') {
  return signWithOpenssl(
    makeListJson({
      identifier,
      version,
      created: new Date(Date.now() - DAY + Number.parseFloat(version) * 1000),
      expires: new Date(Date.now() + DAY),
      uri: `${https.url}${path}`,
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
  dbUrl = u.href;
  store = await openStore(dbUrl);
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
  it('subscribe, update, reject a lower version with the store unchanged, two updates at once', async () => {
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
      // Two updates at once: the subscription is claimed by one; the other leaves it (or finds it unchanged).
      const [a, b] = await Promise.all([subs.update(), other.update()]);
      const outcomes = [...a.results, ...b.results].map((x) => x.outcome).sort();
      expect(outcomes[0]).toBe('updated');
      const left = [...(a.claimedElsewhere ?? []), ...(b.claimedElsewhere ?? [])];
      expect(outcomes.length + left.length).toBe(2);
      if (left.length) expect(left).toEqual([LIST]);
      else expect(outcomes).toEqual(['unchanged', 'updated']);
    } finally {
      await other.close();
    }
    expect((await store.subscriber.getLatestImageList(LIST))?.version).toBe('2.0');
  });

  it('shares the subscriptions of two concurrent updates by claims, each list fetched once, and notifies', async () => {
    const lists = Array.from({ length: 6 }, (_, n) => ({ id: randomUUID(), path: `/share-${n}.list` }));
    for (const l of lists) {
      https.serve(l.path, list('1.0', l.id, l.path));
      await subs.subscribe(`${https.url}${l.path}`, { trustAnchor: 'igtf' });
    }
    // Version 2 of each, served slowly: the two updates overlap.
    for (const l of lists) {
      const body = list('2.0', l.id, l.path);
      https.routes.set(l.path, (_req, res) => {
        setTimeout(() => res.end(body), 500);
      });
    }
    const seen = https.requests.length;
    const secondStore = await openStore(dbUrl);
    const heard: string[] = [];
    const stop = await secondStore.listen('vmcatcher_work', (p) => heard.push(p));
    const other = createSubscriptions({ store: secondStore, certDir: pki.certDir });
    try {
      const selection = { identifiers: lists.map((l) => l.id) };
      const [a, b] = await Promise.all([
        subs.update(selection, { concurrency: 2 }),
        other.update(selection, { concurrency: 2 }),
      ]);
      const mine = [a, b].map((r) => r.results.map((x) => x.subscription));
      // Disjoint, covering all six, each updated, and both did some.
      expect([...mine[0], ...mine[1]].sort()).toEqual(lists.map((l) => l.id).sort());
      expect(mine[0].length).toBeGreaterThan(0);
      expect(mine[1].length).toBeGreaterThan(0);
      expect(new Set([...a.results, ...b.results].map((x) => x.outcome))).toEqual(new Set(['updated']));
      expect([...(a.claimedElsewhere ?? [])].sort()).toEqual([...mine[1]].sort());
      // Each list fetched once.
      const fetched = https.requests.slice(seen).map((r) => r.url);
      for (const l of lists) expect(fetched.filter((u) => u === l.path).length, l.path).toBe(1);
      const deadline = Date.now() + 30_000;
      while (heard.join(' ').split(' ').filter(Boolean).length < 6 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(heard.join(' ').split(' ').filter(Boolean).sort()).toEqual(lists.map((l) => l.id).sort());
    } finally {
      await stop();
      await other.close();
      await secondStore.close();
    }
  });
});
