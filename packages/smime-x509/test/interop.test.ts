// Interoperability with the openssl CLI in both directions, and one error code per bad certificate.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DigestName,
  loadCertificate,
  loadPrivateKey,
  type SmimeError,
  signSmime,
  TrustStore,
  verifySmime,
} from '../src/index.js';
import { makeListJson, runOpenssl, sampleImages, signList } from '@hepix/test-support';
import { file, hashOf, read } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'smime-interop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const tmpFile = (data: string | Buffer): string => {
  const p = join(tmp, `f${n++}`);
  writeFileSync(p, data);
  return p;
};

const body = makeListJson({
  identifier: '4e186b44-2c64-40ea-97d5-e9e3d81e5e13',
  version: '1.0.0',
  created: new Date('2026-01-01T00:00:00Z'),
  expires: new Date('2099-01-01T00:00:00Z'),
  uri: 'https://example.org/imagelist.smime',
  dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
  ca: '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA',
  images: sampleImages(5),
});
const crlfBody = body.replace(/\n/g, '\r\n');

/** Sign with `openssl smime -sign`; returns the S/MIME text. */
async function opensslSign(leaf: string, extra: string[] = [], content = body): Promise<string> {
  const signer = { cert: file('leaf', `${leaf}.pem`), key: file('leaf', `${leaf}.key`) };
  return signList(content, signer, { extraArgs: extra }).toString('utf8');
}

/** `openssl smime -verify -CApath trust -crl_check` of a message: its exit status and output. */
const opensslVerify = (msg: string) =>
  runOpenssl(['smime', '-verify', '-CApath', file('trust'), '-crl_check', '-in', tmpFile(msg)]);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).name).toBe('SmimeError');
    return (e as SmimeError).code;
  }
  return 'OK';
}

let trust: TrustStore;
beforeAll(async () => {
  trust = await TrustStore.fromDirectory(file('trust'));
  expect(trust.warnings).toEqual([]);
  expect(trust.certificates).toHaveLength(3);
});

