// Re-validation of stored lists (what vmcatcher_cache calls when -U did not run): which failures withdraw a
// list (a table), and revalidateStoredLists against trust directories made with openssl.
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ListClientError } from '@hepix/imagelist-client';
import { openStore, type Store } from '@hepix/imagelist-store';
import { TrustStore } from '@hepix/smime-x509';
import {
  copyCertDir,
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  revoke,
  signList,
  type TestCert,
  type TestPki,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptions, revalidateStoredLists, withdrawalCode } from '../src/index.js';

describe('withdrawalCode', () => {
  const sig = (smimeCode?: string) =>
    new ListClientError('ERR_LIST_SIGNATURE', 'bad', smimeCode ? { smimeCode } : {});
  it.each<[string, unknown, string | undefined]>([
    ['a revoked signer', sig('ERR_SMIME_REVOKED'), 'ERR_SMIME_REVOKED'],
    ['an expired certificate', sig('ERR_SMIME_CERT_EXPIRED'), 'ERR_SMIME_CERT_EXPIRED'],
    ['a CA no longer trusted', sig('ERR_SMIME_UNTRUSTED'), 'ERR_SMIME_UNTRUSTED'],
    [
      'a CA without policy, checked without allowUnrestrictedCa: undecided',
      sig('ERR_SMIME_UNRESTRICTED_CA'),
      undefined,
    ],
    [
      'a self-signed signer, checked without allowUnrestrictedCa: undecided',
      sig('ERR_SMIME_SELF_SIGNED_SIGNER'),
      undefined,
    ],
    ['outside the namespace', sig('ERR_SMIME_NAMESPACE'), 'ERR_SMIME_NAMESPACE'],
    ['a signature failure without S/MIME code', sig(), 'ERR_LIST_SIGNATURE'],
    ['no CRL: undecided', sig('ERR_SMIME_CRL_MISSING'), undefined],
    ['a CRL out of date: undecided', sig('ERR_SMIME_CRL_EXPIRED'), undefined],
    ['an unusable CRL: undecided', sig('ERR_SMIME_CRL_INVALID'), undefined],
    ['a clock behind the certificate: undecided', sig('ERR_SMIME_CERT_NOT_YET_VALID'), undefined],
    ['a bug of the verifier: undecided', sig('ERR_SMIME_INTERNAL'), undefined],
    [
      'an endorser no longer authorised',
      new ListClientError('ERR_LIST_NOT_AUTHORISED', 'x'),
      'ERR_LIST_NOT_AUTHORISED',
    ],
    [
      'a declared endorser that does not match',
      new ListClientError('ERR_LIST_SIGNER_MISMATCH', 'x'),
      'ERR_LIST_SIGNER_MISMATCH',
    ],
    ['no trust anchors at all: undecided', new ListClientError('ERR_LIST_TRUST', 'x'), undefined],
    ['anything else: undecided', new Error('boom'), undefined],
  ])('%s', (_name, err, code) => {
    expect(withdrawalCode(err)).toBe(code);
  });
});

