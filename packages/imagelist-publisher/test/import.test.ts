// Imports with the subscriber's checks: lists signed with `openssl smime -sign` by the test PKI, opened by
// @hepix/imagelist-client (signature, schema, signer == hv:endorser), dates judged by decideUpdate; downloads
// through @hepix/transport from a real https server. Every refusal asserts its code and an unchanged store.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  issueCert,
  makeListJson,
  makePki,
  signList,
  startHttpsServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { createTransport, type Transport } from '@hepix/transport';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadImageList, importJsonImageList, importSignedImageList } from '../src/index.js';
import { expectCode, type Fixture, fixture, snapshot } from './helpers.js';

const DAY = 86_400_000;
let pki: TestPki;
let eve: { cert: string; key: string };
beforeAll(() => {
  pki = makePki();
  // Trusted by the same CA, but not the list's declared endorser.
  eve = issueCert(pki, 'eve', '/C=DE/O=GermanGrid/OU=DESY/CN=Eve Example');
});

function listJson(identifier: string, created: Date, expires: Date, version = '3'): string {
  return makeListJson({
    identifier,
    version,
    created,
    expires,
    uri: `https://img.example/lists/${identifier}.smime`,
    dn: pki.endorser.subject,
    ca: pki.caSubject,
    images: [{ identifier: `${identifier}-img`, version: '1' }],
  });
}
const current = (id: string) => listJson(id, new Date(Date.now() - DAY), new Date(Date.now() + 30 * DAY));

let f: Fixture;
beforeEach(async () => {
  f = await fixture();
  await f.store.publisher.addImageList('existing', { 'dc:title': 'kept' });
});
afterEach(async () => f.dispose());

async function refused(code: string, run: () => Promise<unknown>) {
  const before = await snapshot(f.store.publisher);
  const err = await expectCode(run(), code);
  expect(await snapshot(f.store.publisher)).toEqual(before);
  return err;
}

describe('importSignedImageList', () => {
  it('imports a verified list and names its signer', async () => {
    const id = randomUUID();
    const r = await importSignedImageList(f.store.publisher, signList(current(id), pki.endorser), {
      caDir: pki.certDir,
    });
    expect(r).toMatchObject({
      identifier: id,
      created: true,
      verified: true,
      signer: { subject: pki.endorser.subject, issuer: pki.caSubject },
    });
    expect((await f.store.publisher.getImageList(id))?.images).toEqual([`${id}-img`]);
    // The document as signed: the empty sl:comments is kept.
    expect((await f.store.publisher.getImage(`${id}-img`))?.metadata['sl:comments']).toBe('');
  });

  it('refuses a list signed by someone other than its hv:endorser (ERR_LIST_SIGNER_MISMATCH)', async () => {
    const err = await refused('ERR_LIST_SIGNER_MISMATCH', () =>
      importSignedImageList(f.store.publisher, signList(current(randomUUID()), eve), { caDir: pki.certDir }),
    );
    expect(err.message).toMatch(/Eve Example/);
  });

  it('refuses a tampered list, an untrusted signer, content that is not JSON', async () => {
    const tampered = Buffer.from(
      signList(current(randomUUID()), pki.endorser).toString('utf8').replace('Test list', 'Evil list'),
    );
    await refused('ERR_LIST_SIGNATURE', () =>
      importSignedImageList(f.store.publisher, tampered, { caDir: pki.certDir }),
    );
    const elsewhere = makePki(undefined, 'Other');
    await refused('ERR_LIST_SIGNATURE', () =>
      importSignedImageList(f.store.publisher, signList(current(randomUUID()), pki.endorser), {
        caDir: elsewhere.certDir,
      }),
    );
    await refused('ERR_LIST_NOT_JSON', () =>
      importSignedImageList(f.store.publisher, signList('not json\n', pki.endorser), { caDir: pki.certDir }),
    );
    await refused('ERR_PUBLISHER_TRUST', () =>
      importSignedImageList(f.store.publisher, signList(current(randomUUID()), pki.endorser), {
        caDir: join(f.dir, 'no-such-dir'),
      }),
    );
  });

  it('refuses a list created in the future; imports an expired one with a warning', async () => {
    const future = listJson(randomUUID(), new Date(Date.now() + DAY), new Date(Date.now() + 30 * DAY));
    await refused('ERR_LIST_CREATED_IN_FUTURE', () =>
      importSignedImageList(f.store.publisher, signList(future, pki.endorser), { caDir: pki.certDir }),
    );
    const id = randomUUID();
    const logs: string[] = [];
    const expired = listJson(id, new Date(Date.now() - 30 * DAY), new Date(Date.now() - DAY));
    const r = await importSignedImageList(f.store.publisher, signList(expired, pki.endorser), {
      caDir: pki.certDir,
      log: (_l, m) => logs.push(m),
    });
    expect(r.created).toBe(true);
    expect(r.warnings.join('\n')).toMatch(/has expired.*imported anyway/);
    expect(logs.join('\n')).toMatch(/has expired/);
  });

  it('--no-verify imports without checks (signer, signature), as before', async () => {
    const id = randomUUID();
    const tampered = Buffer.from(
      signList(current(id), eve)
        .toString('utf8')
        .replace('"dc:title": "Test list"', '"dc:title": "Other list"'),
    );
    const r = await importSignedImageList(f.store.publisher, tampered, { noVerify: true });
    expect(r).toMatchObject({ identifier: id, verified: false });
    expect(r.signer).toBeUndefined();
    expect((await f.store.publisher.getImageList(id))?.metadata['dc:title']).toBe('Other list');
  });
});

