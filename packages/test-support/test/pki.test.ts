// The generator is checked with openssl itself: chains verify (or fail for the expected reason) with
// `openssl verify -CApath -crl_check`, signed lists with `openssl smime -verify`.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyCertDir,
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  OpensslError,
  OpensslPki,
  openssl,
  opensslVerify,
  removeDir,
  revoke,
  runOpenssl,
  sampleImages,
  signList,
  type TestCa,
  type TestCert,
  type TestPki,
  TEST_CA_SUBJECT,
} from '../src/index.js';

let tmp: string;
afterAll(() => removeDir(tmp));
beforeAll(() => {
  tmp = makeTempDir('test-support-');
});

/** openssl's verdict on a certificate against a trust directory, CRLs required. */
async function verdict(cert: string, certDir: string, extra: string[] = []): Promise<string> {
  const r = await runOpenssl(['verify', '-CApath', certDir, '-crl_check_all', ...extra, cert]);
  return r.code === 0 ? 'OK' : (/error \d+ at \d+ depth lookup: (.*)/.exec(r.stderr)?.[1] ?? r.stderr);
}

const text = (cert: string) => openssl(['x509', '-in', cert, '-noout', '-text']).toString('utf8');

describe('makePki: the grid layout of scripts/make-test-pki.sh', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makePki(join(tmp, 'grid'), 'Jane Doe');
  });

  it('writes every file where the scripts and examples look for it', () => {
    for (const f of [
      'ca/ca.pem',
      'ca/ca.key',
      'ca/ca.crl.pem',
      'ca/openssl.cnf',
      'endorser/usercert.pem',
      'endorser/userkey.pem',
      'endorser/userkey-enc.pem',
      'endorser/passphrase.txt',
      'server/cert.pem',
      'server/key.pem',
      `certificates/${pki.hash}.0`,
      `certificates/${pki.hash}.r0`,
      `certificates/${pki.hash}.namespaces`,
      `certificates/${pki.hash}.signing_policy`,
    ])
      expect(existsSync(join(pki.dir, f)), f).toBe(true);
    expect(pki.caSubject).toBe(TEST_CA_SUBJECT);
    expect(pki.endorser.subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Jane Doe');
    expect(pki.endorser.issuer).toBe(TEST_CA_SUBJECT);
    expect(pki.hash).toBe(openssl(['x509', '-in', pki.ca.cert, '-noout', '-hash']).toString().trim());
    // openssl rehash made the hashed name a link to the CA's own file; the CRL is a plain file, as fetch-crl writes it.
    expect(readlinkSync(join(pki.certDir, `${pki.hash}.0`))).toBe('ca.pem');
    expect(lstatSync(join(pki.certDir, `${pki.hash}.r0`)).isFile()).toBe(true);
    expect((lstatSync(pki.endorser.key).mode & 0o777).toString(8)).toBe('600');
  });

  it('the endorser and the server verify with openssl against the trust directory, CRLs required', async () => {
    expect(await verdict(pki.endorser.cert, pki.certDir, ['-purpose', 'smimesign'])).toBe('OK');
    expect(await verdict(pki.server.cert, pki.certDir, ['-purpose', 'sslserver'])).toBe('OK');
    expect(text(pki.server.cert)).toMatch(/IP Address:127\.0\.0\.1, DNS:localhost/);
    expect(await verdict(pki.server.cert, pki.certDir, ['-purpose', 'smimesign'])).not.toBe('OK');
  });

  it('policy files name the CA and its namespace in the IGTF formats', () => {
    const ns = readFileSync(join(pki.certDir, `${pki.hash}.namespaces`), 'utf8');
    expect(ns).toContain(`TO Issuer "${TEST_CA_SUBJECT}" \\\n  PERMIT Subject "/C=DE/O=GermanGrid/.*"`);
    const sp = readFileSync(join(pki.certDir, `${pki.hash}.signing_policy`), 'utf8');
    expect(sp).toContain(`access_id_CA      X509         '${TEST_CA_SUBJECT}'`);
    expect(sp).toContain(`cond_subjects     globus       '"/C=DE/O=GermanGrid/*"'`);
  });

  it('the encrypted key needs the passphrase', () => {
    const pass = readFileSync(pki.endorser.passphraseFile, 'utf8').trim();
    expect(pass).toBe(pki.endorser.passphrase);
    expect(() =>
      openssl(['pkey', '-in', pki.endorser.encryptedKey, '-passin', 'pass:wrong', '-noout']),
    ).toThrow(OpensslError);
    const plain = openssl(['pkey', '-in', pki.endorser.encryptedKey, '-passin', `pass:${pass}`]).toString();
    expect(plain).toBe(openssl(['pkey', '-in', pki.endorser.key]).toString());
  });

  it('signs lists that openssl verifies against the trust directory; detached, opaque and SHA-1', () => {
    const json = makeListJson({
      identifier: 'list-1',
      version: '1.0',
      created: new Date('2026-01-01T00:00:00Z'),
      expires: new Date('2099-01-01T00:00:00Z'),
      uri: 'https://example.org/list',
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: sampleImages(2),
    });
    expect(JSON.parse(json)['hv:imagelist']['hv:images'][1]['hv:image']['dc:title']).toBe(
      'Image 1 – ünïcödé',
    );
    const crlf = json.replace(/\n/g, '\r\n');
    const detached = signList(json, pki.endorser);
    expect(detached.toString()).toMatch(
      /multipart\/signed; protocol="application\/x-pkcs7-signature"; micalg="sha-256"/,
    );
    const opaque = signList(json, pki.endorser, { detached: false, digest: 'sha1' });
    expect(opaque.toString()).toMatch(/application\/x-pkcs7-mime; smime-type=signed-data/);
    for (const [name, msg] of [
      ['detached.smime', detached],
      ['opaque.smime', opaque],
      ['sha1.smime', signList(json, pki.endorser, { digest: 'sha1' })],
    ] as const) {
      const file = join(tmp, name);
      writeFileSync(file, msg);
      expect(opensslVerify(file, pki.certDir)).toBe(crlf);
    }
    expect(signList(json, pki.endorser, { digest: 'sha1' }).toString()).toContain('micalg="sha1"');
  });

  it('issueCert, revoke and copyCertDir', async () => {
    const other = issueCert(
      pki,
      'other-host',
      '/C=DE/O=GermanGrid/CN=other.example',
      'san:DNS:other.example',
    );
    expect(text(other.cert)).toMatch(/DNS:other\.example/);
    const signer = issueCert(pki, 'signer', '/C=DE/O=GermanGrid/OU=DESY/CN=To Be Revoked');
    const noCrl = copyCertDir(pki, join(tmp, 'grid-nocrl'), { withoutCrl: true });
    const revokedDir = copyCertDir(pki, join(tmp, 'grid-revoked'));
    expect(readlinkSync(join(revokedDir, `${pki.hash}.0`))).toBe('ca.pem');
    expect(await verdict(signer.cert, noCrl)).toBe('unable to get certificate CRL');
    revoke(pki, signer, revokedDir);
    expect(await verdict(signer.cert, revokedDir)).toBe('certificate revoked');
    // Only the directory named got the new CRL.
    expect(await verdict(signer.cert, pki.certDir)).toBe('OK');
    expect(await verdict(pki.endorser.cert, revokedDir)).toBe('OK');
  });
});

