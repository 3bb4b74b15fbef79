// Trust-directory strictness as in the originals (smimeX509validation keeps only CAs that a .namespaces or
// .signing_policy names): a CA without a policy signs nothing, a self-signed signer is not its own CA, unless
// allowUnrestrictedCa; SHA-1 is accepted with a warning. Lists are signed by `openssl smime -sign`.
import { join } from 'node:path';
import {
  copyTrustDir,
  makeTempDir,
  OpensslPki,
  removeDir,
  signList,
  type TestCa,
  type TestCert,
  type TrustDir,
} from '@hepix/test-support';
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SmimeError, TrustStore, verifySmime } from '../src/index.js';
import { file, hashOf, read } from './helpers.js';

const INTER = '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA';
const ROOT = '/C=DE/O=GermanGrid/CN=HEPiX Test Root CA';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A copy of the fixture trust directory. */
function copyTrust(): string {
  const dir = makeTempDir('smime-policy-');
  dirs.push(dir);
  return copyTrustDir(file('trust'), dir);
}

const sign = (leaf: string, options: Parameters<typeof signList>[2] = {}) =>
  signList(
    '{"hv:imagelist": {}}\n',
    { cert: file('leaf', `${leaf}.pem`), key: file('leaf', `${leaf}.key`) },
    options,
  );

async function refusal(p: Promise<unknown>): Promise<SmimeError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(Error);
  expect((e as Error).name).toBe('SmimeError');
  return e as SmimeError;
}

