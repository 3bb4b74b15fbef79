// Search, sort, paging and counts over real stores (SQLite and PostgreSQL); every filter uses an index.
import { join } from 'node:path';
import { openStore, type Store } from '@hepix/imagelist-store';
import { TrustStore } from '@hepix/smime-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIngester,
  type ImageQuery,
  type MarketplaceRepository,
  marketplaceExtension,
} from '../src/index.js';
import {
  DAY,
  dialects,
  type ImageSpec,
  issueCert,
  makePki,
  sha,
  signedList,
  type TestPki,
  tempDir,
  testDatabase,
} from './helpers.js';

const work = tempDir();
let pki: TestPki;
let other: { cert: string; key: string };
const OTHER = '/C=DE/O=GermanGrid/OU=CERN/CN=Jane Doe';
const A = '22222222-0000-4000-8000-00000000000a';
const B = '22222222-0000-4000-8000-00000000000b';
const BULK = '22222222-0000-4000-8000-0000000000cc';
const id = (n: number) => `bbbbbbbb-0000-4000-8000-${String(n).padStart(12, '0')}`;

beforeAll(() => {
  pki = makePki(join(work.dir, 'pki'));
  other = issueCert(pki, 'jane', OTHER);
}, 180_000);
afterAll(() => work.dispose());

