// Less common algorithms: a CA signing with RSA-PSS and an Ed25519 signer. OpenSSL 3.0 can neither sign nor
// verify Ed25519 in PKCS#7/CMS ("invalid digest"), so this is library ↔ library; the PSS certificate is openssl's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrivateKey, signSmime, TrustStore, verifySmime } from '../src/index.js';
import { openssl } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'smime-alg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string) => join(dir, f);
const ossl = (...args: string[]) =>
  execFileSync('openssl', args, {
    cwd: dir,
    env: { ...process.env, OPENSSL_CONF: '/dev/null' },
    stdio: 'pipe',
  });
const PSS = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'];

beforeAll(() => {
  writeFileSync(
    p('ext.cnf'),
    '[leaf]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\n' +
      'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n',
  );
  ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', p('ca.key'));
  ossl(
    'req',
    '-new',
    '-x509',
    '-key',
    p('ca.key'),
    '-subj',
    '/CN=PSS CA',
    '-days',
    '3650',
    '-out',
    p('ca.pem'),
    ...PSS,
    '-addext',
    'basicConstraints=critical,CA:true',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  ossl('genpkey', '-algorithm', 'ED25519', '-out', p('ed.key'));
  ossl('req', '-new', '-key', p('ed.key'), '-subj', '/CN=Ed Signer', '-out', p('ed.csr'));
  ossl(
    'x509',
    '-req',
    '-in',
    p('ed.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-set_serial',
    '7',
    '-days',
    '3650',
    '-out',
    p('ed.pem'),
    '-sha256',
    ...PSS,
    '-extfile',
    p('ext.cnf'),
    '-extensions',
    'leaf',
  );
});

describe('other algorithms', () => {
  it('Ed25519 signer under an RSA-PSS CA', async () => {
    const trust = TrustStore.fromCertificates([readFileSync(p('ca.pem'), 'utf8')]);
    const msg = await signSmime('hello\n', {
      certificate: readFileSync(p('ed.pem'), 'utf8'),
      privateKey: await loadPrivateKey(readFileSync(p('ed.key'))),
    });
    const v = await verifySmime(msg, { trust, crl: 'ignore' });
    expect(v.signer.subject).toBe('/CN=Ed Signer');
    await expect(verifySmime(msg, { trust })).rejects.toMatchObject({ code: 'ERR_SMIME_CRL_MISSING' });
    expect(v.digest).toBe('SHA-512');
    // The certificate chain itself is accepted by openssl.
    const r = await openssl(['verify', '-CAfile', p('ca.pem'), p('ed.pem')]);
    expect(r.code, r.stderr).toBe(0);
    await expect(
      signSmime('x', {
        certificate: readFileSync(p('ed.pem'), 'utf8'),
        privateKey: await loadPrivateKey(readFileSync(p('ed.key'))),
        digest: 'SHA-256',
      }),
    ).rejects.toMatchObject({ code: 'ERR_SMIME_BAD_KEY', reason: 'unsupported' });
    // Trusting the leaf alone is not a path to a self-signed anchor.
    const other = TrustStore.fromCertificates([readFileSync(p('ed.pem'), 'utf8')]);
    await expect(verifySmime(msg, { trust: other, crl: 'ignore' })).rejects.toMatchObject({
      code: 'ERR_SMIME_UNTRUSTED',
    });
  });
});
