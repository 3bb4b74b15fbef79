// The engine's composition with the list client and the transport: the trust directory's policy rules and
// allowUnrestrictedCa, the warnings of an opened list logged at WARNING with the subscription and its URI,
// the TLS trust per subscription (none, igtf) and proxies from `fetch.env`.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { LogFields } from '@hepix/common';
import type { ListClientError } from '@hepix/imagelist-client';
import { openStore, type Store } from '@hepix/imagelist-store';
import {
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  signList,
  startHttpsServer,
  startProxy,
  type TestPki,
  type TestProxy,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptions } from '../src/index.js';

const DAY = 86_400_000;
let tmp: string;
let pki: TestPki;
let noPolicyDir: string;
let https: TestServer;
let wrongHost: TestServer;
let proxy: TestProxy;
let store: Store;
const logs: { level: string; message: string; fields?: LogFields }[] = [];
const log = (level: string, message: string, fields?: LogFields) =>
  logs.push({ level, message, ...(fields ? { fields } : {}) });

function list(identifier: string, url: string, options: { images?: unknown[] } = {}) {
  const doc = JSON.parse(
    makeListJson({
      identifier,
      version: '1',
      created: new Date(Date.now() - DAY),
      expires: new Date(Date.now() + DAY),
      uri: url,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: [{ identifier: randomUUID() }],
    }),
  );
  if (options.images) doc['hv:imagelist']['hv:images'].push(...options.images);
  return JSON.stringify(doc, null, 2);
}

beforeAll(async () => {
  tmp = makeTempDir('hepix-sub-trust-');
  pki = makePki(join(tmp, 'pki'));
  noPolicyDir = pki.pki.trustDir('no-policy', { cas: [pki.ca], policies: 'none' }).path;
  https = await startHttpsServer(pki.server.cert, pki.server.key);
  const other = issueCert(pki, 'other-host', '/C=DE/O=GermanGrid/CN=other.example', 'san:DNS:other.example');
  wrongHost = await startHttpsServer(other.cert, other.key);
  proxy = await startProxy();
  store = await openStore(`sqlite:///${join(tmp, 'db.sqlite')}`);
  await store.subscriber.createEndorser('owen', [
    { subject: pki.endorser.subject, issuer: pki.endorser.issuer },
  ]);
}, 120_000);

afterAll(async () => {
  await store?.close();
  await Promise.all([https?.close(), wrongHost?.close(), proxy?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('a CA without namespace or signing policy file', () => {
  const id = randomUUID();
  let url: string;
  beforeAll(() => {
    url = `${https.url}/policy.list`;
    https.serve('/policy.list', signList(list(id, url), pki.endorser));
  });

  it('is refused by default (ERR_SMIME_UNRESTRICTED_CA), and nothing is stored', async () => {
    const subs = createSubscriptions({ store, certDir: noPolicyDir });
    try {
      const err = (await subs.subscribe(url, { trustAnchor: 'igtf' }).catch((e) => e)) as ListClientError;
      expect(err.code).toBe('ERR_LIST_SIGNATURE');
      expect(err.smimeCode).toBe('ERR_SMIME_UNRESTRICTED_CA');
      expect(await store.subscriber.getSubscription(id)).toBeUndefined();
    } finally {
      await subs.close();
    }
  });

  it('is accepted with allowUnrestrictedCa, with a warning naming the subscription', async () => {
    logs.length = 0;
    const subs = createSubscriptions({ store, certDir: noPolicyDir, allowUnrestrictedCa: true, log });
    try {
      const r = await subs.subscribe(url, { trustAnchor: 'igtf' });
      expect(r.warnings.some((w) => w.startsWith(`Image list of subscription '${id}': `))).toBe(true);
      const u = await subs.update({ identifiers: [id] });
      expect(u.results[0].outcome).toBe('updated');
      const warned = logs.filter((l) => l.level === 'warn' && l.message.includes(`subscription '${id}'`));
      expect(warned.length).toBeGreaterThanOrEqual(2);
      expect(warned.at(-1)?.fields).toMatchObject({ subscription: id, uri: url });
    } finally {
      await subs.close();
    }
  });
});

describe('warnings of an opened list', () => {
  it('a SHA-1 signature and an invalid image, each at WARNING with the subscription and its URI', async () => {
    const id = randomUUID();
    const url = `${https.url}/warn.list`;
    const broken = randomUUID();
    https.serve('/warn.list', signList(list(id, url), pki.endorser));
    logs.length = 0;
    const subs = createSubscriptions({ store, certDir: pki.certDir, log });
    try {
      await subs.subscribe(url, { trustAnchor: 'igtf' });
      https.serve(
        '/warn.list',
        signList(
          list(id, url, { images: [{ 'hv:image': { 'dc:identifier': broken, 'hv:size': 1 } }] }),
          pki.endorser,
          {
            digest: 'sha1',
          },
        ),
      );
      const r = await subs.update({ identifiers: [id] });
      expect(r.results[0].outcome).toBe('updated');
      const warned = logs.filter((l) => l.level === 'warn' && l.fields?.subscription === id);
      expect(warned.every((l) => l.fields?.uri === url)).toBe(true);
      expect(warned.some((l) => /SHA-?1/i.test(l.message))).toBe(true);
      expect(
        warned.some((l) => l.message.includes(`image 1 '${broken}'`) && l.message.includes('image dropped')),
      ).toBe(true);
      expect(r.results[0].warnings.some((w) => w.includes(broken))).toBe(true);
      expect(
        (await store.subscriber.listImages({ subscription: id })).map((i) => i.identifier),
      ).not.toContain(broken);
    } finally {
      await subs.close();
    }
  });
});

describe('TLS trust per subscription, and proxies', () => {
  it('none: a server with a certificate for another host is read (with a warning); igtf refuses it', async () => {
    const id = randomUUID();
    const url = `${wrongHost.url}/none.list`;
    wrongHost.serve('/none.list', signList(list(id, url), pki.endorser));
    const subs = createSubscriptions({ store, certDir: pki.certDir, log });
    try {
      const err = (await subs.subscribe(url, { trustAnchor: 'igtf' }).catch((e) => e)) as ListClientError;
      expect(err.code).toBe('ERR_LIST_TLS');
      logs.length = 0;
      await subs.subscribe(url, { trustAnchor: 'none' });
      expect((await store.subscriber.getSubscription(id))?.trustAnchor).toBe('none');
      expect(logs.some((l) => l.level === 'warn')).toBe(true);
    } finally {
      await subs.close();
    }
  });

  it('HTTPS_PROXY from fetch.env: the list comes through a CONNECT tunnel, still verified', async () => {
    const id = randomUUID();
    const url = `${https.url}/proxied.list`;
    https.serve('/proxied.list', signList(list(id, url), pki.endorser));
    const subs = createSubscriptions({
      store,
      certDir: pki.certDir,
      fetch: { env: { HTTPS_PROXY: proxy.url } },
    });
    try {
      await subs.subscribe(url, { trustAnchor: 'igtf' });
      expect(proxy.seen).toContain(`127.0.0.1:${https.port}`);
      const r = await subs.update({ identifiers: [id] });
      expect(r.results[0].outcome).toBe('updated');
    } finally {
      await subs.close();
    }
  });
});
