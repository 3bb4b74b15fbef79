// Path constraints on an ad-hoc PKI made with the openssl CLI: basicConstraints, pathLen, keyCertSign,
// unknown critical extensions; openssl agrees on each verdict.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertOptions,
  OpensslPki,
  removeDir,
  runOpenssl,
  TestCa,
  type TestCert,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrivateKey, signSmime, TrustStore, verifySmime } from '../src/index.js';

const ski = ['subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'];
const LEAF = ['basicConstraints = critical, CA:false', 'keyUsage = critical, digitalSignature', ...ski];

let pki: OpensslPki;
let root: TestCa;
const certs = new Map<string, TestCert>();
afterAll(() => removeDir(pki?.dir));

beforeAll(() => {
  pki = new OpensslPki();
  root = pki.rootCa('root', { subject: '/CN=Root', key: 'ec' });
  const ca = (parent: TestCa, name: string, options: Omit<CertOptions, 'key'>) => {
    const c = parent.subCa(name, { key: 'ec', ...options });
    certs.set(name, c);
    return c;
  };
  const leaf = (parent: TestCa, name: string, options: Omit<CertOptions, 'key'>) =>
    certs.set(name, parent.issue(name, { key: 'ec', extensions: LEAF, ...options }));
  const sub = ca(root, 'sub', { subject: '/CN=Sub CA pathlen 0', pathLength: 0 });
  const subsub = ca(sub, 'subsub', { subject: '/CN=Sub Sub CA' });
  leaf(subsub, 'deep', { subject: '/CN=Too Deep' });
  leaf(sub, 'ok', { subject: '/CN=Fine' });
  // CAs that lack what it takes to issue: keyCertSign, or the CA flag.
  const odd = (name: string, subject: string, isCa: boolean, keyUsage: string) =>
    ca(root, name, {
      subject,
      extensions: [`basicConstraints = critical, CA:${isCa}`, `keyUsage = critical, ${keyUsage}`, ...ski],
    });
  leaf(odd('nocs', '/CN=No CertSign CA', true, 'digitalSignature, cRLSign'), 'undernocs', {
    subject: '/CN=Under No CertSign',
  });
  leaf(odd('notca', '/CN=Not A CA', false, 'digitalSignature, keyCertSign'), 'undernotca', {
    subject: '/CN=Under Not A CA',
  });
  leaf(sub, 'weird', {
    subject: '/CN=Unknown Critical',
    extensions: [...LEAF.slice(0, 2), '1.3.6.1.4.1.99999.1 = critical, ASN1:NULL'],
  });
  leaf(sub, 'sha1', { subject: '/CN=Old SHA-1 Certificate', digest: 'sha1' });
});

async function sign(leaf: string, chain: string[]): Promise<string> {
  const c = certs.get(leaf)!;
  return signSmime('content\n', {
    certificate: c.pem,
    privateKey: await loadPrivateKey(c.keyPem),
    chain: chain.map((name) => certs.get(name)!.pem),
  });
}

describe('path constraints', () => {
  const cases: [string, string[], string][] = [
    ['ok', ['sub'], 'OK'],
    ['sha1', ['sub'], 'OK'],
    ['deep', ['sub', 'subsub'], 'ERR_SMIME_UNTRUSTED'],
    ['undernocs', ['nocs'], 'ERR_SMIME_UNTRUSTED'],
    ['undernotca', ['notca'], 'ERR_SMIME_UNTRUSTED'],
    ['weird', ['sub'], 'ERR_SMIME_UNTRUSTED'],
  ];
  for (const [leaf, chain, code] of cases) {
    it(`${leaf}: ${code}, and openssl agrees`, async () => {
      const msg = await sign(leaf, chain);
      // Every CA with its namespaces, so that only the constraint under test can refuse.
      const cas = [root, ...[...certs.values()].filter((c) => c instanceof TestCa)];
      const trust = TrustStore.fromCertificates([root.pem], [], {
        namespaces: cas.map((c) => c.namespacesText()),
      });
      let got = 'OK';
      try {
        const v = await verifySmime(msg, { trust, crl: 'ignore' });
        // The SHA-1 certificate is accepted with a warning naming it; nothing else is reserved.
        expect(v.warnings).toEqual(
          leaf === 'sha1'
            ? [
                {
                  code: 'WARN_SMIME_SHA1',
                  message: 'certificate /CN=Old SHA-1 Certificate is signed with SHA-1',
                  subject: '/CN=Old SHA-1 Certificate',
                },
              ]
            : [],
        );
      } catch (e) {
        got = (e as { code: string }).code;
      }
      expect(got).toBe(code);
      const file = join(pki.dir, `${leaf}.smime`);
      writeFileSync(file, msg);
      const r = await runOpenssl([
        'smime',
        '-verify',
        '-CAfile',
        root.cert,
        '-in',
        file,
        '-out',
        '/dev/null',
      ]);
      expect(r.code === 0, r.stderr).toBe(code === 'OK');
    });
  }
});
