// Less common algorithms: a CA signing with RSA-PSS and an Ed25519 signer. OpenSSL 3.0 can neither sign nor
// verify Ed25519 in PKCS#7/CMS ("invalid digest"), so this is library ↔ library; the PSS certificate is openssl's.
import { OpensslPki, removeDir, runOpenssl, type TestCa, type TestCert } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrivateKey, signSmime, TrustStore, verifySmime } from '../src/index.js';

const PSS = ['rsa_padding_mode:pss', 'rsa_pss_saltlen:32'];
let pki: OpensslPki;
let ca: TestCa;
let ed: TestCert;
afterAll(() => removeDir(pki?.dir));

beforeAll(() => {
  pki = new OpensslPki();
  ca = pki.rootCa('ca', { subject: '/CN=PSS CA', sigopt: PSS });
  ed = ca.issue('ed', {
    subject: '/CN=Ed Signer',
    key: 'ed25519',
    sigopt: PSS,
    extensions: [
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, digitalSignature',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
    ],
  });
});

describe('other algorithms', () => {
  it('Ed25519 signer under an RSA-PSS CA', async () => {
    const trust = TrustStore.fromCertificates([ca.pem], [], { signingPolicies: [ca.signingPolicyText()] });
    const msg = await signSmime('hello\n', {
      certificate: ed.pem,
      privateKey: await loadPrivateKey(ed.keyPem),
    });
    const v = await verifySmime(msg, { trust, crl: 'ignore' });
    expect(v.signer.subject).toBe('/CN=Ed Signer');
    await expect(verifySmime(msg, { trust })).rejects.toMatchObject({ code: 'ERR_SMIME_CRL_MISSING' });
    expect(v.digest).toBe('SHA-512');
    // The certificate chain itself is accepted by openssl.
    const r = await runOpenssl(['verify', '-CAfile', ca.cert, ed.cert]);
    expect(r.code, r.stderr).toBe(0);
    await expect(
      signSmime('x', {
        certificate: ed.pem,
        privateKey: await loadPrivateKey(ed.keyPem),
        digest: 'SHA-256',
      }),
    ).rejects.toMatchObject({ code: 'ERR_SMIME_BAD_KEY', reason: 'unsupported' });
    // Trusting the leaf alone is not a path to a self-signed anchor.
    const other = TrustStore.fromCertificates([ed.pem], [], { allowUnrestrictedCa: true });
    await expect(verifySmime(msg, { trust: other, crl: 'ignore' })).rejects.toMatchObject({
      code: 'ERR_SMIME_UNTRUSTED',
    });
  });
});
