// Ingest and queries against a real store on SQLite and PostgreSQL, with lists signed by the openssl CLI.
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import { TrustStore } from '@hepix/smime-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileEndorserPatterns,
  createIngester,
  type Ingester,
  type MarketplaceRepository,
  marketplaceExtension,
} from '../src/index.js';
import {
  DAY,
  dialects,
  expectCode,
  issueCert,
  makePki,
  revoke,
  sha,
  signedList,
  type TestPki,
  tampered,
  tempDir,
  testDatabase,
} from './helpers.js';

const work = tempDir();
let pki: TestPki;
let other: { cert: string; key: string };
let revoked: { cert: string; key: string };
let foreign: TestPki;

beforeAll(() => {
  pki = makePki(join(work.dir, 'pki'));
  other = issueCert(pki, 'other', '/C=DE/O=GermanGrid/OU=DESY/CN=Other Endorser');
  revoked = issueCert(pki, 'revoked', '/C=DE/O=GermanGrid/OU=DESY/CN=Revoked Endorser');
  revoke(pki, revoked.cert);
  foreign = makePki(join(work.dir, 'foreign'));
}, 180_000);
afterAll(() => work.dispose());

const LIST = '11111111-0000-4000-8000-000000000001';
const img = (n: number) => `aaaaaaaa-0000-4000-8000-${String(n).padStart(12, '0')}`;
const OTHER_SUBJECT = '/C=DE/O=GermanGrid/OU=DESY/CN=Other Endorser';

