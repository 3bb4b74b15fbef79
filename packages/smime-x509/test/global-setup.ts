// The grid-style test PKI of this package, made once per run with @hepix/test-support (openssl CLI):
//   root/ inter/ ecca/   root CA (RSA), intermediate (RSA, under root), EC CA (P-256, under root): cert.pem,
//                        key.pem, crl.pem (30 days), openssl ca database
//   rogue/               self-signed, the same name as inter with another key
//   leaf/<name>.pem      with <name>.key: endorser, endorser-ec, revoked, expired, notyet, nods (no
//                        digitalSignature), noeku (extKeyUsage serverAuth only), rogue (by the rogue CA), awkward
//                        (DC=, multi-valued RDN, / , = + and UTF-8), legacy (T61String and BMPString values,
//                        emailAddress), outsider (outside every namespace)
//   leaf/endorser-enc.key    the endorser key encrypted with the passphrase in leaf/passphrase.txt; also
//                            endorser-pkcs1.key (PKCS#1) and endorser-ec-sec1.key (SEC1)
//   trust/               IGTF directory: the three CAs, DER root CRL, namespaces for root and inter,
//                        signing_policy for root and ecca
//   trust-nocrl/         without the intermediate's CRL
//   trust-badcrl/        the intermediate's CRL replaced by one the rogue CA signed (same issuer name)
//   trust-interrevoked/  the root's CRL replaced by one that revokes the intermediate
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertOptions,
  encryptKey,
  OpensslPki,
  openssl,
  removeDir,
  TEST_PASSPHRASE,
  type TestCa,
} from '@hepix/test-support';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    smimePki: string;
  }
}

/** Makes the PKI in `dir` (a new temporary directory by default) and returns the directory. */
export function makeSmimePki(dir?: string): string {
  const pki = new OpensslPki(dir);
  const G = '/C=DE/O=GermanGrid';
  const root = pki.rootCa('root', {
    subject: `${G}/CN=HEPiX Test Root CA`,
    crlDays: 30,
    namespace: [`${G}/CN=HEPiX Test *`],
  });
  const inter = root.subCa('inter', {
    subject: `${G}/CN=HEPiX Test Intermediate CA`,
    crlDays: 30,
    namespace: [`${G}/*`, '/DC=org/DC=example/*'],
  });
  const ecca = root.subCa('ecca', {
    subject: `${G}/CN=HEPiX Test EC CA`,
    key: 'ec',
    crlDays: 30,
    namespace: [`${G}/OU=DESY/*`, `${G}/OU=Other/*`],
  });
  const rogue = pki.rootCa('rogue', { subject: `${G}/CN=HEPiX Test Intermediate CA`, crlDays: 30 });
  const leaf = (ca: TestCa, name: string, options: CertOptions) =>
    ca.issue(`leaf-${name}`, { certFile: `leaf/${name}.pem`, keyFile: `leaf/${name}.key`, ...options });
  const D = `${G}/OU=DESY`;
  const endorser = leaf(inter, 'endorser', { subject: `${D}/CN=Owen Synge` });
  const endorserEc = leaf(ecca, 'endorser-ec', { subject: `${D}/CN=Owen Synge EC`, key: 'ec' });
  const revoked = leaf(inter, 'revoked', { subject: `${D}/CN=Revoked Endorser` });
  leaf(inter, 'expired', {
    subject: `${D}/CN=Expired Endorser`,
    notBefore: new Date('2000-01-01T00:00:00Z'),
    notAfter: new Date('2001-01-01T00:00:00Z'),
  });
  leaf(inter, 'notyet', {
    subject: `${D}/CN=Future Endorser`,
    notBefore: new Date('2090-01-01T00:00:00Z'),
    notAfter: new Date('2095-01-01T00:00:00Z'),
  });
  const basic = ['subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'];
  leaf(inter, 'nods', {
    subject: `${D}/CN=No Signing Endorser`,
    extensions: [
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, nonRepudiation, keyEncipherment',
      ...basic,
    ],
  });
  leaf(inter, 'noeku', {
    subject: `${D}/CN=Server Only`,
    extensions: [
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      ...basic,
    ],
  });
  leaf(rogue, 'rogue', { subject: `${D}/CN=Owen Synge` });
  leaf(inter, 'awkward', {
    subject: '/DC=org/DC=example/O=Grid\\/Inc, = \\+x/OU=a\\+b/CN=Jürgen Groß+UID=jg',
  });
  leaf(inter, 'legacy', {
    subject: `${G}/OU=Jürgen/CN=Łukasz Legacy/emailAddress=l@example.org`,
    stringMask: 'default',
  });
  leaf(inter, 'outsider', { subject: '/C=FR/O=Elsewhere/CN=Outsider' });
  const passphraseFile = join(pki.dir, 'leaf/passphrase.txt');
  writeFileSync(passphraseFile, `${TEST_PASSPHRASE}\n`);
  encryptKey(endorser.key, TEST_PASSPHRASE, join(pki.dir, 'leaf/endorser-enc.key'));
  openssl(['rsa', '-in', endorser.key, '-traditional', '-out', join(pki.dir, 'leaf/endorser-pkcs1.key')]);
  openssl(['ec', '-in', endorserEc.key, '-out', join(pki.dir, 'leaf/endorser-ec-sec1.key')]);
  inter.revoke(revoked);

  const trust = pki.trustDir('trust', {
    cas: [root, inter, ecca],
    policies: { root: 'both', inter: 'namespaces', ecca: 'signing_policy' },
  });
  // CRLs may be DER too.
  trust.setCrl(root, openssl(['crl', '-in', root.crl, '-outform', 'DER']));
  trust.copy('trust-nocrl').setCrl(inter, null);
  trust.copy('trust-badcrl').setCrl(inter, rogue.crlPem());
  trust.copy('trust-interrevoked').setCrl(root, root.crlPem({ revoke: [inter] }));
  return pki.dir;
}

export default function setup(project: TestProject): () => void {
  const dir = makeSmimePki();
  project.provide('smimePki', dir);
  return () => removeDir(dir);
}
