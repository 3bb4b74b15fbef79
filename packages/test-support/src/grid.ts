// The one-CA grid PKI most tests need, in the layout scripts/make-test-pki.sh has always produced:
//   ca/            ca.pem, ca.key, ca.crl.pem and the openssl ca database (openssl.cnf, index.txt, …)
//   certificates/  the trust directory: ca.pem, <hash>.0 → ca.pem, <hash>.r0, <hash>.namespaces, <hash>.signing_policy
//   endorser/      usercert.pem, userkey.pem, userkey-enc.pem (passphrase in passphrase.txt)
//   server/        cert.pem, key.pem for https on 127.0.0.1 and localhost
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertOptions,
  copyTrustDir,
  encryptKey,
  OpensslPki,
  type TestCa,
  type TestCert,
  type TrustDir,
  writeTrustCrl,
} from './pki.js';
import { makeTempDir } from './tmp.js';

export const TEST_CA_SUBJECT = '/C=DE/O=GermanGrid/CN=HEPiX Test CA';
export const TEST_PASSPHRASE = 'test-passphrase';

export interface GridEndorser extends TestCert {
  /** The key encrypted with `passphrase` (PKCS#8, AES-256). */
  encryptedKey: string;
  passphrase: string;
  /** A file holding the passphrase (one line). */
  passphraseFile: string;
}

export interface TestPki {
  dir: string;
  /** The trust directory. */
  certDir: string;
  trust: TrustDir;
  ca: TestCa;
  /** `/C=DE/O=GermanGrid/OU=DESY/CN=<cn>`, issued by the CA. */
  endorser: GridEndorser;
  /** TLS server certificate for 127.0.0.1 and localhost. */
  server: TestCert;
  caSubject: string;
  /** Subject hash of the CA (its files in `certDir` are `<hash>.*`). */
  hash: string;
  /** The generator, to make more material in the same directory. */
  pki: OpensslPki;
}

/** Makes the one-CA grid PKI in `dir` (a new temporary directory by default). */
export function makePki(dir: string = makeTempDir('hepix-pki-'), cn = 'Owen Synge'): TestPki {
  const pki = new OpensslPki(dir);
  const ca = pki.rootCa('ca', {
    subject: TEST_CA_SUBJECT,
    certFile: 'ca/ca.pem',
    keyFile: 'ca/ca.key',
    crlFile: 'ca/ca.crl.pem',
  });
  const cert = ca.issue('endorser', {
    subject: `/C=DE/O=GermanGrid/OU=DESY/CN=${cn}`,
    certFile: 'endorser/usercert.pem',
    keyFile: 'endorser/userkey.pem',
  });
  const passphraseFile = join(pki.dir, 'endorser/passphrase.txt');
  writeFileSync(passphraseFile, `${TEST_PASSPHRASE}\n`);
  const endorser = Object.assign(cert, {
    encryptedKey: encryptKey(cert.key, TEST_PASSPHRASE, join(pki.dir, 'endorser/userkey-enc.pem')),
    passphrase: TEST_PASSPHRASE,
    passphraseFile,
  });
  const server = ca.issue('server', { subject: '/C=DE/O=GermanGrid/CN=localhost', profile: 'host' });
  const trust = pki.trustDir('certificates', { cas: [ca] });
  return {
    dir: pki.dir,
    certDir: trust.path,
    trust,
    ca,
    endorser,
    server,
    caSubject: ca.subject,
    hash: ca.hash,
    pki,
  };
}

/**
 * Issues another certificate from the grid CA into `<dir>/<name>/`. `ext`: `v3_endorser` (default), `v3_server`,
 * `san:<subjectAltName entries>` (a host certificate for those names), or options.
 */
export function issueCert(
  pki: TestPki,
  name: string,
  subject: string,
  ext: string | Omit<CertOptions, 'subject'> = 'v3_endorser',
): TestCert {
  let options: Omit<CertOptions, 'subject'>;
  if (typeof ext !== 'string') options = ext;
  else if (ext === 'v3_endorser') options = {};
  else if (ext === 'v3_server') options = { profile: 'host' };
  else if (ext.startsWith('san:')) options = { profile: 'host', san: ext.slice(4).split(/\s*,\s*/) };
  else throw new Error(`unknown certificate kind ${ext}`);
  return pki.ca.issue(name, { subject, ...options });
}

/** Revokes a certificate of the grid CA and puts the new CRL into `certDir` (default: the PKI's own). */
export function revoke(pki: TestPki, cert: TestCert | string, certDir = pki.certDir): void {
  pki.ca.revoke(cert);
  writeTrustCrl(certDir, pki.ca);
}

/** A copy of the trust directory, optionally without its CRLs. */
export function copyCertDir(pki: TestPki, target: string, options: { withoutCrl?: boolean } = {}): string {
  return copyTrustDir(pki.certDir, target, { crls: !options.withoutCrl });
}