describe('openssl smime -sign → verifySmime', () => {
  const canonical = Buffer.from(crlfBody, 'utf8');
  const cases: [string, string[]][] = [
    ['detached SHA-256 (default)', []],
    ['detached SHA-1', ['-md', 'sha1']],
    ['detached with -certfile chain', ['-certfile', file('inter', 'cert.pem')]],
    ['opaque (-nodetach)', ['-nodetach']],
    ['opaque SHA-1', ['-nodetach', '-md', 'sha1']],
    ['-text', ['-text']],
    ['-text -nodetach', ['-text', '-nodetach']],
    ['SHA-512', ['-md', 'sha512']],
  ];
  for (const [name, args] of cases) {
    it(name, async () => {
      const msg = await opensslSign('endorser', args);
      const v = await verifySmime(msg, { trust });
      expect(Buffer.from(v.content).equals(canonical)).toBe(true);
      expect(v.signer.subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge');
      expect(v.signer.issuer).toBe('/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA');
      expect(v.chain.map((c) => c.subject)).toHaveLength(3);
      expect(v.signingTime).toBeInstanceOf(Date);
      expect(v.format).toBe(args.includes('-nodetach') ? 'opaque' : 'detached');
    });
  }

  it('verifies after line endings are converted in transit (all CRLF, all LF)', async () => {
    const msg = await opensslSign('endorser');
    expect(msg).toContain('application/x-pkcs7-signature');
    const allCrlf = msg.replace(/\r?\n/g, '\r\n');
    const allLf = msg.replace(/\r\n/g, '\n');
    for (const m of [allCrlf, allLf]) {
      const v = await verifySmime(m, { trust });
      expect(Buffer.from(v.content).equals(canonical)).toBe(true);
    }
  });

  it('accepts both protocol spellings and base64 of any line length', async () => {
    const msg = await opensslSign('endorser');
    const renamed = msg.replaceAll('application/x-pkcs7-signature', 'application/pkcs7-signature');
    await expect(verifySmime(renamed, { trust })).resolves.toBeDefined();
    // Re-wrap the base64 of the signature part at 76 columns.
    const [head, sigPart] = msg.split('filename="smime.p7s"');
    const b64 = sigPart.split(/\n\n/)[1].split('\n\n')[0].replace(/\s+/g, '');
    const closing = msg.slice(msg.lastIndexOf('\n------'));
    const rewrapped = `${head}filename="smime.p7s"\n\n${b64.match(/.{1,76}/g)!.join('\n')}\n${closing}`;
    await expect(verifySmime(rewrapped, { trust })).resolves.toBeDefined();
  });

  it('accepts mail headers, folded header lines and an unquoted boundary', async () => {
    const msg = await opensslSign('endorser');
    const boundary = /boundary="([^"]+)"/.exec(msg)![1];
    const mail = msg.replace(
      /^MIME-Version: 1.0\nContent-Type: multipart\/signed;[^\n]*\n/,
      'From: list@example.org\nSubject: image list\nMIME-Version: 1.0\nContent-Type: multipart/signed;\n' +
        `\tprotocol="application/x-pkcs7-signature";\n micalg=sha-256; boundary=${boundary}\n`,
    );
    expect(mail).not.toBe(msg);
    const v = await verifySmime(mail, { trust });
    expect(Buffer.from(v.content).equals(canonical)).toBe(true);
  });

  it('one changed byte of content fails with ERR_SMIME_DIGEST_MISMATCH', async () => {
    const msg = await opensslSign('endorser');
    const i = msg.indexOf('Test list');
    const bad = msg.slice(0, i) + 'B' + msg.slice(i + 1);
    expect(await codeOf(verifySmime(bad, { trust }))).toBe('ERR_SMIME_DIGEST_MISMATCH');
    const opaque = await opensslSign('endorser', ['-nodetach', '-binary'], 'x'.repeat(300));
    // Flip one content byte inside the DER (the content is a run of "x").
    const lines = opaque.split('\n');
    const start = lines.indexOf('') + 1;
    const der = Buffer.from(lines.slice(start).join(''), 'base64');
    der[der.indexOf('xxxxxxxx') + 3] = 0x79;
    const tampered = `${lines.slice(0, start).join('\n')}\n${der.toString('base64')}\n`;
    expect(await codeOf(verifySmime(tampered, { trust }))).toBe('ERR_SMIME_DIGEST_MISMATCH');
  });

  it('a changed signature byte fails with ERR_SMIME_SIGNATURE_INVALID', async () => {
    const msg = await opensslSign('endorser', ['-nodetach']);
    const lines = msg.split('\n');
    const start = lines.indexOf('') + 1;
    const der = Buffer.from(lines.slice(start).join(''), 'base64');
    // openssl writes indefinite-length BER for -nodetach: the signature ends before the end-of-contents octets.
    let end = der.length;
    while (der[end - 1] === 0 && der[end - 2] === 0) end -= 2;
    der[end - 1] ^= 0x01;
    const tampered = `${lines.slice(0, start).join('\n')}\n${der.toString('base64')}\n`;
    expect(await codeOf(verifySmime(tampered, { trust }))).toBe('ERR_SMIME_SIGNATURE_INVALID');
  });

  it('EC signer under the EC CA (signing_policy namespace)', async () => {
    const v = await verifySmime(await opensslSign('endorser-ec'), { trust });
    expect(v.signer.subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge EC');
    expect(v.signer.issuer).toBe('/C=DE/O=GermanGrid/CN=HEPiX Test EC CA');
  });

  it('awkward name verifies and is reported in OpenSSL 1.x one-line form', async () => {
    const v = await verifySmime(await opensslSign('awkward'), { trust });
    expect(v.signer.subject).toBe(
      '/DC=org/DC=example/O=Grid/Inc, = +x/OU=a+b/UID=jg/CN=J\\xC3\\xBCrgen Gro\\xC3\\x9F',
    );
  });

  const bad: [string, string, string][] = [
    ['revoked', 'revoked', 'ERR_SMIME_REVOKED'],
    ['expired', 'expired', 'ERR_SMIME_CERT_EXPIRED'],
    ['not yet valid', 'notyet', 'ERR_SMIME_CERT_NOT_YET_VALID'],
    ['without digitalSignature', 'nods', 'ERR_SMIME_KEY_USAGE'],
    ['with extKeyUsage serverAuth only', 'noeku', 'ERR_SMIME_KEY_USAGE'],
    ['issued by a same-name CA with another key', 'rogue', 'ERR_SMIME_UNTRUSTED'],
    ['outside the namespace of its CA', 'outsider', 'ERR_SMIME_NAMESPACE'],
  ];
  for (const [name, leaf, code] of bad) {
    it(`signer ${name} fails with ${code}`, async () => {
      const extra = leaf === 'rogue' ? ['-certfile', file('rogue', 'cert.pem')] : [];
      const msg = await opensslSign(leaf, extra);
      expect(await codeOf(verifySmime(msg, { trust }))).toBe(code);
    });
  }

  it('CRL problems have their own codes', async () => {
    const msg = await opensslSign('endorser');
    const nocrl = await TrustStore.fromDirectory(file('trust-nocrl'));
    expect(await codeOf(verifySmime(msg, { trust: nocrl }))).toBe('ERR_SMIME_CRL_MISSING');
    expect(await codeOf(verifySmime(msg, { trust: nocrl, crl: 'if-present' }))).toBe('OK');
    const badcrl = await TrustStore.fromDirectory(file('trust-badcrl'));
    expect(await codeOf(verifySmime(msg, { trust: badcrl }))).toBe('ERR_SMIME_CRL_INVALID');
    expect(await codeOf(verifySmime(msg, { trust: badcrl, crl: 'ignore' }))).toBe('OK');
    // The CRLs are valid for 30 days: 60 days from now they are expired, the certificates are not.
    const later = new Date(Date.now() + 60 * 86400_000);
    expect(await codeOf(verifySmime(msg, { trust, now: () => later }))).toBe('ERR_SMIME_CRL_EXPIRED');
    expect(await codeOf(verifySmime(msg, { trust, at: later }))).toBe('ERR_SMIME_CRL_EXPIRED');
    // Revocation is checked even for a revoked signer whose CRL is otherwise fine under if-present.
    const revoked = await opensslSign('revoked');
    expect(await codeOf(verifySmime(revoked, { trust, crl: 'if-present' }))).toBe('ERR_SMIME_REVOKED');
  });

  it('two signers fail with ERR_SMIME_SIGNER_COUNT', async () => {
    const msg = await opensslSign('endorser', [
      '-signer',
      file('leaf', 'endorser-ec.pem'),
      '-inkey',
      file('leaf', 'endorser-ec.key'),
    ]);
    expect(await codeOf(verifySmime(msg, { trust }))).toBe('ERR_SMIME_SIGNER_COUNT');
  });

  it('an empty trust store trusts nothing', async () => {
    const msg = await opensslSign('endorser');
    expect(await codeOf(verifySmime(msg, { trust: TrustStore.fromCertificates([]) }))).toBe(
      'ERR_SMIME_UNTRUSTED',
    );
    // The policies of the trust directory, given as texts.
    const namespaces = [
      read('trust', `${hashOf('root')}.namespaces`),
      read('trust', `${hashOf('inter')}.namespaces`),
    ];
    // Only the intermediate as anchor is not enough: the path must end at a self-signed root.
    const partial = TrustStore.fromCertificates([read('inter/cert.pem')], [read('inter/crl.pem')], {
      namespaces,
    });
    expect(await codeOf(verifySmime(msg, { trust: partial }))).toBe('ERR_SMIME_UNTRUSTED');
    const noRootCrl = TrustStore.fromCertificates(
      [read('root/cert.pem'), read('inter/cert.pem')],
      [read('inter/crl.pem')],
      { namespaces },
    );
    // The intermediate itself needs a CRL from the root (every element below the anchor is checked).
    expect(await codeOf(verifySmime(msg, { trust: noRootCrl }))).toBe('ERR_SMIME_CRL_MISSING');
    const full = TrustStore.fromCertificates(
      [read('root/cert.pem'), read('inter/cert.pem')],
      [read('inter/crl.pem'), read('root/crl.pem')],
      { namespaces },
    );
    expect(await codeOf(verifySmime(msg, { trust: full }))).toBe('OK');
    // Intermediates may also be passed by the caller (M2Crypto-style messages carry only the signer).
    const rootOnly = TrustStore.fromCertificates(
      [read('root/cert.pem')],
      [read('inter/crl.pem'), read('root/crl.pem')],
      { namespaces },
    );
    expect(await codeOf(verifySmime(msg, { trust: rootOnly }))).toBe('ERR_SMIME_UNTRUSTED');
    expect(await codeOf(verifySmime(msg, { trust: rootOnly, certificates: [read('inter/cert.pem')] }))).toBe(
      'OK',
    );
  });
});

