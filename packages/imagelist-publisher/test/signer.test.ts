// Loading the signer: PEM pairs and PKCS#12 files made by `openssl pkcs12 -export` with the modern (AES,
// PBKDF2, SHA-256 MAC) and legacy (RC2-40 and 3DES, SHA-1 MAC) encryptions; wrong, missing and empty
// passphrases; files that are not what they claim.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateInfo, signSmime } from '@hepix/smime-x509';
import { makePki, makeTempDir, openssl, opensslVerify, type TestPki } from '@hepix/test-support';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPkcs12Path, loadSigner } from '../src/index.js';
import { expectCode } from './helpers.js';

let pki: TestPki;
let dir: string;
const P12: Record<string, string> = {};
const PASS = 'p12 pass phrase ✓';

beforeAll(() => {
  dir = makeTempDir('hepix-p12-');
  pki = makePki(join(dir, 'pki'));
  const e = pki.endorser;
  const base = ['pkcs12', '-export', '-in', e.cert, '-inkey', e.key, '-name', 'endorser'];
  const make = (name: string, args: string[], pass = PASS) => {
    P12[name] = join(dir, `${name}.p12`);
    openssl([...base, ...args, '-out', P12[name], '-passout', `pass:${pass}`]);
  };
  make('modern', []);
  make('legacy', ['-legacy']);
  make('des', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']);
  make('chain', ['-certfile', pki.ca.cert]); // the CA certificate too: the signer is the key's certificate
  make('empty', [], '');
  P12.pfx = join(dir, 'endorser.pfx');
  openssl([...base, '-out', P12.pfx, '-passout', `pass:${PASS}`]);
});

async function signsAndVerifies(signer: Awaited<ReturnType<typeof loadSigner>>, name: string) {
  expect(certificateInfo(signer.certificate).subject).toBe(pki.endorser.subject);
  const file = join(dir, `${name}.smime`);
  writeFileSync(file, await signSmime('{"hv:imagelist": {}}\n', { ...signer, detached: true }));
  expect(opensslVerify(file, pki.certDir)).toContain('hv:imagelist');
}

describe('PKCS#12', () => {
  it.each(['modern', 'legacy', 'des', 'chain'])(
    '%s: loads with the passphrase, asked for once',
    async (kind) => {
      let asked = 0;
      const signer = await loadSigner({
        certificateFile: P12[kind],
        passphrase: async () => {
          asked++;
          return PASS;
        },
      });
      expect(asked).toBe(1);
      await signsAndVerifies(signer, kind);
    },
  );

  it('a file without a passphrase loads without asking', async () => {
    const signer = await loadSigner({
      certificateFile: P12.empty,
      passphrase: async () => {
        throw new Error('must not ask');
      },
    });
    await signsAndVerifies(signer, 'empty');
  });

  it('recognised by name (.pfx), by content, or by pkcs12: true', async () => {
    expect(isPkcs12Path('x.P12')).toBe(true);
    expect(isPkcs12Path('x.pfx')).toBe(true);
    expect(isPkcs12Path('usercert.pem')).toBe(false);
    await signsAndVerifies(
      await loadSigner({ certificateFile: P12.pfx, passphrase: async () => PASS }),
      'pfx',
    );
    const noExt = join(dir, 'usercred');
    writeFileSync(
      noExt,
      openssl([
        'pkcs12',
        '-export',
        '-in',
        pki.endorser.cert,
        '-inkey',
        pki.endorser.key,
        '-passout',
        `pass:${PASS}`,
      ]),
    );
    await signsAndVerifies(
      await loadSigner({ certificateFile: noExt, passphrase: async () => PASS }),
      'noext',
    );
  });

  it.each(['modern', 'legacy', 'des'])('%s: a wrong passphrase is ERR_PUBLISHER_PASSPHRASE', async (kind) => {
    const err = await expectCode(
      loadSigner({ certificateFile: P12[kind], passphrase: async () => 'wrong' }),
      'ERR_PUBLISHER_PASSPHRASE',
    );
    expect(err.message).toMatch(/wrong passphrase/);
  });

  it('no way to ask for the passphrase is ERR_PUBLISHER_PASSPHRASE', async () => {
    await expectCode(loadSigner({ certificateFile: P12.modern }), 'ERR_PUBLISHER_PASSPHRASE');
    await expectCode(
      loadSigner({ certificateFile: P12.modern, passphrase: async () => undefined }),
      'ERR_PUBLISHER_PASSPHRASE',
    );
  });

  it('a file that is not PKCS#12, or missing, is ERR_PUBLISHER_CREDENTIALS', async () => {
    const junk = join(dir, 'junk.p12');
    writeFileSync(junk, Buffer.from([0x30, 0x03, 0x02, 0x01, 0x03]));
    await expectCode(
      loadSigner({ certificateFile: junk, passphrase: async () => PASS }),
      'ERR_PUBLISHER_CREDENTIALS',
    );
    const text = join(dir, 'text.p12');
    writeFileSync(text, 'not a certificate at all');
    await expectCode(
      loadSigner({ certificateFile: text, passphrase: async () => PASS }),
      'ERR_PUBLISHER_CREDENTIALS',
    );
    await expectCode(loadSigner({ certificateFile: join(dir, 'missing.p12') }), 'ERR_PUBLISHER_CREDENTIALS');
    // A PEM certificate named as PKCS#12 with pkcs12: true is not one.
    await expectCode(
      loadSigner({ certificateFile: pki.endorser.cert, pkcs12: true, passphrase: async () => PASS }),
      'ERR_PUBLISHER_CREDENTIALS',
    );
  });
});

describe('PEM', () => {
  it('an unencrypted key; an encrypted one with its passphrase', async () => {
    await signsAndVerifies(
      await loadSigner({ certificateFile: pki.endorser.cert, keyFile: pki.endorser.key }),
      'pem',
    );
    await signsAndVerifies(
      await loadSigner({
        certificateFile: pki.endorser.cert,
        keyFile: pki.endorser.encryptedKey,
        passphrase: async () => pki.endorser.passphrase,
      }),
      'pem-enc',
    );
  });

  it('wrong, missing passphrase; unreadable or non-PEM files', async () => {
    const opts = { certificateFile: pki.endorser.cert, keyFile: pki.endorser.encryptedKey };
    await expectCode(loadSigner({ ...opts, passphrase: async () => 'wrong' }), 'ERR_PUBLISHER_PASSPHRASE');
    await expectCode(loadSigner(opts), 'ERR_PUBLISHER_PASSPHRASE');
    await expectCode(loadSigner({ ...opts, keyFile: join(dir, 'nope.pem') }), 'ERR_PUBLISHER_CREDENTIALS');
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await expectCode(
      loadSigner({ certificateFile: bad, keyFile: pki.endorser.key }),
      'ERR_PUBLISHER_CREDENTIALS',
    );
    await expectCode(
      loadSigner({ certificateFile: pki.endorser.cert, keyFile: pki.endorser.cert }),
      'ERR_PUBLISHER_KEY',
    );
  });
});
