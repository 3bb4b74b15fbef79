// One DN spelling: principals, list signers and publisher endorsers are written and looked up in canonicalDn()
// form, so that the OpenSSL 3 spelling a user types (`\/` inside a value) and the OpenSSL 1.x form a
// certificate gives are the same principal. Databases written before are migrated (0003).
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { planCanonicalKeys } from '../src/dn.js';
import { openStore, type Store } from '../src/index.js';
import type { InternalOpenOptions } from '../src/store.js';
import { createTestDatabase, dialects, expectCode, freshStore, withRawDb } from './helpers.js';

// The CN of a host certificate holds a slash: OpenSSL 3 escapes it, 1.x does not.
const V1 = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=host/vm.example.org',
  issuer: '/C=DE/O=GermanGrid/CN=HEPiX CA/2',
};
const V3 = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=host\\/vm.example.org',
  issuer: '/C=DE/O=GermanGrid/CN=HEPiX CA\\/2',
};
const SPACED = {
  subject: 'subject=C = DE, O = GermanGrid, OU = DESY, CN = host/vm.example.org',
  issuer: 'issuer=C = DE, O = GermanGrid, CN = HEPiX CA/2',
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('planCanonicalKeys', () => {
  const canon = (s: string) => s.toLowerCase();
  it.each([
    ['nothing to do', [{ id: 1, key: 'a' }], { updates: [], merges: [] }],
    ['one respelled', [{ id: 1, key: 'A' }], { updates: [{ id: 1, from: 'A', to: 'a' }], merges: [] }],
    [
      'two spellings: the older row is kept',
      [
        { id: 2, key: 'a' },
        { id: 1, key: 'A' },
      ],
      { updates: [{ id: 1, from: 'A', to: 'a' }], merges: [{ id: 2, into: 1, from: 'a', to: 'a' }] },
    ],
    [
      'three rows, one group',
      [
        { id: 1, key: 'b' },
        { id: 3, key: 'B' },
        { id: 2, key: 'c' },
      ],
      { updates: [], merges: [{ id: 3, into: 1, from: 'B', to: 'b' }] },
    ],
  ])('%s', (_name, rows, plan) => {
    expect(planCanonicalKeys(rows, canon)).toEqual(plan);
  });

  it('uses canonicalDn by default', () => {
    expect(
      planCanonicalKeys([
        { id: 1, key: V3.subject },
        { id: 2, key: V1.subject },
      ]),
    ).toEqual({
      updates: [{ id: 1, from: V3.subject, to: V1.subject }],
      merges: [{ id: 2, into: 1, from: V1.subject, to: V1.subject }],
    });
  });
});

function listInput(signer: { subject: string; issuer: string }) {
  const data = new TextEncoder().encode('signed bytes');
  return {
    data,
    dataHash: createHash('sha512').update(data).digest('hex'),
    created: new Date('2026-01-01T00:00:00Z'),
    expires: new Date('2099-01-01T00:00:00Z'),
    version: '1',
    signer,
    metadata: {},
    images: [],
  };
}

describe.each(dialects())('canonical DNs on %s', (dialect) => {
  async function store(): Promise<{ store: Store; url: string }> {
    const t = await freshStore(dialect, { now: () => new Date('2026-06-01T00:00:00Z') });
    cleanups.push(() => t.dispose());
    return t;
  }

  it('an endorser created with the OpenSSL 3 spelling authorises the signer as a certificate gives it', async () => {
    const { store: s } = await store();
    const sub = s.subscriber;
    const created = await sub.createEndorser('host', [V3]);
    expect(created.principals).toEqual([V1]);
    await sub.createSubscription({ identifier: 'l', description: '', uri: 'https://x/l', endorser: 'host' });
    expect(await sub.isAuthorised('l', V1)).toBe(true);
    expect(await sub.isAuthorised('l', V3)).toBe(true);
    expect(await sub.isAuthorised('l', SPACED)).toBe(true);
    expect((await sub.findEndorserByPrincipal(V1))?.identifier).toBe('host');
    expect((await sub.findEndorserByPrincipal(SPACED))?.identifier).toBe('host');
    expect(await sub.listEndorsers()).toEqual([{ identifier: 'host', principals: [V1] }]);
    // Recorded signers are canonical too.
    await sub.recordImageList('l', listInput(V3));
    expect((await sub.getLatestImageList('l'))?.signer).toEqual(V1);
  });

  it('the same DN in another spelling is a conflict, and nothing changes', async () => {
    const { store: s } = await store();
    await s.subscriber.createEndorser('host', [V1]);
    const before = await s.subscriber.listEndorsers();
    await expectCode(s.subscriber.createEndorser('other', [V3]), 'ERR_STORE_CONFLICT');
    await expectCode(
      s.subscriber.createEndorser('twice', [V1, { ...V3, issuer: '/CN=Else' }]),
      'ERR_STORE_CONFLICT',
    );
    expect(await s.subscriber.listEndorsers()).toEqual(before);
  });

  it('publisher endorsers are keyed by the canonical DN and published in the 1.x form', async () => {
    const { store: s } = await store();
    const p = s.publisher;
    await p.addEndorser(V3.subject, { 'hv:ca': V3.issuer, 'dc:creator': 'Owen' });
    expect(await p.listEndorsers()).toEqual([V1.subject]);
    expect((await p.getEndorser(V1.subject))?.metadata).toEqual({ 'hv:ca': V1.issuer, 'dc:creator': 'Owen' });
    expect((await p.getEndorser(V3.subject))?.dn).toBe(V1.subject);
    await expectCode(p.addEndorser(V1.subject), 'ERR_STORE_CONFLICT');
    await p.setEndorserKeys(V3.subject, { 'hv:ca': SPACED.issuer });
    await p.addImageList('list');
    await p.bindEndorser('list', V3.subject);
    expect((await p.getImageListContents('list'))?.endorsers).toEqual([
      { dn: V1.subject, metadata: { 'dc:creator': 'Owen', 'hv:ca': V1.issuer } },
    ]);
    // An import naming the endorser in the other spelling finds the same one.
    const r = await p.applyImport({
      list: { identifier: 'list', metadata: { 'hv:version': '2' } },
      endorsers: [{ dn: V3.subject, metadata: { 'hv:ca': V3.issuer } }],
      images: [],
      replace: () => true,
    });
    expect(r.endorsers).toEqual([{ dn: V1.subject, created: false }]);
    expect(await p.listEndorsers()).toEqual([V1.subject]);
    await p.unbindEndorser('list', SPACED.subject);
    await p.deleteEndorser(V3.subject);
    expect(await p.listEndorsers()).toEqual([]);
  });

  it('migrates a database written before: respelled, duplicates merged into the older row, with a warning', async () => {
    const db = await createTestDatabase(dialect);
    cleanups.push(() => db.dispose());
    await (
      await openStore(db.url, { migrateUpTo: '0002_failed_events_and_checksums' } as InternalOpenOptions)
    ).close();
    const sha = 'ab'.repeat(64);
    await withRawDb(db.url, async (k) => {
      await k
        .insertInto('sub_endorser')
        .values([{ identifier: 'typed' }, { identifier: 'auto' }])
        .execute();
      const ids = Object.fromEntries(
        (await k.selectFrom('sub_endorser').select(['id', 'identifier']).execute()).map((r) => [
          r.identifier,
          r.id,
        ]),
      );
      await k
        .insertInto('sub_principal')
        .values({ endorser_id: ids.typed, subject: V3.subject, issuer: V3.issuer })
        .execute();
      await k
        .insertInto('sub_principal')
        .values({ endorser_id: ids.auto, subject: V1.subject, issuer: V1.issuer })
        .execute();
      await k
        .insertInto('sub_principal')
        .values({ endorser_id: ids.auto, subject: '/CN=plain', issuer: '/CN=CA' })
        .execute();
      const sub = await k
        .insertInto('sub_subscription')
        .values({
          identifier: 'l',
          description: '',
          uri: 'https://x/l',
          authorised: 1,
          trust_anchor: 'none',
          update_mode: 0,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await k
        .insertInto('sub_imagelist')
        .values({
          subscription_id: sub.id,
          data: new Uint8Array([1, 2, 3]),
          data_hash: sha,
          imported: '2026-01-01T00:00:00.000Z',
          created: '2026-01-01T00:00:00.000Z',
          expires: '2099-01-01T00:00:00.000Z',
          version: '1',
          signer_subject: V3.subject,
          signer_issuer: V3.issuer,
          metadata: '{}',
        })
        .returning('id')
        .executeTakeFirstOrThrow()
        .then((list) =>
          k
            .updateTable('sub_subscription')
            .set({ latest_list_id: list.id })
            .where('id', '=', sub.id)
            .execute(),
        );
      await k
        .insertInto('pub_endorser')
        .values({ dn: V3.subject, metadata: JSON.stringify({ 'hv:ca': V3.issuer, 'dc:creator': 'Owen' }) })
        .execute();
      await k
        .insertInto('pub_endorser')
        .values({
          dn: V1.subject,
          metadata: JSON.stringify({ 'dc:creator': 'Someone else', 'hv:email': 'o@e' }),
        })
        .execute();
      await k
        .insertInto('pub_imagelist')
        .values([
          { identifier: 'L1', metadata: '{}' },
          { identifier: 'L2', metadata: '{}' },
        ])
        .execute();
      const e = Object.fromEntries(
        (await k.selectFrom('pub_endorser').select(['id', 'dn']).execute()).map((r) => [r.dn, r.id]),
      );
      const l = Object.fromEntries(
        (await k.selectFrom('pub_imagelist').select(['id', 'identifier']).execute()).map((r) => [
          r.identifier,
          r.id,
        ]),
      );
      await k
        .insertInto('pub_imagelist_endorser')
        .values([
          { imagelist_id: l.L1, member_id: e[V3.subject] },
          { imagelist_id: l.L1, member_id: e[V1.subject] },
          { imagelist_id: l.L2, member_id: e[V1.subject] },
        ])
        .execute();
    });

    const warnings: string[] = [];
    const s = await openStore(db.url, { log: (level, m) => level === 'warn' && warnings.push(m) });
    cleanups.push(() => s.close());
    expect(warnings).toEqual([
      `principal '${V1.subject}' of endorser 'auto' is the same DN as '${V3.subject}' of endorser 'typed'; kept the latter, removed the former`,
      `endorser '${V1.subject}' is the same DN as '${V1.subject}'; merged into the older row`,
    ]);
    expect(await s.subscriber.listEndorsers()).toEqual([
      { identifier: 'auto', principals: [{ subject: '/CN=plain', issuer: '/CN=CA' }] },
      { identifier: 'typed', principals: [V1] },
    ]);
    expect((await s.subscriber.getLatestImageList('l'))?.signer).toEqual(V1);
    expect(await s.publisher.listEndorsers()).toEqual([V1.subject]);
    expect(await s.publisher.getEndorser(V1.subject)).toEqual({
      dn: V1.subject,
      metadata: { 'dc:creator': 'Owen', 'hv:ca': V1.issuer, 'hv:email': 'o@e' },
      imageLists: ['L1', 'L2'],
    });
  });
});
