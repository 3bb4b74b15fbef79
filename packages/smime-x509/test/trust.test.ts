// Trust directories, namespace policies and the chain checks that depend on them.
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyTrustDir, makeTempDir } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrivateKey, signSmime, TrustStore, verifySmime } from '../src/index.js';
import { parseNamespaces, parseSigningPolicy, policyAllows, tokenize } from '../src/policy.js';
import { file, hashOf, read } from './helpers.js';

let endorserMsg: string;
let awkwardMsg: string;
beforeAll(async () => {
  const sign = async (leaf: string) =>
    signSmime('{"a": 1}\n', {
      certificate: read('leaf', `${leaf}.pem`),
      privateKey: await loadPrivateKey(read('leaf', `${leaf}.key`)),
    });
  endorserMsg = await sign('endorser');
  awkwardMsg = await sign('awkward');
});

const copies: string[] = [];
afterAll(() => {
  for (const d of copies) rmSync(d, { recursive: true, force: true });
});

function copyTrust(): string {
  const dir = makeTempDir('smime-trust-');
  copies.push(dir);
  return copyTrustDir(file('trust'), dir);
}

describe('policy files', () => {
  it('tokenizes like shlex (posix)', () => {
    expect(tokenize(`access_id_CA X509 '/C=DE/O=Grid Kа/CN=x' # comment`)).toEqual([
      'access_id_CA',
      'X509',
      '/C=DE/O=Grid Kа/CN=x',
    ]);
    expect(tokenize(`TO Issuer "/C=DE/CN=a \\"b\\"" PERMIT Subject "/C=DE/.*"`)).toEqual([
      'TO',
      'Issuer',
      '/C=DE/CN=a "b"',
      'PERMIT',
      'Subject',
      '/C=DE/.*',
    ]);
  });

  it('parses namespaces: continuation lines, SELF, DENY, several subjects; anchors both ends', () => {
    const p = parseNamespaces(
      `# comment\nTO Issuer "/C=DE/CN=CA" \\\n  PERMIT Subject "/C=DE/O=A/.*" "/C=DE/O=B/.*"\nTO Issuer SELF DENY Subject "/C=DE/O=A/CN=bad.*"\n`,
      'x.namespaces',
      '/C=DE/CN=CA',
    );
    expect(p).toHaveLength(1);
    expect(policyAllows(p, '/C=DE/O=A/CN=good')).toBe(true);
    expect(policyAllows(p, '/C=DE/O=B/CN=good')).toBe(true);
    expect(policyAllows(p, '/C=DE/O=A/CN=bad one')).toBe(false);
    expect(policyAllows(p, '/XX/C=DE/O=A/CN=good')).toBe(false);
    expect(() => parseNamespaces('TO Issuer SELF PERMIT Subject "/.*"', 'y.namespaces')).toThrow();
    expect(() => parseNamespaces('FROM somewhere', 'y.namespaces')).toThrow();
  });

  it('parses signing_policy: every block counts, globs escape regex metacharacters', () => {
    const p = parseSigningPolicy(
      `access_id_CA X509 '/C=DE/CN=A'\npos_rights globus CA:sign\ncond_subjects globus '"/C=DE/O=x.y/*"'\n` +
        `access_id_CA X509 '/C=DE/CN=B'\npos_rights globus CA:sign\ncond_subjects globus '"/C=FR/*" "/C=IT/*"'\n`,
      'z.signing_policy',
    );
    expect(p.map((x) => x.ca)).toEqual(['/C=DE/CN=A', '/C=DE/CN=B']);
    expect(policyAllows([p[0]], '/C=DE/O=x.y/CN=1')).toBe(true);
    expect(policyAllows([p[0]], '/C=DE/O=xzy/CN=1')).toBe(false);
    expect(policyAllows([p[1]], '/C=IT/CN=1')).toBe(true);
    expect(policyAllows([p[1]], '/C=DE/CN=1')).toBe(false);
    // access_id_CA without cond_subjects: the CA may sign nothing.
    const none = parseSigningPolicy(`access_id_CA X509 '/C=DE/CN=C'\npos_rights globus CA:sign\n`, 'n');
    expect(policyAllows(none, '/C=DE/CN=anything')).toBe(false);
  });
});

