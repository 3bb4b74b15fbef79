// openList against lists signed with the openssl CLI: what verifies, and each refusal with its code.
import { rmSync } from 'node:fs';
import { TrustStore } from '@hepix/smime-x509';
import {
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  signList,
  signWithOpenssl,
  type TestPki,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListClientError, openList } from '../src/index.js';

const DAY = 86_400_000;
let tmp: string;
let pki: TestPki;
let trust: TrustStore;

beforeAll(async () => {
  tmp = makeTempDir('hepix-client-');
  pki = makePki(`${tmp}/pki`);
  trust = await TrustStore.fromDirectory(pki.certDir);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function list(over: { dn?: string; ca?: string; extra?: Record<string, unknown>; identifier?: string } = {}) {
  return makeListJson({
    identifier: over.identifier ?? '63175437-7d59-4851-b333-c96cb6545a86',
    version: '3.1',
    created: new Date(Date.now() - DAY),
    expires: new Date(Date.now() + 28 * DAY),
    uri: 'https://example.org/image.list',
    dn: over.dn ?? pki.endorser.subject,
    ca: over.ca ?? pki.endorser.issuer,
    images: [{ identifier: '858a817e-0ca2-473f-89d3-d5bdfc51968e', format: 'qcow2' }],
    ...(over.extra ? { extra: over.extra } : {}),
  });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<ListClientError> {
  const err = await p.then(
    () => {
      throw new Error(`expected ${code}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ListClientError);
  expect((err as ListClientError).code).toBe(code);
  return err as ListClientError;
}

describe('openList', () => {
  it('opens a list signed by its declared endorser', async () => {
    const opened = await openList(signWithOpenssl(list(), pki.endorser, tmp), { trust, at: new Date() });
    expect(opened.identifier).toBe('63175437-7d59-4851-b333-c96cb6545a86');
    expect(opened.version).toBe('3.1');
    expect(opened.signer).toEqual({ subject: pki.endorser.subject, issuer: pki.endorser.issuer });
    expect(opened.images.map((i) => i['dc:identifier'])).toEqual(['858a817e-0ca2-473f-89d3-d5bdfc51968e']);
    expect(opened.document['hv:imagelist']).toBe(opened.list);
    expect(opened.uri).toBe('https://example.org/image.list');
    expect(opened.created.getTime()).toBeLessThan(Date.now());
    expect(opened.digestAlgorithm).toMatch(/^sha-?\d/i);
  });

  it('accepts the declared DN in the OpenSSL 3 spelling and among several endorsers', async () => {
    // openssl's -subj needs the slash inside the CN escaped.
    const host = issueCert(pki, 'slashy', '/C=DE/O=GermanGrid/OU=DESY/CN=host\\/vm.example.org');
    const v3 = '/C=DE/O=GermanGrid/OU=DESY/CN=host\\/vm.example.org';
    const doc = JSON.parse(list({ dn: v3 }));
    doc['hv:imagelist']['hv:endorser'] = [
      {
        'hv:x509': {
          'dc:creator': 'Someone',
          'hv:email': 's@example.org',
          'hv:dn': '/CN=someone else',
          'hv:ca': pki.endorser.issuer,
        },
      },
      doc['hv:imagelist']['hv:endorser'],
    ];
    const opened = await openList(signWithOpenssl(JSON.stringify(doc), host, tmp), { trust, at: new Date() });
    expect(opened.signer.subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=host/vm.example.org');
  });

  it('refuses a list whose declared endorser is not its signer (ERR_LIST_SIGNER_MISMATCH)', async () => {
    const other = issueCert(pki, 'other', '/C=DE/O=GermanGrid/OU=DESY/CN=Mallory');
    await expectCode(
      openList(signWithOpenssl(list(), other, tmp), { trust, at: new Date() }),
      'ERR_LIST_SIGNER_MISMATCH',
    );
    const wrongCa = signWithOpenssl(list({ ca: '/C=DE/O=GermanGrid/CN=Another CA' }), pki.endorser, tmp);
    const e = await expectCode(openList(wrongCa, { trust, at: new Date() }), 'ERR_LIST_SIGNER_MISMATCH');
    expect(e.message).toContain('hv:ca');
  });

  it('refuses a tampered list (ERR_LIST_SIGNATURE, with the S/MIME code)', async () => {
    const signed = signWithOpenssl(list(), pki.endorser, tmp).toString('latin1').replace('3.1', '9.9');
    const e = await expectCode(
      openList(Buffer.from(signed, 'latin1'), { trust, at: new Date() }),
      'ERR_LIST_SIGNATURE',
    );
    expect(e.smimeCode).toBe('ERR_SMIME_DIGEST_MISMATCH');
  });

  it('refuses signed content that is not JSON, or not an image list', async () => {
    await expectCode(
      openList(signWithOpenssl('not json {', pki.endorser, tmp), { trust, at: new Date() }),
      'ERR_LIST_NOT_JSON',
    );
    await expectCode(
      openList(signWithOpenssl('{"hv:imagelist": {"dc:identifier": 3}}', pki.endorser, tmp), {
        trust,
        at: new Date(),
      }),
      'ERR_LIST_NOT_IMAGELIST',
    );
  });

  it('refuses a list with a NUL character in a string (ERR_LIST_NOT_IMAGELIST), naming where', async () => {
    const doc = JSON.parse(list());
    const img = doc['hv:imagelist']['hv:images'][0]['hv:image'];
    img['dc:identifier'] = `${img['dc:identifier']}\u0000evil`;
    const e = await expectCode(
      openList(signList(JSON.stringify(doc), pki.endorser), { trust, at: new Date() }),
      'ERR_LIST_NOT_IMAGELIST',
    );
    expect(e.message).toContain('/hv:imagelist/hv:images/0/hv:image/dc:identifier holds a NUL character');
    // A backslash followed by `u0000` is text, not a NUL: the list opens.
    img['dc:identifier'] = img['dc:identifier'].replace('\u0000', '');
    img['dc:description'] = 'a literal \\u0000 in the text';
    const opened = await openList(signList(JSON.stringify(doc), pki.endorser), { trust, at: new Date() });
    expect(JSON.stringify(opened.document)).toContain('\\\\u0000');
  });

  it('warns in words: a SHA-1 signature, and every dropped image named by position and identifier', async () => {
    const doc = JSON.parse(list());
    const good = doc['hv:imagelist']['hv:images'][0];
    const broken = structuredClone(good);
    broken['hv:image']['dc:identifier'] = 'bad00000-0000-4000-8000-000000000001';
    delete broken['hv:image']['hv:uri'];
    doc['hv:imagelist']['hv:images'] = [good, broken, { 'hv:image': { 'hv:size': 3 } }];
    const opened = await openList(signList(JSON.stringify(doc), pki.endorser, { digest: 'sha1' }), {
      trust,
      at: new Date(),
    });
    expect(opened.images.map((i) => i['dc:identifier'])).toEqual(['858a817e-0ca2-473f-89d3-d5bdfc51968e']);
    expect(opened.warnings.some((w) => w.includes('[object Object]'))).toBe(false);
    expect(opened.warnings.some((w) => /SHA-?1/i.test(w))).toBe(true);
    const dropped = opened.warnings.filter((w) => w.includes('image dropped'));
    expect(dropped.some((w) => w.startsWith("image 1 'bad00000-0000-4000-8000-000000000001': "))).toBe(true);
    expect(dropped.some((w) => w.startsWith('image 2: '))).toBe(true);
    expect(dropped.every((w) => /\(\/hv:imagelist\/hv:images\/[12]/.test(w))).toBe(true);
  });
});