describe('a CA without .namespaces or .signing_policy', () => {
  let dir: string;
  let hi: string;
  beforeAll(() => {
    dir = copyTrust();
    hi = hashOf('inter');
    // The intermediate has only a .namespaces in the fixture: without it nothing names it.
    rmSync(join(dir, `${hi}.namespaces`));
  });

  it('is refused by default, naming the missing files and the option', async () => {
    const trust = await TrustStore.fromDirectory(dir);
    expect(trust.allowUnrestrictedCa).toBe(false);
    expect(trust.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^(inter\\.pem|${hi}\\.0): ${INTER} is named by neither ${hi}\\.namespaces nor ${hi}\\.signing_policy`,
        ),
      ),
    ]);
    const e = await refusal(verifySmime(sign('endorser'), { trust }));
    expect(e).toMatchObject({
      code: 'ERR_SMIME_UNRESTRICTED_CA',
      subject: INTER,
      issuer: ROOT,
      path: join(dir, `${hi}.namespaces`),
    });
    expect(e.message).toContain(`neither ${hi}.namespaces nor ${hi}.signing_policy in ${dir} names it`);
    expect(e.message).toContain('allowUnrestrictedCa (--allow-unrestricted-ca)');
    // Whatever it issued: the EC CA keeps its signing_policy and still signs.
    await expect(verifySmime(sign('endorser-ec'), { trust })).resolves.toMatchObject({ warnings: [] });
  });

  it('is accepted with allowUnrestrictedCa, with a warning; the call overrides the store', async () => {
    const strict = await TrustStore.fromDirectory(dir);
    const v = await verifySmime(sign('endorser'), { trust: strict, allowUnrestrictedCa: true });
    expect(v.signer.issuer).toBe(INTER);
    expect(v.warnings).toEqual([
      {
        code: 'WARN_SMIME_UNRESTRICTED_CA',
        subject: INTER,
        message: expect.stringContaining(
          `CA ${INTER}, which issued /C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge, has no namespace policy`,
        ),
      },
    ]);
    const relaxed = await TrustStore.fromDirectory(dir, { allowUnrestrictedCa: true });
    expect(relaxed.allowUnrestrictedCa).toBe(true);
    expect(relaxed.warnings).toEqual([]);
    expect((await verifySmime(sign('endorser'), { trust: relaxed })).warnings.map((w) => w.code)).toEqual([
      'WARN_SMIME_UNRESTRICTED_CA',
    ]);
    const e = await refusal(verifySmime(sign('endorser'), { trust: relaxed, allowUnrestrictedCa: false }));
    expect(e.code).toBe('ERR_SMIME_UNRESTRICTED_CA');
  });

  it('policies are found by the DN they name, not by the file name', async () => {
    const other = copyTrust();
    writeFileSync(
      join(other, `${hi}.namespaces`),
      'TO Issuer "/C=XX/CN=Someone Else" PERMIT Subject "/.*"\n',
    );
    const trust = await TrustStore.fromDirectory(other);
    expect((await refusal(verifySmime(sign('endorser'), { trust }))).code).toBe('ERR_SMIME_UNRESTRICTED_CA');
    // The root's file may speak for the intermediate (IGTF bundles do): then it is restricted again.
    writeFileSync(
      join(other, `${hashOf('root')}.signing_policy`),
      `${read('trust', `${hashOf('root')}.signing_policy`)}access_id_CA X509 '${INTER}'\n` +
        `pos_rights globus CA:sign\ncond_subjects globus '"/C=DE/O=GermanGrid/*"'\n`,
    );
    const fixed = await TrustStore.fromDirectory(other);
    expect(fixed.warnings).toEqual([]);
    await expect(verifySmime(sign('endorser'), { trust: fixed })).resolves.toMatchObject({ warnings: [] });
  });

  it('a root without policy files is refused too (every CA of the path needs one)', async () => {
    const noRoot = copyTrust();
    const hr = hashOf('root');
    rmSync(join(noRoot, `${hr}.namespaces`));
    rmSync(join(noRoot, `${hr}.signing_policy`));
    const trust = await TrustStore.fromDirectory(noRoot);
    const e = await refusal(verifySmime(sign('endorser'), { trust }));
    expect(e).toMatchObject({
      code: 'ERR_SMIME_UNRESTRICTED_CA',
      subject: ROOT,
      path: join(noRoot, `${hr}.namespaces`),
    });
    expect(e.message).toContain(`which issued ${INTER}`);
  });

  it('a store made from certificates without policy texts', async () => {
    const trust = TrustStore.fromCertificates(
      [read('root/cert.pem'), read('inter/cert.pem')],
      [read('root/crl.pem'), read('inter/crl.pem')],
    );
    const e = await refusal(verifySmime(sign('endorser'), { trust }));
    expect(e.code).toBe('ERR_SMIME_UNRESTRICTED_CA');
    expect(e.path).toBeUndefined();
    expect(e.message).toContain('no namespaces or signing_policy text was given for it');
    const relaxed = TrustStore.fromCertificates(
      [read('root/cert.pem'), read('inter/cert.pem')],
      [read('root/crl.pem'), read('inter/crl.pem')],
      { allowUnrestrictedCa: true },
    );
    const v = await verifySmime(sign('endorser'), { trust: relaxed });
    expect(v.warnings.map((w) => [w.code, w.subject])).toEqual([
      ['WARN_SMIME_UNRESTRICTED_CA', INTER],
      ['WARN_SMIME_UNRESTRICTED_CA', ROOT],
    ]);
  });
});

describe('a self-signed end-entity certificate in the trust directory', () => {
  let pki: OpensslPki;
  let self: TestCert;
  let trust: TrustDir;
  beforeAll(() => {
    pki = new OpensslPki();
    dirs.push(pki.dir);
    self = pki.selfSigned('self', { subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Self Signed Endorser' });
    trust = pki.trustDir('trust', { cas: [], extra: [self] });
  });

  it('does not sign as its own CA', async () => {
    const store = await TrustStore.fromDirectory(trust.path);
    expect(store.warnings).toEqual([
      expect.stringContaining(`${self.subject} is named by neither ${self.hash}.namespaces`),
    ]);
    const e = await refusal(verifySmime(signList('{}\n', self), { trust: store }));
    expect(e).toMatchObject({
      code: 'ERR_SMIME_SELF_SIGNED_SIGNER',
      subject: self.subject,
      issuer: self.subject,
    });
    expect([join(trust.path, `${self.hash}.0`), join(trust.path, 'self.pem')]).toContain(e.path);
    expect(e.message).toContain('--allow-unrestricted-ca');
  });

  it('not even with a policy file that permits its own name', async () => {
    writeFileSync(
      join(trust.path, `${self.hash}.namespaces`),
      `TO Issuer SELF PERMIT Subject "${self.subject}"\n`,
    );
    try {
      const store = await TrustStore.fromDirectory(trust.path);
      expect(store.warnings).toEqual([]);
      const e = await refusal(verifySmime(signList('{}\n', self), { trust: store }));
      expect(e.code).toBe('ERR_SMIME_SELF_SIGNED_SIGNER');
    } finally {
      rmSync(join(trust.path, `${self.hash}.namespaces`));
    }
  });

  it('signs with allowUnrestrictedCa, with a warning', async () => {
    const store = await TrustStore.fromDirectory(trust.path, { allowUnrestrictedCa: true });
    const v = await verifySmime(signList('{}\n', self), { trust: store });
    expect(v.signer.subject).toBe(self.subject);
    expect(v.chain).toHaveLength(1);
    expect(v.warnings).toEqual([
      {
        code: 'WARN_SMIME_SELF_SIGNED_SIGNER',
        subject: self.subject,
        message: expect.stringContaining(
          `the signer ${self.subject} is self-signed and trusted only as its own anchor`,
        ),
      },
    ]);
  });
});

describe('SHA-1 is accepted with a warning', () => {
  let trust: TrustStore;
  beforeAll(async () => {
    trust = await TrustStore.fromDirectory(file('trust'));
  });

  it('openssl smime -sign -md sha1, detached and opaque; SHA-256 has no warning', async () => {
    for (const detached of [true, false]) {
      const v = await verifySmime(sign('endorser', { digest: 'sha1', detached }), { trust });
      expect(v.digest).toBe('SHA-1');
      expect(v.warnings).toEqual([
        {
          code: 'WARN_SMIME_SHA1',
          subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
          message: 'the message is signed with SHA-1 by /C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
        },
      ]);
    }
    const v = await verifySmime(sign('endorser'), { trust });
    expect([v.digest, v.warnings]).toEqual(['SHA-256', []]);
  });

  it('SHA-1 certificates and CRLs of the path (2011-era grid CAs)', async () => {
    const pki = new OpensslPki();
    dirs.push(pki.dir);
    const root: TestCa = pki.rootCa('root', { subject: '/DC=org/DC=old/CN=Old Root', digest: 'sha1' });
    const ca = root.subCa('ca', { subject: '/DC=org/DC=old/CN=Old CA', digest: 'sha1', crlDigest: 'sha1' });
    const endorser = ca.issue('endorser', { subject: '/DC=org/DC=old/CN=Old Endorser', digest: 'sha1' });
    const dir = pki.trustDir('trust', { cas: [root, ca] });
    const store = await TrustStore.fromDirectory(dir.path);
    const v = await verifySmime(signList('{}\n', endorser, { digest: 'sha1' }), { trust: store });
    expect(v.warnings.map((w) => [w.code, w.message])).toEqual([
      ['WARN_SMIME_SHA1', 'the message is signed with SHA-1 by /DC=org/DC=old/CN=Old Endorser'],
      ['WARN_SMIME_SHA1', 'the CRL of /DC=org/DC=old/CN=Old CA is signed with SHA-1'],
      ['WARN_SMIME_SHA1', 'certificate /DC=org/DC=old/CN=Old Endorser is signed with SHA-1'],
      ['WARN_SMIME_SHA1', 'certificate /DC=org/DC=old/CN=Old CA is signed with SHA-1'],
    ]);
    // The root's own self-signature is not part of the judgement; its CRL (sha256 here) gave no warning.
  });
});