const imagesA: ImageSpec[] = [
  {
    identifier: id(1),
    title: 'Alpha SL6',
    os: 'Linux',
    osversion: 'SL 6.4',
    arch: 'x86_64',
    format: 'QCOW2',
  },
  {
    identifier: id(2),
    title: 'beta CentOS',
    os: 'linux',
    osversion: '7',
    arch: 'aarch64',
    format: 'raw',
    hypervisor: 'xen',
  },
  {
    identifier: id(3),
    title: 'Gamma Windows',
    os: 'Windows',
    osversion: '2019',
    description: 'A 100% pure_image',
  },
  { identifier: id(4), title: 'Delta old', extra: { 'sl:deprecated': 'use Alpha' } },
  {
    identifier: id(5),
    title: 'Epsilon AppDB',
    extra: { 'dc:date:expires': new Date(Date.now() - DAY).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  },
];

describe.each(dialects())('queries on %s', (dialect) => {
  let store: Store;
  let repo: MarketplaceRepository;
  let dispose: () => Promise<void>;
  const now = new Date();
  const ids = async (q: ImageQuery) => (await repo.searchImages(q, now)).items.map((i) => i.identifier);

  beforeAll(async () => {
    const db = await testDatabase(dialect);
    store = await openStore(db.url, { extensions: [marketplaceExtension] });
    repo = store.extension(marketplaceExtension);
    const ingester = createIngester({ repository: repo, trust: () => TrustStore.fromDirectory(pki.certDir) });
    await ingester.ingest(
      signedList(
        pki,
        {
          identifier: A,
          version: '1',
          vo: 'dteam',
          created: new Date(Date.now() - 2 * DAY),
          images: imagesA,
        },
        work.dir,
      ),
    );
    await ingester.ingest(
      signedList(
        pki,
        {
          identifier: B,
          version: '1',
          dn: OTHER,
          email: 'Jane.Doe@Example.org',
          vo: 'atlas',
          images: [
            { identifier: id(6), title: 'Zeta', os: 'Linux', sha512: sha('zeta') },
            { identifier: id(1), title: 'Alpha by Jane' },
          ],
        },
        work.dir,
        other,
      ),
    );
    await ingester.ingest(
      signedList(
        pki,
        {
          identifier: BULK,
          version: '1',
          created: new Date(Date.now() - 3 * DAY),
          images: Array.from({ length: 520 }, (_, i) => ({
            identifier: id(1000 + i),
            os: 'Bulk',
            title: `bulk ${i}`,
          })),
        },
        work.dir,
      ),
    );
    dispose = async () => {
      await store.close();
      await db.dispose();
    };
  }, 120_000);
  afterAll(() => dispose?.());

  it('filters: case-insensitive fields, endorser by e-mail or any DN spelling, vo, sha512, text', async () => {
    expect((await ids({ os: 'LINUX' })).sort()).toEqual([id(1), id(1), id(2), id(6)].sort());
    expect(await ids({ arch: 'AARCH64' })).toEqual([id(2)]);
    expect(await ids({ osversion: 'sl 6.4', os: 'linux', vo: 'DTEAM' })).toEqual([id(1)]);
    expect(await ids({ format: 'qcow2' })).toEqual([id(1)]);
    expect(await ids({ hypervisor: 'XEN' })).toEqual([id(2)]);
    expect((await ids({ endorser: 'jane.doe@example.org' })).sort()).toEqual([id(1), id(6)].sort());
    expect((await ids({ endorser: 'C = DE, O = GermanGrid, OU = CERN, CN = Jane Doe' })).sort()).toEqual(
      [id(1), id(6)].sort(),
    );
    expect(await ids({ sha512: sha('zeta').toUpperCase() })).toEqual([id(6)]);
    // LIKE wildcards in the text are literal characters.
    expect(await ids({ q: '0% p' })).toEqual([id(3)]);
    expect(await ids({ q: 'PURE_' })).toEqual([id(3)]);
    expect(await ids({ q: 'e_a' })).toEqual([]);
    expect(await ids({ q: "'; drop table marketplace_image; --" })).toEqual([]);
    expect((await repo.searchImages({ status: 'all' }, now)).total).toBe(527);
  });

  it('status: valid by default, expired (list or image expiry), deprecated, all', async () => {
    const valid = await ids({ limit: 500, status: 'valid' });
    expect(valid).not.toContain(id(4));
    expect(valid).not.toContain(id(5));
    expect(await ids({ status: 'deprecated' })).toEqual([id(4)]);
    expect(await ids({ status: 'expired' })).toEqual([id(5)]);
    const item = (await repo.searchImages({ status: 'expired' }, now)).items[0];
    expect(item.status).toBe('expired');
    // Later, every image of the lists has expired.
    const later = new Date(Date.now() + 60 * DAY);
    expect((await repo.searchImages({}, later)).total).toBe(0);
    expect((await repo.searchImages({ status: 'expired' }, later)).total).toBe(527);
  });

  it('sorts by created, title, os; pages are disjoint and the limit is clamped to 500', async () => {
    const small = { os: 'linux' };
    const byCreated = (await repo.searchImages({ ...small, sort: 'created' }, now)).items;
    expect(byCreated[0].list.identifier).toBe(B); // the newest list first
    const byTitle = await repo.searchImages({ status: 'all', sort: 'title', vo: 'dteam' }, now);
    expect(byTitle.items.map((i) => i.title)).toEqual([
      'Alpha SL6',
      'beta CentOS',
      'Delta old',
      'Epsilon AppDB',
      'Gamma Windows',
    ]);
    const desc = await repo.searchImages({ sort: 'os', order: 'desc', limit: 1 }, now);
    expect(desc.items[0].os).toBe('Windows');

    const clamped = await repo.searchImages({ os: 'bulk', limit: 100000 }, now);
    expect(clamped.total).toBe(520);
    expect(clamped.items).toHaveLength(500);
    const seen = new Set<string>();
    for (let offset = 0; offset < 520; offset += 200) {
      const page = await repo.searchImages({ os: 'bulk', limit: 200, offset, sort: 'title' }, now);
      expect(page.total).toBe(520);
      for (const i of page.items) seen.add(i.identifier);
    }
    expect(seen.size).toBe(520);
  });

  it('image details: every carrying list, the valid one first; endorsers and lists with counts', async () => {
    const detail = (await repo.getImage(id(1), now))!;
    expect(detail.lists.map((l) => l.list.identifier).sort()).toEqual([A, B].sort());
    expect(detail.history).toHaveLength(2);
    const endorsers = await repo.listEndorsers({});
    expect(endorsers.total).toBe(2);
    expect(endorsers.items.map((e) => [e.email, e.lists, e.images])).toEqual([
      ['Jane.Doe@Example.org', 1, 2],
      ['owen@example.org', 2, 525],
    ]);
    const lists = await repo.listLists({ limit: 2 }, now);
    expect(lists.total).toBe(3);
    expect(lists.items.map((l) => l.identifier)).toEqual([A, B]);
    expect((await repo.listLists({ limit: 2, offset: 2 }, now)).items.map((l) => l.identifier)).toEqual([
      BULK,
    ]);
    const soon = await repo.expiringLists(now, new Date(now.getTime() + 30 * DAY), now);
    expect(soon.map((l) => l.identifier).sort()).toEqual([A, B, BULK].sort());
  });

  // SQLite only: PostgreSQL 15 cannot show the plan of a parameterised query.
  if (dialect === 'sqlite')
    it('every filter and sort is served by an index (SQLite query plans)', async () => {
      const queries: ImageQuery[] = [
        { os: 'linux', status: 'all' },
        { osversion: '7', status: 'all' },
        { arch: 'x86_64', status: 'all' },
        { endorser: 'owen@example.org', status: 'all' },
        { endorser: pki.endorser.subject, status: 'all' },
        { vo: 'dteam', status: 'all' },
        { format: 'raw', status: 'all' },
        { hypervisor: 'kvm', status: 'all' },
        { sha512: sha('zeta'), status: 'all' },
        { status: 'valid' },
        { status: 'deprecated' },
        { status: 'expired' },
        { status: 'all', sort: 'created' },
        { status: 'all', sort: 'title' },
        { status: 'all', sort: 'os' },
      ];
      for (const q of queries) {
        const plan = await repo.explainImageSearch(q, now);
        expect(plan.join('\n'), JSON.stringify(q)).toMatch(/USING (COVERING )?INDEX/);
        expect(plan, JSON.stringify(q)).not.toContain('SCAN marketplace_image');
      }
    });
});
