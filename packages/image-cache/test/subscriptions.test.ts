// End to end: lists signed with the openssl CLI by a throwaway grid PKI, served by a real HTTPS server on
// 127.0.0.1, verified against the PKI's trust directory, stored in a real SQLite store.

import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListClientError } from '@hepix/imagelist-client';
import { createSubscriptions, type NewImageEvent, type Subscriptions } from '../src/index.js';
import {
  copyCertDir,
  issueCert,
  type ListSpec,
  makeListJson,
  makePki,
  makeTempDir,
  revoke,
  signWithOpenssl,
  startHttpsServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';

const DAY = 86_400_000;
let tmp: string;
let pki: TestPki;
let otherPki: TestPki;
let https: TestServer;
let wrongHost: TestServer;
let store: Store;
let dbUrl: string;
let subs: Subscriptions;
const events: NewImageEvent[] = [];
const logs: string[] = [];

const LIST_ID = randomUUID();
const IMG = [randomUUID(), randomUUID(), randomUUID()];
let listPath: string;

function spec(overrides: Partial<ListSpec> = {}): ListSpec {
  return {
    identifier: LIST_ID,
    version: '1.0.0',
    created: new Date(Date.now() - DAY),
    expires: new Date(Date.now() + 30 * DAY),
    uri: `${https.url}${listPath}`,
    dn: pki.endorser.subject,
    ca: pki.endorser.issuer,
    images: [{ identifier: IMG[0] }, { identifier: IMG[1] }],
    ...overrides,
  };
}

function signed(s: ListSpec, signer: { cert: string; key: string } = pki.endorser): Buffer {
  return signWithOpenssl(makeListJson(s), signer, tmp);
}

function engine(certDir = pki.certDir): Subscriptions {
  return createSubscriptions({
    store,
    certDir,
    log: (level, m) => logs.push(`${level}:${m}`),
    onNewImage: async (e) => {
      events.push(e);
    },
  });
}

async function snapshot(id = LIST_ID) {
  const latest = await store.subscriber.getLatestImageList(id);
  const sub = await store.subscriber.getSubscription(id);
  const images = await store.subscriber.listImages({ subscription: id });
  return {
    latest: latest && {
      id: latest.id,
      dataHash: latest.dataHash,
      version: latest.version,
      expired: latest.expired,
      withdrawn: latest.withdrawn,
    },
    uri: sub?.uri,
    images: images
      .map((i) => ({ id: i.identifier, state: i.state, cache: i.cache }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
}

beforeAll(async () => {
  tmp = makeTempDir();
  pki = makePki(join(tmp, 'pki'));
  otherPki = makePki(join(tmp, 'other-pki'), 'Mallory');
  https = await startHttpsServer(pki.server.cert, pki.server.key);
  const other = issueCert(pki, 'other-host', '/C=DE/O=GermanGrid/CN=other.example', 'san:DNS:other.example');
  wrongHost = await startHttpsServer(other.cert, other.key);
  dbUrl = `sqlite:///${join(tmp, 'vmcatcher.db')}`;
  store = await openStore(dbUrl);
  listPath = '/lists/image.list?vo=test&x=1';
  await store.subscriber.createEndorser('owen', [
    { subject: pki.endorser.subject, issuer: pki.endorser.issuer },
  ]);
  subs = engine();
}, 120_000);

afterAll(async () => {
  await subs?.close();
  await store?.close();
  await Promise.all([https?.close(), wrongHost?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function expectRejected(data: Buffer | (() => void), code: string, e: Subscriptions = subs) {
  if (typeof data === 'function') data();
  else https.serve('/lists/image.list', data);
  const before = await snapshot();
  const r = await e.update({ identifiers: [LIST_ID] });
  expect(r.results).toHaveLength(1);
  expect(r.results[0].error?.code).toBe(code);
  expect(r.results[0].outcome).toBe('rejected');
  expect(r.results[0].withdrawn).toBeUndefined();
  expect(await snapshot()).toEqual(before);
  return r.results[0];
}

describe('subscribe', () => {
  it('refuses a list from an unknown endorser and stores nothing', async () => {
    const id = randomUUID();
    const intruder = issueCert(pki, 'stranger', '/C=DE/O=GermanGrid/OU=DESY/CN=Stranger');
    https.serve(
      '/lists/stranger.list',
      signed(spec({ identifier: id, dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Stranger' }), intruder),
    );
    const err = await subs
      .subscribe(`${https.url}/lists/stranger.list`, { trustAnchor: 'igtf' })
      .catch((e) => e);
    expect(err.code).toBe('ERR_SUB_UNKNOWN_ENDORSER');
    expect(await store.subscriber.getSubscription(id)).toBeUndefined();
  });

  it('subscribes with the URL as given (query kept, credentials apart) and registers all images, state 0', async () => {
    https.routes.set('/lists/image.list', (req, res) => {
      const auth = req.headers.authorization;
      if (auth !== `Basic ${Buffer.from('TOKEN:x-oauth-basic').toString('base64')}`) {
        res.statusCode = 401;
        res.end();
        return;
      }
      res.end(current);
    });
    let current = signed(spec());
    const port = https.port;
    const r = await subs.subscribe(`https://TOKEN:x-oauth-basic@127.0.0.1:${port}${listPath}`, {
      trustAnchor: 'igtf',
    });
    expect(r.subscription.identifier).toBe(LIST_ID);
    expect(r.subscription.uri).toBe(`${https.url}${listPath}`);
    expect(r.endorser).toBe('owen');
    expect(r.autoEndorsed).toBe(false);
    expect(r.images.sort()).toEqual([IMG[0], IMG[1]].sort());
    expect(await store.subscriber.getCredentials(LIST_ID)).toEqual({
      username: 'TOKEN',
      password: 'x-oauth-basic',
    });
    expect((await snapshot()).images.map((i) => i.state)).toEqual([0, 0]);
    expect(await store.subscriber.getLatestImageList(LIST_ID)).toBeUndefined();
    // From here on the list is served without auth checks for the rejection cases.
    https.serve('/lists/image.list', current);
    current = Buffer.alloc(0);
  });

  it('auto-endorses an unknown signer when asked, with a warning', async () => {
    const id = randomUUID();
    const cert = issueCert(pki, 'auto', '/C=DE/O=GermanGrid/OU=DESY/CN=Auto Endorsed');
    https.serve(
      '/lists/auto.list',
      signed(
        spec({
          identifier: id,
          dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Auto Endorsed',
          uri: `${https.url}/lists/auto.list`,
        }),
        cert,
      ),
    );
    const r = await subs.subscribe(`${https.url}/lists/auto.list`, {
      trustAnchor: 'igtf',
      autoEndorse: true,
      updateMode: 3,
    });
    expect(r.autoEndorsed).toBe(true);
    expect(r.warnings.some((w) => w.includes('Auto-endorsing'))).toBe(true);
    const endorser = await store.subscriber.findEndorserByPrincipal({
      subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Auto Endorsed',
      issuer: pki.caSubject,
    });
    expect(endorser?.identifier).toBe(r.endorser);
    expect((await store.subscriber.listImages({ subscription: id })).every((i) => i.cache)).toBe(true);
    await store.subscriber.deleteSubscription(id);
  });

  it('refuses to subscribe twice to the same list', async () => {
    const err = await subs.subscribe(`${https.url}${listPath}`, { trustAnchor: 'igtf' }).catch((e) => e);
    expect(err.code).toBe('ERR_SUB_CONFLICT');
  });
});

describe('update', () => {
  it('imports the list: images become available (state 2), then an identical list is a no-op', async () => {
    const r = await subs.update();
    const mine = r.results.find((x) => x.subscription === LIST_ID);
    expect(mine?.outcome).toBe('updated');
    expect(mine?.error).toBeUndefined();
    expect((await snapshot()).images.map((i) => i.state)).toEqual([2, 2]);
    const again = await subs.update({ identifiers: [LIST_ID] });
    expect(again.results[0].outcome).toBe('unchanged');
    expect(again.results[0].error).toBeUndefined();
  });

  it('updates to a newer version; a new image is refused once, announced once', async () => {
    await store.subscriber.setImageCache(IMG[0], true);
    events.length = 0;
    const v2 = signed(
      spec({
        version: '1.0.1',
        images: [{ identifier: IMG[0] }, { identifier: IMG[1] }, { identifier: IMG[2] }],
      }),
    );
    https.serve('/lists/image.list', v2);
    const r = await subs.update({ identifiers: [LIST_ID] });
    expect(r.results[0].outcome).toBe('updated');
    expect(r.results[0].refused).toEqual([IMG[2]]);
    expect(r.results[0].error).toBeUndefined();
    expect(events.map((e) => [e.image['dc:identifier'], e.accepted])).toEqual([[IMG[2], false]]);
    const snap = await snapshot();
    expect(snap.latest?.version).toBe('1.0.1');
    expect(snap.images.find((i) => i.id === IMG[0])?.state).toBe(3);
    // Same version re-signed: accepted with a warning; the refused image is not announced again.
    https.serve(
      '/lists/image.list',
      signed(
        spec({
          version: '1.0.1',
          images: [{ identifier: IMG[0] }, { identifier: IMG[1] }, { identifier: IMG[2] }],
        }),
      ),
    );
    const r2 = await subs.update({ identifiers: [LIST_ID] });
    expect(r2.results[0].outcome).toBe('updated');
    expect(r2.results[0].refused).toEqual([]);
    expect(r2.results[0].warnings.some((w) => w.includes('without a new version'))).toBe(true);
    expect(events).toHaveLength(1);
  });

  it('accepts new images per update mode 1 and 3', async () => {
    await store.subscriber.updateSubscription(LIST_ID, { updateMode: 3 });
    events.length = 0;
    https.serve(
      '/lists/image.list',
      signed(
        spec({
          version: '1.0.2',
          images: [{ identifier: IMG[0] }, { identifier: IMG[1] }, { identifier: IMG[2] }],
        }),
      ),
    );
    const r = await subs.update({ identifiers: [LIST_ID] });
    expect(r.results[0].error).toBeUndefined();
    expect(r.results[0].accepted).toEqual([IMG[2]]);
    expect(events.map((e) => e.accepted)).toEqual([true]);
    expect((await snapshot()).images.find((i) => i.id === IMG[2])).toMatchObject({ cache: true, state: 3 });
    await store.subscriber.updateSubscription(LIST_ID, { updateMode: 0 });
  });

  it('rejects a tampered list', async () => {
    const good = signed(spec({ version: '2.0.0' })).toString('utf8');
    const tampered = Buffer.from(good.replace('"hv:version": "2.0.0"', '"hv:version": "9.0.0"'));
    expect(tampered.equals(Buffer.from(good))).toBe(false);
    await expectRejected(tampered, 'ERR_LIST_SIGNATURE');
  });

  it('rejects a list signed by a certificate of an unknown CA', async () => {
    await expectRejected(
      signed(
        spec({ version: '2.0.0', dn: otherPki.endorser.subject, ca: otherPki.endorser.issuer }),
        otherPki.endorser,
      ),
      'ERR_LIST_SIGNATURE',
    );
  });

  it('rejects a list whose hv:dn is not the signer', async () => {
    await expectRejected(
      signed(spec({ version: '2.0.0', dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Somebody Else' })),
      'ERR_LIST_SIGNER_MISMATCH',
    );
    await expectRejected(
      signed(spec({ version: '2.0.0', ca: '/C=DE/O=GermanGrid/CN=Other CA' })),
      'ERR_LIST_SIGNER_MISMATCH',
    );
  });

  it('rejects a trusted signer who is not linked to the subscription', async () => {
    const cert = issueCert(pki, 'unlinked', '/C=DE/O=GermanGrid/OU=DESY/CN=Unlinked');
    await store.subscriber.createEndorser('unlinked', [
      { subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Unlinked', issuer: pki.caSubject },
    ]);
    await expectRejected(
      signed(spec({ version: '2.0.0', dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Unlinked' }), cert),
      'ERR_LIST_NOT_AUTHORISED',
    );
  });

  it('rejects a lower hv:version', async () => {
    await expectRejected(signed(spec({ version: '1.0.0' })), 'ERR_LIST_LOWER_VERSION');
  });

  it('rejects an older dc:date:created even with a higher version (rollback)', async () => {
    const stored = await store.subscriber.getLatestImageList(LIST_ID);
    const older = new Date((stored?.created.getTime() ?? Date.now()) - 3600_000);
    await expectRejected(signed(spec({ version: '5.0.0', created: older })), 'ERR_LIST_ROLLBACK');
  });

  it('rejects a list created in the future', async () => {
    await expectRejected(
      signed(spec({ version: '2.0.0', created: new Date(Date.now() + DAY) })),
      'ERR_LIST_CREATED_IN_FUTURE',
    );
  });

  it('rejects signed content that is not JSON, or not an image list', async () => {
    await expectRejected(signWithOpenssl('this is not json\n', pki.endorser, tmp), 'ERR_LIST_NOT_JSON');
    await expectRejected(
      signWithOpenssl('{"hello": "world"}\n', pki.endorser, tmp),
      'ERR_LIST_NOT_IMAGELIST',
    );
  });

  it('rejects a list with another dc:identifier', async () => {
    await expectRejected(signed(spec({ version: '2.0.0', identifier: randomUUID() })), 'ERR_LIST_IDENTIFIER');
  });

  it('rejects an https server with a certificate for another host', async () => {
    const original = (await store.subscriber.getSubscription(LIST_ID))?.uri as string;
    wrongHost.serve('/lists/image.list', signed(spec({ version: '2.0.0' })));
    await store.subscriber.updateSubscription(LIST_ID, { uri: `${wrongHost.url}/lists/image.list` });
    const before = await snapshot();
    const r = await subs.update({ identifiers: [LIST_ID] });
    expect(r.results[0].error?.code).toBe('ERR_LIST_TLS');
    expect(await snapshot()).toEqual(before);
    await store.subscriber.updateSubscription(LIST_ID, { uri: original });
  });

  it('refuses a redirect to file://', async () => {
    await expectRejected(
      () =>
        https.routes.set('/lists/image.list', (_req, res) => {
          res.statusCode = 302;
          res.setHeader('location', `file://${pki.endorser.key}`);
          res.end();
        }),
      'ERR_LIST_REDIRECT',
    );
  });

  it('rejects a list signed by a revoked certificate', async () => {
    const cert = issueCert(pki, 'revoked', '/C=DE/O=GermanGrid/OU=DESY/CN=Revoked Signer');
    await store.subscriber.createEndorser('revoked', [
      { subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Revoked Signer', issuer: pki.caSubject },
    ]);
    await store.subscriber.link('revoked', LIST_ID);
    const data = signed(spec({ version: '2.0.0', dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Revoked Signer' }), cert);
    const revokedDir = copyCertDir(pki, join(tmp, 'certs-revoked'));
    revoke(pki, cert.cert, revokedDir);
    const e = engine(revokedDir);
    try {
      const res = await expectRejected(data, 'ERR_LIST_SIGNATURE', e);
      expect((res.error as ListClientError).smimeCode).toBe('ERR_SMIME_REVOKED');
    } finally {
      await e.close();
      await store.subscriber.unlink('revoked', LIST_ID);
    }
  });

  it('rejects when the CA has no CRL', async () => {
    const e = engine(copyCertDir(pki, join(tmp, 'certs-no-crl'), { withoutCrl: true }));
    try {
      const res = await expectRejected(signed(spec({ version: '2.0.0' })), 'ERR_LIST_SIGNATURE', e);
      expect((res.error as ListClientError).smimeCode).toBe('ERR_SMIME_CRL_MISSING');
    } finally {
      await e.close();
    }
  });

  it('warns about a changed hv:uri and never moves the subscription', async () => {
    https.serve(
      '/lists/image.list',
      signed(spec({ version: '2.0.0', uri: 'https://elsewhere.example/list' })),
    );
    const r = await subs.update({ identifiers: [LIST_ID] });
    expect(r.results[0].outcome).toBe('updated');
    expect(r.results[0].warnings.some((w) => w.includes('list hv:uri does not match subscription uri'))).toBe(
      true,
    );
    expect((await store.subscriber.getSubscription(LIST_ID))?.uri).toBe(`${https.url}${listPath}`);
  });

  it('one bad subscription does not stop the others', async () => {
    const id2 = randomUUID();
    const path2 = '/lists/second.list';
    https.serve(path2, signed(spec({ identifier: id2, version: '3', uri: `${https.url}${path2}` })));
    await subs.subscribe(`${https.url}${path2}`, { trustAnchor: 'igtf' });
    https.serve('/lists/image.list', signed(spec({ version: '0.1' })));
    const r = await subs.update({}, { concurrency: 4 });
    const byId = new Map(r.results.map((x) => [x.subscription, x]));
    expect(byId.get(LIST_ID)?.error?.code).toBe('ERR_LIST_LOWER_VERSION');
    expect(byId.get(id2)?.outcome).toBe('updated');
    await store.subscriber.deleteSubscription(id2);
  });

  it('two concurrent updates serialise on the store lock', async () => {
    // Two engines on one store handle (two processes are exercised by the CLI tests): the second waits for
    // the lock row of the first instead of fetching at the same time.
    let inFlight = 0;
    let maxInFlight = 0;
    const body = signed(spec({ version: '2.0.0', uri: 'https://elsewhere.example/list' }));
    https.routes.set('/lists/image.list', (_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        res.end(body);
      }, 300);
    });
    const subs2 = createSubscriptions({ store, certDir: pki.certDir });
    try {
      const [a, b] = await Promise.all([
        subs.update({ identifiers: [LIST_ID] }),
        subs2.update({ identifiers: [LIST_ID] }),
      ]);
      expect(a.results).toHaveLength(1);
      expect(b.results).toHaveLength(1);
      expect([a.results[0].outcome, b.results[0].outcome].sort()).toEqual(['unchanged', 'updated']);
      expect(maxInFlight).toBe(1);
    } finally {
      await subs2.close();
    }
  });

  it('an expired list marks the stored list expired, so its images stop being available', async () => {
    await store.subscriber.setImageCache(IMG[0], true);
    expect((await snapshot()).images.find((i) => i.id === IMG[0])?.state).toBe(3);
    https.serve(
      '/lists/image.list',
      signed(
        spec({
          version: '2.0.1',
          created: new Date(Date.now() - 40 * DAY),
          expires: new Date(Date.now() - DAY),
        }),
      ),
    );
    const before = await snapshot();
    const r = await subs.update({ identifiers: [LIST_ID] });
    expect(r.results[0].error?.code).toBe('ERR_LIST_EXPIRED');
    expect(r.results[0].markedExpired).toBe(true);
    const after = await snapshot();
    expect(after.latest?.id).toBe(before.latest?.id);
    expect(after.latest?.expired).toBeInstanceOf(Date);
    expect(after.images.find((i) => i.id === IMG[0])?.state).toBe(1);
    expect(after.images.every((i) => (i.state & 2) === 0)).toBe(true);
  });

  it('re-verifies the stored message', async () => {
    const m = await subs.verifiedMessage(LIST_ID);
    expect(JSON.parse(Buffer.from(m.content).toString('utf8'))['hv:imagelist']['dc:identifier']).toBe(
      LIST_ID,
    );
  });
});