describe('OpensslPki: chains, key types, dates, names', () => {
  let pki: OpensslPki;
  let root: TestCa;
  let inter: TestCa;
  let ecca: TestCa;
  beforeAll(() => {
    pki = new OpensslPki(join(tmp, 'chain'));
    root = pki.rootCa('root', { subject: '/DC=org/DC=example/CN=Example Root' });
    inter = root.subCa('inter', { subject: '/DC=org/DC=example/CN=Example Intermediate', crlDays: 30 });
    ecca = root.subCa('ecca', { subject: '/DC=org/DC=example/CN=Example EC CA', key: 'ec', pathLength: 0 });
  });

  it('a three-level chain with CRLs at every level verifies with openssl', async () => {
    const leaf = inter.issue('leaf', { subject: '/DC=org/DC=example/OU=People/CN=Leaf' });
    const trust = pki.trustDir('trust', { cas: [root, inter, ecca] });
    expect(await verdict(leaf.cert, trust.path)).toBe('OK');
    expect(root.namespace).toEqual(['/DC=org/DC=example/*']);
    // Without the root's CRL the intermediate cannot be checked.
    const partial = pki.trustDir('trust-partial', { cas: [root, inter], crls: [inter] });
    expect(await verdict(leaf.cert, partial.path)).toBe('unable to get certificate CRL');
    expect(readdirSync(partial.path).filter((f) => /\.r\d$/.test(f))).toEqual([
      basename(partial.crlFile(inter)),
    ]);
    // The CRL window is the CA's: 30 days for the intermediate.
    const later = String(Math.floor(Date.now() / 1000) + 60 * 86400);
    expect(await verdict(leaf.cert, trust.path, ['-attime', later])).toBe('CRL has expired');
  });

  it('EC keys, SHA-1 signatures, RSA-PSS and Ed25519', async () => {
    const ec = ecca.issue('ec-leaf', { subject: '/DC=org/DC=example/CN=EC Leaf', key: 'ec', digest: 'sha1' });
    expect(text(ec.cert)).toMatch(/Signature Algorithm: ecdsa-with-SHA1/);
    expect(text(ec.cert)).toMatch(/id-ecPublicKey/);
    const sha1 = inter.issue('sha1-leaf', { subject: '/DC=org/DC=example/CN=SHA-1 Leaf', digest: 'sha1' });
    expect(text(sha1.cert)).toMatch(/Signature Algorithm: sha1WithRSAEncryption/);
    const pss = inter.issue('pss-leaf', {
      subject: '/DC=org/DC=example/CN=PSS Leaf',
      sigopt: ['rsa_padding_mode:pss', 'rsa_pss_saltlen:32'],
    });
    expect(text(pss.cert)).toMatch(/Signature Algorithm: rsassaPss/);
    const ed = inter.issue('ed-leaf', { subject: '/DC=org/DC=example/CN=Ed Leaf', key: 'ed25519' });
    expect(text(ed.cert)).toMatch(/ED25519/);
    const oldCa = root.subCa('old-ca', { subject: '/DC=org/DC=example/CN=Old CA', crlDigest: 'sha1' });
    expect(openssl(['crl', '-in', oldCa.crl, '-noout', '-text']).toString()).toMatch(/sha1WithRSAEncryption/);
    expect(openssl(['crl', '-in', inter.crl, '-noout', '-text']).toString()).toMatch(
      /sha256WithRSAEncryption/,
    );
    const trust = pki.trustDir('trust-alg', { cas: [root, inter, ecca] });
    for (const c of [ec, sha1, pss, ed]) expect(await verdict(c.cert, trust.path), c.name).toBe('OK');
    // pathlen:0 on the EC CA: it cannot have a sub-CA that issues.
    const sub = ecca.subCa('ec-sub', { subject: '/DC=org/DC=example/CN=Too Deep CA', key: 'ec' });
    const deep = sub.issue('deep', { subject: '/DC=org/DC=example/CN=Deep', key: 'ec' });
    const withSub = pki.trustDir('trust-sub', { cas: [root, ecca, sub] });
    expect(await verdict(deep.cert, withSub.path)).toBe('path length constraint exceeded');
  });

  it('expired and not-yet-valid certificates; revocation and hypothetical CRLs', async () => {
    const trust = pki.trustDir('trust-dates', { cas: [root, inter] });
    const expired = inter.issue('expired', {
      subject: '/DC=org/DC=example/CN=Expired',
      notBefore: new Date('2000-01-01T00:00:00Z'),
      notAfter: new Date('2001-01-01T00:00:00Z'),
    });
    const future = inter.issue('future', {
      subject: '/DC=org/DC=example/CN=Future',
      notBefore: new Date('2090-01-01T00:00:00Z'),
      notAfter: new Date('2095-01-01T00:00:00Z'),
    });
    expect(await verdict(expired.cert, trust.path)).toBe('certificate has expired');
    expect(await verdict(future.cert, trust.path)).toBe('certificate is not yet valid');

    const victim = inter.issue('victim', { subject: '/DC=org/DC=example/CN=Victim' });
    const before = inter.crlPem();
    // A CRL as if the intermediate were revoked: the root itself keeps its CRL.
    const rootBefore = root.crlPem();
    const revoking = root.crlPem({ revoke: [inter] });
    expect(root.crlPem()).toBe(rootBefore);
    const interRevoked = trust.copy('trust-inter-revoked');
    interRevoked.setCrl(root, revoking);
    expect(await verdict(victim.cert, interRevoked.path)).toBe('certificate revoked');
    expect(await verdict(victim.cert, trust.path)).toBe('OK');
    inter.revoke(victim);
    expect(inter.crlPem()).not.toBe(before);
    expect(await verdict(victim.cert, trust.path)).toBe('OK');
    trust.setCrl(inter);
    expect(await verdict(victim.cert, trust.path)).toBe('certificate revoked');
    trust.setCrl(inter, null);
    expect(existsSync(trust.crlFile(inter))).toBe(false);
  });

  it('awkward names: escapes, multi-valued RDNs and UTF-8 kept byte for byte; legacy string types', () => {
    const awkward = inter.issue('awkward', {
      subject: '/DC=org/DC=example/O=Grid\\/Inc, = \\+x/OU=a\\+b/CN=Jürgen Groß+UID=jg',
    });
    // OpenSSL 1.x one-line form: no escaping, the RDN flattened (in DER SET order), bytes as \xHH.
    expect(awkward.subject).toBe(
      '/DC=org/DC=example/O=Grid/Inc, = +x/OU=a+b/UID=jg/CN=J\\xC3\\xBCrgen Gro\\xC3\\x9F',
    );
    const asn1 = openssl(['asn1parse', '-in', awkward.cert]).toString('latin1');
    expect(asn1).toMatch(/UTF8STRING\s+:J\xC3\xBCrgen/);
    const legacy = inter.issue('legacy', {
      subject: '/C=DE/OU=Jürgen/CN=Łukasz Legacy/emailAddress=l@example.org',
      stringMask: 'default',
    });
    const legacyAsn1 = openssl(['asn1parse', '-in', legacy.cert]).toString('latin1');
    expect(legacyAsn1).toMatch(/T61STRING/);
    expect(legacyAsn1).toMatch(/BMPSTRING/);
    // T61String bytes are Latin-1, BMPString bytes UTF-16BE: printed byte by byte, as OpenSSL 1.x did.
    expect(legacy.subject).toBe(
      '/C=DE/OU=J\\xFCrgen/CN=\\x01A\\x00u\\x00k\\x00a\\x00s\\x00z\\x00 \\x00L\\x00e\\x00g\\x00a\\x00c\\x00y/emailAddress=l@example.org',
    );
  });

  it('self-signed end entities, rogue same-name CAs, policy choices', () => {
    const self: TestCert = pki.selfSigned('self', { subject: '/DC=org/DC=example/CN=Self Signed' });
    expect(self.issuer).toBe(self.subject);
    expect(text(self.cert)).toMatch(/CA:FALSE/);
    const withSelf = pki.trustDir('trust-self', { cas: [], extra: [self] });
    expect(readdirSync(withSelf.path).sort()).toEqual([`${self.hash}.0`, 'self.pem']);
    expect(readlinkSync(join(withSelf.path, `${self.hash}.0`))).toBe('self.pem');
    const rogue = pki.rootCa('rogue', { subject: '/DC=org/DC=example/CN=Example Intermediate' });
    expect(rogue.subject).toBe(inter.subject);
    expect(rogue.hash).toBe(inter.hash);
    const both = pki.trustDir('trust-rogue', {
      cas: [root, inter, rogue],
      policies: { rogue: 'none', root: 'signing_policy' },
    });
    // Same subject hash: openssl rehash numbers them .0 and .1; the CRLs follow (.r0, .r1).
    expect([both.certFile(inter), both.certFile(rogue)].map((f) => f.slice(-1)).sort()).toEqual(['0', '1']);
    expect(both.crlFile(rogue).slice(-2)).toBe(`r${both.certFile(rogue).slice(-1)}`);
    expect(existsSync(both.policyFile(root, 'namespaces'))).toBe(false);
    expect(existsSync(both.policyFile(root, 'signing_policy'))).toBe(true);
    // inter and rogue share the hash: the namespaces file has inter's statement once, not rogue's.
    expect(readFileSync(both.policyFile(inter, 'namespaces'), 'utf8').match(/TO Issuer/g)).toHaveLength(1);
    both.setPolicy(inter, 'namespaces', null);
    expect(existsSync(both.policyFile(inter, 'namespaces'))).toBe(false);
    expect(() => inter.issue('leaf', { subject: '/CN=again' })).toThrow(/already has a leaf/);
  });
});