describe.each(dialects())('ingest on %s', (dialect) => {
  let store: Store;
  let repo: MarketplaceRepository;
  let ingester: Ingester;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    const db = await testDatabase(dialect);
    store = await openStore(db.url, { extensions: [marketplaceExtension] });
    repo = store.extension(marketplaceExtension);
    ingester = createIngester({ repository: repo, trust: () => TrustStore.fromDirectory(pki.certDir) });
    dispose = async () => {
      await store.close();
      await db.dispose();
    };
  });
  afterAll(() => dispose?.());

  /** Everything the repository shows, to prove that a refused upload changed nothing. */
  async function snapshot() {
    const now = new Date();
    const lists = await repo.listLists({ limit: 500 }, now);
    const images = await repo.searchImages({ status: 'all', limit: 500 }, now);
    const data = await Promise.all(lists.items.map((l) => repo.getListData(l.identifier)));
    const versions = await Promise.all(lists.items.map((l) => repo.getList(l.identifier, now)));
    return { lists, images, data: data.map((d) => Buffer.from(d!).toString('base64')), versions };
  }

  it('stores a verified list: its records, its exact bytes and its version history', async () => {
    const data = signedList(
      pki,
      {
        identifier: LIST,
        version: '1',
        vo: 'dteam',
        images: [
          {
            identifier: img(1),
            title: 'ttylinux v14.0 x86_64',
            os: 'ttylinux',
            osversion: '14.0',
            format: 'raw',
            size: 102400000,
            extra: {
              'sl:locations': ['https://mirror.example.org/a.img', 'javascript:alert(1)', 'ftp://x/a', 7],
            },
          },
          { identifier: img(2), extra: { 'sl:deprecated': 'superseded by 3' } },
        ],
      },
      work.dir,
    );
    const r = await ingester.ingest(data);
    expect(r).toMatchObject({ identifier: LIST, version: '1', images: 2 });
    expect(Buffer.from((await repo.getListData(LIST))!).equals(Buffer.from(data))).toBe(true);

    const valid = await repo.searchImages({}, new Date());
    expect(valid.total).toBe(1);
    expect(valid.items[0]).toEqual({
      identifier: img(1),
      title: 'ttylinux v14.0 x86_64',
      description: `Image ${img(1)}`,
      os: 'ttylinux',
      osversion: '14.0',
      arch: 'x86_64',
      hypervisor: 'kvm',
      format: 'raw',
      size: 102400000,
      sha512: sha(img(1)),
      version: '1',
      locations: [`https://example.org/${img(1)}.img`, 'https://mirror.example.org/a.img'],
      endorser: { dn: pki.endorser.subject, ca: pki.endorser.issuer, email: 'owen@example.org' },
      list: { identifier: LIST, version: '1' },
      vo: 'dteam',
      created: expect.stringMatching(/Z$/),
      expires: expect.stringMatching(/Z$/),
      status: 'valid',
      deprecated: null,
    });
    const deprecated = await repo.searchImages({ status: 'deprecated' }, new Date());
    expect(deprecated.items.map((i) => [i.identifier, i.status, i.deprecated])).toEqual([
      [img(2), 'deprecated', 'superseded by 3'],
    ]);
    const list = await repo.getList(LIST, new Date());
    expect(list).toMatchObject({ identifier: LIST, version: '1', images: 2, status: 'valid' });
    expect(list!.imageIdentifiers).toEqual([img(1), img(2)]);
    expect(list!.versions.map((v) => v.version)).toEqual(['1']);
  });

  it('a newer version replaces the images; the history keeps every version that carried one', async () => {
    const data = signedList(
      pki,
      {
        identifier: LIST,
        version: '2',
        created: new Date(Date.now() - DAY / 2),
        images: [{ identifier: img(1), version: '2', sha512: sha('v2') }],
      },
      work.dir,
    );
    expect(await ingester.ingest(data)).toMatchObject({ version: '2', images: 1 });
    const all = await repo.searchImages({ status: 'all' }, new Date());
    expect(all.items.map((i) => [i.identifier, i.list.version, i.version])).toEqual([[img(1), '2', '2']]);
    const detail = await repo.getImage(img(1), new Date());
    expect(detail!.history.map((h) => [h.list.version, h.version, h.sha512])).toEqual([
      ['2', '2', sha('v2')],
      ['1', '1', sha(img(1))],
    ]);
    expect(await repo.getImage(img(2), new Date())).toBeUndefined();
    expect((await repo.getList(LIST, new Date()))!.versions.map((v) => v.version)).toEqual(['2', '1']);
  });

  const bad: [string, () => Uint8Array, string, string?][] = [
    ['an unsigned list', () => Buffer.from('{"hv:imagelist": {}}'), 'ERR_MARKET_NO_SIGNATURE'],
    [
      'a tampered list',
      () => tampered(signedList(pki, { identifier: LIST, version: '9', images: [] }, work.dir)),
      'ERR_MARKET_SIGNATURE',
      'ERR_SMIME_DIGEST_MISMATCH',
    ],
    [
      'a list signed under an untrusted CA',
      () => signedList(foreign, { identifier: LIST, version: '9', images: [] }, work.dir),
      'ERR_MARKET_SIGNATURE',
      'ERR_SMIME_UNTRUSTED',
    ],
    [
      'a list signed with a revoked certificate',
      () =>
        signedList(
          pki,
          {
            identifier: LIST,
            version: '9',
            dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Revoked Endorser',
            images: [],
          },
          work.dir,
          revoked,
        ),
      'ERR_MARKET_SIGNATURE',
      'ERR_SMIME_REVOKED',
    ],
    [
      'a signer who is not the hv:endorser',
      () => signedList(pki, { identifier: LIST, version: '9', images: [] }, work.dir, other),
      'ERR_MARKET_SIGNER_MISMATCH',
    ],
    [
      'an expired list',
      () =>
        signedList(
          pki,
          {
            identifier: LIST,
            version: '9',
            created: new Date(Date.now() - 3 * DAY),
            expires: new Date(Date.now() - DAY),
            images: [],
          },
          work.dir,
        ),
      'ERR_MARKET_EXPIRED',
    ],
    [
      'a list created in the future',
      () =>
        signedList(
          pki,
          { identifier: LIST, version: '9', created: new Date(Date.now() + DAY), images: [] },
          work.dir,
        ),
      'ERR_MARKET_CREATED_IN_FUTURE',
    ],
    [
      'the same version again',
      () => signedList(pki, { identifier: LIST, version: '2', images: [] }, work.dir),
      'ERR_MARKET_NOT_NEWER',
    ],
    [
      'a lower version',
      () => signedList(pki, { identifier: LIST, version: '1.9', images: [] }, work.dir),
      'ERR_MARKET_NOT_NEWER',
    ],
    [
      'a higher version created before the stored one',
      () =>
        signedList(
          pki,
          { identifier: LIST, version: '3', created: new Date(Date.now() - 2 * DAY), images: [] },
          work.dir,
        ),
      'ERR_MARKET_NOT_NEWER',
    ],
    [
      "another endorser's list under the same identifier",
      () =>
        signedList(pki, { identifier: LIST, version: '10', dn: OTHER_SUBJECT, images: [] }, work.dir, other),
      'ERR_MARKET_LIST_OWNER',
    ],
    ['an empty body', () => new Uint8Array(0), 'ERR_MARKET_BAD_REQUEST'],
  ];

  it.each(bad)('refuses %s, and nothing changes', async (_name, make, code, reason) => {
    const before = await snapshot();
    const err = await expectCode(ingester.ingest(make()), code);
    if (reason) expect(err.reason).toBe(reason);
    expect(await snapshot()).toEqual(before);
  });

  it('two uploads of the same new version at once: one is stored, the other is not newer', async () => {
    const CONCURRENT = '11111111-0000-4000-8000-0000000000cc';
    const data = signedList(
      pki,
      { identifier: CONCURRENT, version: '1', images: [{ identifier: img(9) }] },
      work.dir,
    );
    const results = await Promise.allSettled([
      ingester.ingest(data),
      ingester.ingest(data),
      ingester.ingest(data),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason.code).toBe('ERR_MARKET_NOT_NEWER');
    expect((await repo.getList(CONCURRENT, new Date()))!.versions).toHaveLength(1);
  });

  it('refuses a list above the size cap and a signer outside --allow-endorser', async () => {
    const before = await snapshot();
    const data = signedList(
      pki,
      { identifier: LIST, version: '20', created: new Date(), images: [] },
      work.dir,
    );
    const small = createIngester({
      repository: repo,
      trust: () => TrustStore.fromDirectory(pki.certDir),
      maxListBytes: 100,
    });
    await expectCode(small.ingest(data), 'ERR_MARKET_TOO_LARGE');
    const strict = createIngester({
      repository: repo,
      trust: () => TrustStore.fromDirectory(pki.certDir),
      allowEndorsers: compileEndorserPatterns(['/C=DE/O=GermanGrid/OU=DESY/CN=Other.*', 'Owen Synge']),
    });
    // 'Owen Synge' alone does not match: a pattern must match the whole DN.
    await expectCode(strict.ingest(data), 'ERR_MARKET_ENDORSER_NOT_ALLOWED');
    expect(await snapshot()).toEqual(before);
    const allowed = createIngester({
      repository: repo,
      trust: () => TrustStore.fromDirectory(pki.certDir),
      allowEndorsers: compileEndorserPatterns(['/C=DE/O=GermanGrid/OU=DESY/CN=Owen .*']),
    });
    expect((await allowed.ingest(data)).version).toBe('20');
  });
});

describe('compileEndorserPatterns', () => {
  it('refuses an invalid regular expression at once', () => {
    expect(() => compileEndorserPatterns(['/CN=(unclosed'])).toThrowError(
      expect.objectContaining({ code: 'ERR_MARKET_CONFIG' }),
    );
    expect(compileEndorserPatterns(['/CN=a.*'])[0].test('/CN=abc')).toBe(true);
    expect(compileEndorserPatterns(['/CN=a'])[0].test('/O=x/CN=a')).toBe(false);
  });
});