describe('TrustStore.fromDirectory', () => {
  it('loads the certificates, DER and PEM CRLs and policies', async () => {
    const t = await TrustStore.fromDirectory(file('trust'));
    expect(t.warnings).toEqual([]);
    expect(t.certificates.map((c) => c.subject).sort()).toEqual([
      'C=DE, O=GermanGrid, CN=HEPiX Test EC CA',
      'C=DE, O=GermanGrid, CN=HEPiX Test Intermediate CA',
      'C=DE, O=GermanGrid, CN=HEPiX Test Root CA',
    ]);
    await expect(verifySmime(endorserMsg, { trust: t })).resolves.toMatchObject({ format: 'detached' });
    await expect(verifySmime(awkwardMsg, { trust: t })).resolves.toMatchObject({ format: 'detached' });
  });

  it('a CA revoked by its parent makes its endorsers ERR_SMIME_REVOKED', async () => {
    const t = await TrustStore.fromDirectory(file('trust-interrevoked'));
    await expect(verifySmime(endorserMsg, { trust: t })).rejects.toMatchObject({
      code: 'ERR_SMIME_REVOKED',
      subject: '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA',
    });
  });

  it('enforces the namespaces of intermediates and roots', async () => {
    const dir = copyTrust();
    const ns = `${hashOf('inter')}.namespaces`;
    // Remove the DC=org permission: the awkward endorser is now outside the namespace.
    writeFileSync(join(dir, ns), 'TO Issuer SELF PERMIT Subject "/C=DE/O=GermanGrid/.*"\n');
    const t = await TrustStore.fromDirectory(dir);
    await expect(verifySmime(endorserMsg, { trust: t })).resolves.toBeDefined();
    await expect(verifySmime(awkwardMsg, { trust: t })).rejects.toMatchObject({
      code: 'ERR_SMIME_NAMESPACE',
    });
    // The root may not issue the intermediate any more.
    const rootNs = `${hashOf('root')}.namespaces`;
    writeFileSync(
      join(dir, rootNs),
      'TO Issuer SELF PERMIT Subject "/C=DE/O=GermanGrid/CN=HEPiX Test EC CA"\n',
    );
    const t2 = await TrustStore.fromDirectory(dir);
    await expect(verifySmime(endorserMsg, { trust: t2 })).rejects.toMatchObject({
      code: 'ERR_SMIME_NAMESPACE',
      subject: '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA',
    });
  });

  it('an unreadable policy file fails closed; junk files are reported, not trusted', async () => {
    const dir = copyTrust();
    const ns = `${hashOf('inter')}.namespaces`;
    writeFileSync(join(dir, ns), 'TO Issuer "unterminated\n');
    writeFileSync(join(dir, 'deadbeef.0'), 'garbage');
    writeFileSync(join(dir, 'deadbeef.r0'), 'garbage');
    const t = await TrustStore.fromDirectory(dir);
    expect(t.warnings).toHaveLength(3);
    await expect(verifySmime(endorserMsg, { trust: t })).rejects.toMatchObject({
      code: 'ERR_SMIME_NAMESPACE',
    });
  });

  it('keeps one copy of a CA present as <hash>.0 and <alias>.pem', async () => {
    const dir = copyTrust();
    cpSync(file('root', 'cert.pem'), join(dir, 'HEPiX-Test-Root.pem'));
    const t = await TrustStore.fromDirectory(dir);
    expect(t.certificates).toHaveLength(3);
    await expect(verifySmime(endorserMsg, { trust: t })).resolves.toBeDefined();
  });

  it('a missing directory is ERR_SMIME_UNTRUSTED', async () => {
    await expect(TrustStore.fromDirectory(join(tmpdir(), 'does-not-exist-smime'))).rejects.toMatchObject({
      code: 'ERR_SMIME_UNTRUSTED',
    });
  });

  it('fromCertificates takes policies too', async () => {
    const t = TrustStore.fromCertificates(
      [read('root/cert.pem'), read('inter/cert.pem')],
      [read('root/crl.pem'), read('inter/crl.pem')],
      {
        namespaces: [
          'TO Issuer "/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA" PERMIT Subject "/C=XX/.*"',
        ],
      },
    );
    await expect(verifySmime(endorserMsg, { trust: t })).rejects.toMatchObject({
      code: 'ERR_SMIME_NAMESPACE',
    });
    expect(() =>
      TrustStore.fromCertificates([], [], { namespaces: ['TO Issuer "/CN=x" PERMIT Subject "(["'] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SMIME_MALFORMED' }));
  });

  it('time is injectable: certificates are checked at `at`', async () => {
    const t = await TrustStore.fromDirectory(file('trust'));
    await expect(
      verifySmime(endorserMsg, { trust: t, at: new Date('1999-01-01T00:00:00Z') }),
    ).rejects.toMatchObject({
      code: 'ERR_SMIME_CERT_NOT_YET_VALID',
    });
    await expect(
      verifySmime(endorserMsg, { trust: t, crl: 'ignore', now: () => new Date('2200-01-01T00:00:00Z') }),
    ).rejects.toMatchObject({ code: 'ERR_SMIME_CERT_EXPIRED' });
  });
});