describe('signSmime → openssl smime -verify -CApath -crl_check', () => {
  const signers: [string, string][] = [
    ['RSA', 'endorser'],
    ['EC', 'endorser-ec'],
  ];
  for (const [alg, leaf] of signers) {
    for (const detached of [true, false]) {
      for (const digest of ['SHA-256', 'SHA-1', 'SHA-384'] as DigestName[]) {
        it(`${alg} ${detached ? 'detached' : 'opaque'} ${digest}`, async () => {
          const msg = await signSmime(body, {
            certificate: read('leaf', `${leaf}.pem`),
            privateKey: await loadPrivateKey(read('leaf', `${leaf}.key`)),
            detached,
            digest,
          });
          const r = await opensslVerify(msg);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout.toString('utf8')).toBe(crlfBody);
          const v = await verifySmime(msg, { trust });
          expect(v.digest).toBe(digest);
          expect(Buffer.from(v.content).toString('utf8')).toBe(crlfBody);
          // Tampering fails in openssl too.
          const i = msg.indexOf(detached ? 'Test list' : 'MII') + (detached ? 0 : 400);
          const tampered = msg.slice(0, i) + (msg[i] === 'A' ? 'B' : 'A') + msg.slice(i + 1);
          const t = await opensslVerify(tampered);
          expect(t.code).not.toBe(0);
          await expect(verifySmime(tampered, { trust })).rejects.toMatchObject({ name: 'SmimeError' });
        });
      }
    }
  }

  it('with the chain embedded, x- prefix, and an encrypted key', async () => {
    const key = await loadPrivateKey(read('leaf/endorser-enc.key'), read('leaf/passphrase.txt').trim());
    const msg = await signSmime(body, {
      certificate: loadCertificate(read('leaf/endorser.pem')),
      privateKey: key,
      chain: [read('inter/cert.pem')],
      mimePrefix: 'application/x-pkcs7-',
    });
    expect(msg).toContain('protocol="application/x-pkcs7-signature"');
    // Only the root in CAfile: the intermediate must come from the message.
    const r = await runOpenssl([
      'smime',
      '-verify',
      '-CAfile',
      file('root', 'cert.pem'),
      '-in',
      tmpFile(msg),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const p7 = await runOpenssl(['smime', '-pk7out', '-in', tmpFile(msg)]);
    const certs = await runOpenssl(['pkcs7', '-print_certs', '-noout'], p7.stdout);
    expect(certs.stdout.toString()).toContain('HEPiX Test Intermediate CA');
  });

  it('signed by the awkward-name endorser, openssl agrees', async () => {
    const msg = await signSmime('hello\nworld\n', {
      certificate: read('leaf/awkward.pem'),
      privateKey: await loadPrivateKey(read('leaf/awkward.key')),
    });
    const r = await opensslVerify(msg);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('hello\r\nworld\r\n');
  });

  it('refuses a key that does not match, and a certificate without digitalSignature', async () => {
    const other = await loadPrivateKey(read('leaf/revoked.key'));
    await expect(
      signSmime(body, { certificate: read('leaf/endorser.pem'), privateKey: other }),
    ).rejects.toMatchObject({
      code: 'ERR_SMIME_BAD_KEY',
      reason: 'mismatch',
    });
    await expect(
      signSmime(body, {
        certificate: read('leaf/nods.pem'),
        privateKey: await loadPrivateKey(read('leaf/nods.key')),
      }),
    ).rejects.toMatchObject({ code: 'ERR_SMIME_KEY_USAGE' });
  });
});