describe('importJsonImageList', () => {
  it('imports a list validated in compatible mode; refuses what is not one', async () => {
    const id = randomUUID();
    expect(await importJsonImageList(f.store.publisher, current(id))).toMatchObject({
      identifier: id,
      verified: false,
    });
    await refused('ERR_PUBLISHER_DOCUMENT', () => importJsonImageList(f.store.publisher, '{ not json'));
    const err = await refused('ERR_PUBLISHER_DOCUMENT', () =>
      importJsonImageList(f.store.publisher, JSON.stringify({ 'hv:imagelist': { 'dc:identifier': 'x' } })),
    );
    expect((err as unknown as { details: string[] }).details.length).toBeGreaterThan(0);
  });
});

describe('downloadImageList', () => {
  let server: TestServer;
  let transport: Transport;
  const tls = () => ({ mode: 'ca' as const, ca: [readFileSync(pki.ca.cert)] });
  beforeAll(async () => {
    server = await startHttpsServer(pki.server.cert, pki.server.key);
    transport = createTransport();
  });
  afterAll(async () => {
    await transport.close();
    await server.close();
  });

  it('fetches hv:uri over https (server verified), opens and imports it', async () => {
    const id = randomUUID();
    server.serve(`/${id}.smime`, signList(current(id), pki.endorser));
    await f.store.publisher.addImageList(id, { 'hv:uri': `${server.url}/${id}.smime` });
    const r = await downloadImageList(f.store.publisher, id, { transport, tls: tls(), caDir: pki.certDir });
    expect(r).toMatchObject({
      identifier: id,
      created: false,
      verified: true,
      uri: `${server.url}/${id}.smime`,
    });
    expect((await f.store.publisher.getImageList(id))?.images).toEqual([`${id}-img`]);
  });

  it('file: URLs; a list under another identifier is imported with a warning', async () => {
    const id = randomUUID();
    const file = join(f.dir, 'list.smime');
    writeFileSync(file, signList(current('someone-else'), pki.endorser));
    await f.store.publisher.addImageList(id, { 'hv:uri': pathToFileURL(file).href });
    const r = await downloadImageList(f.store.publisher, id, { transport, caDir: pki.certDir });
    expect(r.identifier).toBe('someone-else');
    expect(r.warnings.join('\n')).toMatch(/has dc:identifier someone-else, not /);
  });

  it('refusals: HTTP 404, an unauthenticated server, a bad signer, no hv:uri, no such list', async () => {
    const id = randomUUID();
    await f.store.publisher.addImageList(id, { 'hv:uri': `${server.url}/missing.smime` });
    const e404 = await refused('ERR_LIST_FETCH', () =>
      downloadImageList(f.store.publisher, id, { transport, tls: tls(), caDir: pki.certDir }),
    );
    expect((e404 as unknown as { httpStatus: number }).httpStatus).toBe(404);
    server.serve(`/${id}.smime`, signList(current(id), eve));
    await f.store.publisher.setImageListKeys(id, { 'hv:uri': `${server.url}/${id}.smime` });
    await refused('ERR_LIST_TLS', () =>
      downloadImageList(f.store.publisher, id, { transport, caDir: pki.certDir }),
    );
    await refused('ERR_LIST_SIGNER_MISMATCH', () =>
      downloadImageList(f.store.publisher, id, { transport, tls: tls(), caDir: pki.certDir }),
    );
    await refused('ERR_PUBLISHER_LIST_NO_URI', () =>
      downloadImageList(f.store.publisher, 'existing', { transport, caDir: pki.certDir }),
    );
    await refused('ERR_PUBLISHER_NOT_FOUND', () =>
      downloadImageList(f.store.publisher, 'nope', { transport, caDir: pki.certDir }),
    );
  });
});
