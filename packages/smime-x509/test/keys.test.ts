import { describe, expect, it } from 'vitest';
import {
  certificateInfo,
  isEncryptedPrivateKey,
  loadCertificate,
  loadCertificates,
  loadPrivateKey,
  signSmime,
  TrustStore,
  verifySmime,
} from '../src/index.js';
import { runOpenssl } from '@hepix/test-support';
import { file, read, readBytes } from './helpers.js';

describe('loadPrivateKey', () => {
  it('reads PKCS#8, PKCS#1, SEC1 and encrypted PEM, and the keys sign', async () => {
    const trust = await TrustStore.fromDirectory(file('trust'));
    const cases: [string, string, string | undefined][] = [
      ['leaf/endorser.key', 'leaf/endorser.pem', undefined],
      ['leaf/endorser-pkcs1.key', 'leaf/endorser.pem', undefined],
      ['leaf/endorser-enc.key', 'leaf/endorser.pem', read('leaf/passphrase.txt').trim()],
      ['leaf/endorser-ec-sec1.key', 'leaf/endorser-ec.pem', undefined],
      ['leaf/endorser-ec.key', 'leaf/endorser-ec.pem', undefined],
    ];
    for (const [key, cert, pass] of cases) {
      expect(isEncryptedPrivateKey(read(key))).toBe(pass !== undefined);
      const k = await loadPrivateKey(readBytes(key), pass);
      expect(k.algorithm).toBe(key.includes('-ec') ? 'ec' : 'rsa');
      const msg = await signSmime('x\n', { certificate: read(cert), privateKey: k });
      await expect(verifySmime(msg, { trust })).resolves.toMatchObject({ format: 'detached' });
    }
  });

  it('reads a key from a bundle with the certificate first', async () => {
    const k = await loadPrivateKey(read('leaf/endorser.pem') + read('leaf/endorser.key'));
    expect(k.algorithm).toBe('rsa');
  });

  it('wrong or missing passphrase: ERR_SMIME_BAD_KEY reason passphrase', async () => {
    const enc = read('leaf/endorser-enc.key');
    await expect(loadPrivateKey(enc)).rejects.toMatchObject({
      code: 'ERR_SMIME_BAD_KEY',
      reason: 'passphrase',
    });
    await expect(loadPrivateKey(enc, 'wrong')).rejects.toMatchObject({
      code: 'ERR_SMIME_BAD_KEY',
      reason: 'passphrase',
    });
    // Legacy OpenSSL encryption (Proc-Type: 4,ENCRYPTED).
    const legacy = await runOpenssl([
      'rsa',
      '-in',
      file('leaf', 'endorser.key'),
      '-traditional',
      '-aes128',
      '-passout',
      'pass:secret',
    ]);
    expect(legacy.code).toBe(0);
    const pem = legacy.stdout.toString();
    expect(pem).toContain('Proc-Type: 4,ENCRYPTED');
    expect(isEncryptedPrivateKey(pem)).toBe(true);
    await expect(loadPrivateKey(pem, 'nope')).rejects.toMatchObject({ reason: 'passphrase' });
    await expect(loadPrivateKey(pem, 'secret')).resolves.toMatchObject({ algorithm: 'rsa' });
  });

  it('garbage is ERR_SMIME_BAD_KEY reason unsupported', async () => {
    await expect(loadPrivateKey('not a key')).rejects.toMatchObject({
      code: 'ERR_SMIME_BAD_KEY',
      reason: 'unsupported',
    });
    await expect(
      loadPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
    ).rejects.toMatchObject({ code: 'ERR_SMIME_BAD_KEY', reason: 'unsupported' });
    expect(isEncryptedPrivateKey(read('leaf/endorser.pem'))).toBe(false);
  });
});

describe('loadCertificate and certificateInfo', () => {
  it('reads PEM and DER and reports the facts', async () => {
    const der = await runOpenssl(['x509', '-in', file('leaf', 'endorser.pem'), '-outform', 'DER']);
    const a = loadCertificate(read('leaf/endorser.pem'));
    const b = loadCertificate(der.stdout);
    expect(Buffer.from(a.rawData).equals(Buffer.from(b.rawData))).toBe(true);
    const info = certificateInfo(a);
    const serial = (
      await runOpenssl(['x509', '-in', file('leaf', 'endorser.pem'), '-noout', '-serial'])
    ).stdout
      .toString()
      .trim()
      .replace('serial=', '');
    expect(info).toMatchObject({
      subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
      issuer: '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA',
      serialNumber: serial.replace(/^(00)+/, ''),
      keyUsage: ['digitalSignature', 'nonRepudiation', 'keyEncipherment'],
      digitalSignature: true,
      isCA: false,
    });
    expect(info.notAfter.getTime()).toBeGreaterThan(info.notBefore.getTime());
    expect(certificateInfo(loadCertificate(read('leaf/nods.pem'))).digitalSignature).toBe(false);
    expect(certificateInfo(loadCertificate(read('root/cert.pem')))).toMatchObject({
      isCA: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    });
    expect(loadCertificates(read('leaf/endorser.pem') + read('inter/cert.pem'))).toHaveLength(2);
  });

  it('malformed input is ERR_SMIME_MALFORMED', () => {
    expect(() => loadCertificate('nothing here')).toThrow(
      expect.objectContaining({ code: 'ERR_SMIME_MALFORMED' }),
    );
    expect(() => loadCertificate(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))).toThrow(
      expect.objectContaining({ code: 'ERR_SMIME_MALFORMED' }),
    );
  });
});