describe('revalidateStoredLists', () => {
  const DAY = 86_400_000;
  let tmp: string;
  let pki: TestPki;
  let other: TestCert;
  let store: Store;
  let trust: TrustStore;
  const A = randomUUID();
  const B = randomUUID();

  async function site() {
    const images = await store.subscriber.listImages();
    return {
      states: Object.fromEntries(images.map((i) => [i.identifier, i.state])),
      lists: Object.fromEntries(
        await Promise.all(
          [A, B].map(async (id) => {
            const l = await store.subscriber.getLatestImageList(id);
            return [id, { id: l?.id, withdrawn: l?.withdrawn, expired: l?.expired }];
          }),
        ),
      ),
      candidates: (await store.subscriber.listCacheCandidates()).map((c) => c.subscription).sort(),
    };
  }

  beforeAll(async () => {
    tmp = makeTempDir('hepix-revalidate-');
    pki = makePki(join(tmp, 'pki'));
    other = issueCert(pki, 'second', '/C=DE/O=GermanGrid/OU=DESY/CN=Second Endorser');
    store = await openStore(`sqlite:///${join(tmp, 'db.sqlite')}`);
    trust = await TrustStore.fromDirectory(pki.certDir);
    const subs = createSubscriptions({ store, trust, certDir: pki.certDir });
    try {
      for (const [id, signer] of [
        [A, pki.endorser],
        [B, other],
      ] as const) {
        const file = join(tmp, `${id}.list`);
        const url = pathToFileURL(file).href;
        writeFileSync(
          file,
          signList(
            makeListJson({
              identifier: id,
              version: '1',
              created: new Date(Date.now() - DAY),
              expires: new Date(Date.now() + DAY),
              uri: url,
              dn: signer.subject,
              ca: signer.issuer,
              images: [{ identifier: `${id}-image` }],
            }),
            signer,
          ),
        );
        await store.subscriber.createEndorser(id, [{ subject: signer.subject, issuer: signer.issuer }]);
        await subs.subscribe(url, { updateMode: 3 });
        await store.subscriber.setImageCache(`${id}-image`, true);
      }
      const r = await subs.update();
      expect(r.results.map((x) => x.outcome)).toEqual(['updated', 'updated']);
    } finally {
      await subs.close();
    }
    expect((await site()).candidates).toEqual([A, B].sort());
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('finds valid lists valid and changes nothing', async () => {
    const before = await site();
    const checks = await revalidateStoredLists(store, trust);
    expect(checks.map((c) => [c.subscription, c.outcome]).sort()).toEqual(
      [
        [A, 'valid'],
        [B, 'valid'],
      ].sort(),
    );
    expect(await site()).toEqual(before);
  });

  it('withdraws nothing when it cannot decide: no CRL, or no CA at all', async () => {
    const before = await site();
    const noCrl = await TrustStore.fromDirectory(copyCertDir(pki, join(tmp, 'no-crl'), { withoutCrl: true }));
    const logs: string[] = [];
    for (const t of [noCrl, TrustStore.fromCertificates([])]) {
      const checks = await revalidateStoredLists(store, t, {
        log: (level, message, fields) => logs.push(`${level} ${fields?.subscription} ${message}`),
      });
      expect(checks.map((c) => c.outcome)).toEqual(['undecided', 'undecided']);
    }
    expect(await site()).toEqual(before);
    expect(logs.filter((l) => l.startsWith('warn ')).length).toBe(4);
  });

  it('withdraws the list of a revoked endorser only, with its code; the other keeps its images', async () => {
    const revokedDir = copyCertDir(pki, join(tmp, 'revoked'));
    revoke(pki, other, revokedDir);
    const logs: { message: string; fields?: Record<string, unknown> }[] = [];
    const at = new Date();
    const checks = await revalidateStoredLists(store, await TrustStore.fromDirectory(revokedDir), {
      now: () => at,
      log: (_level, message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }),
    });
    const byId = new Map(checks.map((c) => [c.subscription, c]));
    expect(byId.get(A)?.outcome).toBe('valid');
    expect(byId.get(B)).toMatchObject({
      outcome: 'withdrawn',
      withdrawal: { at, code: 'ERR_SMIME_REVOKED' },
    });
    const s = await site();
    expect(s.lists[B].withdrawn).toMatchObject({ at, code: 'ERR_SMIME_REVOKED' });
    expect(s.lists[A].withdrawn).toBeUndefined();
    expect(s.states).toEqual({ [`${A}-image`]: 3, [`${B}-image`]: 1 });
    expect(s.candidates).toEqual([A]);
    const line = logs.find((l) => l.message.includes('withdrawn'));
    expect(line?.fields).toMatchObject({ subscription: B, code: 'ERR_SMIME_REVOKED' });
    expect(String(line?.fields?.uri)).toMatch(/^file:/);
  });

  it('never reinstates a withdrawn list, even once the trust is back; skips it and honours the selection', async () => {
    const before = await site();
    const checks = await revalidateStoredLists(store, trust);
    expect(checks.map((c) => c.subscription)).toEqual([A]);
    expect(await site()).toEqual(before);
    expect(await revalidateStoredLists(store, trust, { subscriptions: [B] })).toEqual([]);
  });

  it('withdraws the list of an endorser unlinked from its subscription', async () => {
    await store.subscriber.unlink(A, A);
    const [check] = await revalidateStoredLists(store, trust, { subscriptions: [A] });
    expect(check).toMatchObject({
      subscription: A,
      outcome: 'withdrawn',
      withdrawal: { code: 'ERR_LIST_NOT_AUTHORISED' },
    });
    expect((await site()).candidates).toEqual([]);
  });
});
