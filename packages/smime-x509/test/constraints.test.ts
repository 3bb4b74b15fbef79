// Path constraints on an ad-hoc PKI made with the openssl CLI: basicConstraints, pathLen, keyCertSign,
// unknown critical extensions; openssl agrees on each verdict.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrivateKey, signSmime, TrustStore, verifySmime } from '../src/index.js';
import { openssl } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'smime-constraints-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string) => join(dir, f);
const ossl = (...args: string[]) =>
  execFileSync('openssl', args, {
    cwd: dir,
    env: { ...process.env, OPENSSL_CONF: '/dev/null' },
    stdio: 'pipe',
  });

const EXT = `
[root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ca0]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[nocertsign]
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[notca]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[weird]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
1.3.6.1.4.1.99999.1 = critical, ASN1:NULL
`;

function key(name: string): void {
  ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(`${name}.key`));
}
function issue(name: string, subj: string, issuer: string, ext: string, md = 'sha256'): void {
  key(name);
  ossl('req', '-new', '-key', p(`${name}.key`), '-subj', subj, '-out', p(`${name}.csr`));
  ossl(
    'x509',
    '-req',
    '-in',
    p(`${name}.csr`),
    '-CA',
    p(`${issuer}.pem`),
    '-CAkey',
    p(`${issuer}.key`),
    '-set_serial',
    String(Math.floor(Math.random() * 1e9)),
    '-days',
    '3650',
    `-${md}`,
    '-out',
    p(`${name}.pem`),
    '-extfile',
    p('ext.cnf'),
    '-extensions',
    ext,
  );
}

beforeAll(() => {
  writeFileSync(p('ext.cnf'), EXT);
  key('root');
  ossl(
    'req',
    '-new',
    '-x509',
    '-key',
    p('root.key'),
    '-subj',
    '/CN=Root',
    '-days',
    '3650',
    '-out',
    p('root.pem'),
    '-config',
    p('ext.cnf'),
    '-extensions',
    'root',
    '-section',
    'root',
  );
  issue('sub', '/CN=Sub CA pathlen 0', 'root', 'ca0');
  issue('subsub', '/CN=Sub Sub CA', 'sub', 'ca');
  issue('deep', '/CN=Too Deep', 'subsub', 'leaf');
  issue('ok', '/CN=Fine', 'sub', 'leaf');
  issue('nocs', '/CN=No CertSign CA', 'root', 'nocertsign');
  issue('undernocs', '/CN=Under No CertSign', 'nocs', 'leaf');
  issue('notca', '/CN=Not A CA', 'root', 'notca');
  issue('undernotca', '/CN=Under Not A CA', 'notca', 'leaf');
  issue('weird', '/CN=Unknown Critical', 'sub', 'weird');
  issue('sha1', '/CN=Old SHA-1 Certificate', 'sub', 'leaf', 'sha1');
});

async function sign(leaf: string, chain: string[]): Promise<string> {
  return signSmime('content\n', {
    certificate: readFileSync(p(`${leaf}.pem`), 'utf8'),
    privateKey: await loadPrivateKey(readFileSync(p(`${leaf}.key`))),
    chain: chain.map((c) => readFileSync(p(`${c}.pem`), 'utf8')),
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
      const trust = TrustStore.fromCertificates([readFileSync(p('root.pem'), 'utf8')]);
      let got = 'OK';
      try {
        await verifySmime(msg, { trust, crl: 'ignore' });
      } catch (e) {
        got = (e as { code: string }).code;
      }
      expect(got).toBe(code);
      writeFileSync(p(`${leaf}.smime`), msg);
      const r = await openssl([
        'smime',
        '-verify',
        '-CAfile',
        p('root.pem'),
        '-in',
        p(`${leaf}.smime`),
        '-out',
        '/dev/null',
      ]);
      expect(r.code === 0, r.stderr).toBe(code === 'OK');
    });
  }
});
