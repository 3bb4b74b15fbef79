// The endorser's certificate and private key: a PEM pair (usercert.pem + userkey.pem), or one PKCS#12 file as
// grid users often hold them (stratus-sign-metadata --p12-cert). The passphrase is asked for only when the key
// or the PKCS#12 file needs one.
import { spawn } from 'node:child_process';
import { createHash, createHmac, createPrivateKey, timingSafeEqual, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { messageOf } from '@hepix/common';
import {
  isEncryptedPrivateKey,
  loadCertificate,
  loadPrivateKey,
  type PrivateKey,
  SmimeError,
} from '@hepix/smime-x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { PFX } from '@peculiar/asn1-pfx';
import { PublisherError } from './errors.js';

/** A loaded signing certificate and its private key. */
export interface Signer {
  certificate: Awaited<ReturnType<typeof loadCertificate>>;
  privateKey: PrivateKey;
}

export interface LoadSignerOptions {
  /** PEM certificate, or a PKCS#12 file (`.p12`/`.pfx`, or DER content) holding certificate and key. */
  certificateFile: string;
  /** PEM private key; not used for a PKCS#12 file. */
  keyFile?: string;
  /** Treat `certificateFile` as PKCS#12 whatever its name (`--p12-cert`). */
  pkcs12?: boolean;
  /** Asked only for an encrypted key or a PKCS#12 file; undefined when there is no way to ask. */
  passphrase?: () => Promise<string | undefined>;
}

/** True for a file name that says PKCS#12. */
export function isPkcs12Path(path: string): boolean {
  return ['.p12', '.pfx'].includes(extname(path).toLowerCase());
}

async function readCredential(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new PublisherError(
      'ERR_PUBLISHER_CREDENTIALS',
      `cannot read the ${what} ${path}: ${messageOf(cause)}`,
      {
        subject: path,
        cause,
      },
    );
  }
}

const PEM_CERT = '-----BEGIN CERTIFICATE-----';

/**
 * Reads and decodes the signing certificate and key. A PKCS#12 certificate file (by name, by `pkcs12`, or
 * because it is not PEM) brings its own key. Missing or wrong passphrase → `ERR_PUBLISHER_PASSPHRASE`; a key
 * that is not the certificate's → `ERR_PUBLISHER_KEY`; unreadable files → `ERR_PUBLISHER_CREDENTIALS`.
 */
export async function loadSigner(options: LoadSignerOptions): Promise<Signer> {
  const certBytes = await readCredential(options.certificateFile, 'signing certificate');
  const pem = certBytes.toString('latin1');
  if (
    options.pkcs12 ||
    isPkcs12Path(options.certificateFile) ||
    (!pem.includes(PEM_CERT) && certBytes[0] === 0x30)
  )
    return loadPkcs12Signer(options.certificateFile, certBytes, options.passphrase);
  if (!options.keyFile)
    throw new PublisherError('ERR_PUBLISHER_CREDENTIALS', 'no private key file given for a PEM certificate');
  const keyPem = (await readCredential(options.keyFile, 'private key')).toString('latin1');
  let certificate: Signer['certificate'];
  try {
    certificate = await loadCertificate(pem);
  } catch (cause) {
    throw new PublisherError(
      'ERR_PUBLISHER_CREDENTIALS',
      `${options.certificateFile} is not a PEM certificate: ${messageOf(cause)}`,
      { subject: options.certificateFile, cause },
    );
  }
  let passphrase: string | undefined;
  if (isEncryptedPrivateKey(keyPem)) {
    passphrase = await options.passphrase?.();
    if (passphrase === undefined)
      throw new PublisherError(
        'ERR_PUBLISHER_PASSPHRASE',
        `the private key ${options.keyFile} is encrypted and no passphrase was given`,
        { subject: options.keyFile },
      );
  }
  try {
    // A key that is not the certificate's is found when signing (keyError maps it).
    return { certificate, privateKey: await loadPrivateKey(keyPem, passphrase) };
  } catch (cause) {
    throw keyError(cause, options.keyFile);
  }
}

/** Maps smime-x509 key errors (of loading or of signing) onto the publisher's codes. */
export function keyError(cause: unknown, keyFile: string): PublisherError {
  if (cause instanceof PublisherError) return cause;
  if (cause instanceof SmimeError && cause.code === 'ERR_SMIME_BAD_KEY') {
    if (cause.reason === 'passphrase')
      return new PublisherError(
        'ERR_PUBLISHER_PASSPHRASE',
        `wrong passphrase for the private key ${keyFile}`,
        {
          subject: keyFile,
          cause,
        },
      );
    if (cause.reason === 'mismatch')
      return new PublisherError(
        'ERR_PUBLISHER_KEY',
        `the private key ${keyFile} does not belong to the signing certificate`,
        { subject: keyFile, cause },
      );
  }
  return new PublisherError(
    'ERR_PUBLISHER_KEY',
    `cannot use the private key ${keyFile}: ${messageOf(cause)}`,
    {
      subject: keyFile,
      cause,
    },
  );
}

// ---------------------------------------------------------------------------------------------------------
// PKCS#12

const DIGESTS: Record<string, { name: string; block: number }> = {
  '1.3.14.3.2.26': { name: 'sha1', block: 64 },
  '2.16.840.1.101.3.4.2.4': { name: 'sha224', block: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', block: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', block: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', block: 128 },
};

/** RFC 7292 appendix B.2: the PKCS#12 key derivation, used for the integrity (MAC) key (`id` 3). */
function pkcs12Kdf(
  digest: string,
  block: number,
  password: Buffer,
  salt: Buffer,
  iterations: number,
  id: number,
  n: number,
): Buffer {
  const fill = (data: Buffer) => {
    if (data.length === 0) return Buffer.alloc(0);
    const len = block * Math.ceil(data.length / block);
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = data[i % data.length];
    return out;
  };
  const D = Buffer.alloc(block, id);
  const I = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  let produced = 0;
  while (produced < n) {
    let A = createHash(digest).update(D).update(I).digest();
    for (let i = 1; i < iterations; i++) A = createHash(digest).update(A).digest();
    out.push(A);
    produced += A.length;
    if (produced >= n) break;
    const B = fill(A).subarray(0, block);
    for (let j = 0; j < I.length; j += block) {
      // I_j = (I_j + B + 1) mod 2^(8·block), big-endian
      let carry = 1;
      for (let k = block - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, n);
}

/** The passphrase as PKCS#12 wants it: UTF-16BE with a terminating NUL; for an empty one also no bytes at all. */
function bmpPasswords(passphrase: string): Buffer[] {
  const le = Buffer.from(`${passphrase}\u0000`, 'utf16le');
  const be = Buffer.alloc(le.length);
  for (let i = 0; i < le.length; i += 2) {
    be[i] = le[i + 1];
    be[i + 1] = le[i];
  }
  return passphrase === '' ? [be, Buffer.alloc(0)] : [be];
}

type MacCheck = 'ok' | 'wrong' | 'no-mac';

/** Checks the PKCS#12 integrity MAC with `passphrase`, so that a wrong passphrase is known as such. */
function checkMac(file: string, der: Buffer, passphrase: string): MacCheck {
  let pfx: PFX;
  let content: Buffer;
  try {
    pfx = AsnConvert.parse(der, PFX);
    content = Buffer.from(AsnConvert.parse(pfx.authSafe.content, OctetString).buffer);
  } catch (cause) {
    throw new PublisherError(
      'ERR_PUBLISHER_CREDENTIALS',
      `${file} is neither a PEM certificate nor a PKCS#12 file`,
      {
        subject: file,
        cause,
      },
    );
  }
  if (!pfx.macData) return 'no-mac';
  const algorithm = DIGESTS[pfx.macData.mac.digestAlgorithm.algorithm];
  if (!algorithm)
    throw new PublisherError(
      'ERR_PUBLISHER_CREDENTIALS',
      `${file}: unsupported PKCS#12 MAC digest ${pfx.macData.mac.digestAlgorithm.algorithm}`,
      { subject: file },
    );
  const expected = Buffer.from(pfx.macData.mac.digest.buffer);
  const salt = Buffer.from(pfx.macData.macSalt.buffer);
  const iterations = pfx.macData.iterations || 1;
  const size = createHash(algorithm.name).digest().length;
  for (const password of bmpPasswords(passphrase)) {
    const key = pkcs12Kdf(algorithm.name, algorithm.block, password, salt, iterations, 3, size);
    const mac = createHmac(algorithm.name, key).update(content).digest();
    if (mac.length === expected.length && timingSafeEqual(mac, expected)) return 'ok';
  }
  return 'wrong';
}

/**
 * `openssl pkcs12` decrypts the bags (legacy RC2/3DES and modern AES alike), the passphrase given through a
 * pipe on fd 3, never on the command line or in the environment. Resolves with the PEM text, or undefined when
 * openssl could not decrypt.
 */
function opensslExtract(file: string, passphrase: string, legacy: boolean): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const args = ['pkcs12', '-in', file, '-nodes', '-passin', 'fd:3', ...(legacy ? ['-legacy'] : [])];
    const child = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.resume();
    child.on('error', (cause) =>
      reject(
        new PublisherError(
          'ERR_PUBLISHER_CREDENTIALS',
          `cannot run openssl to read ${file}: ${messageOf(cause)}`,
          {
            subject: file,
            cause,
          },
        ),
      ),
    );
    child.on('close', (code) => resolve(code === 0 ? Buffer.concat(out).toString('latin1') : undefined));
    const pass = child.stdio[3] as NodeJS.WritableStream | null;
    pass?.on('error', () => {}); // openssl may exit before reading it
    pass?.end(`${passphrase}\n`);
  });
}

async function loadPkcs12Signer(
  file: string,
  der: Buffer,
  ask: (() => Promise<string | undefined>) | undefined,
): Promise<Signer> {
  // A PKCS#12 file always has a passphrase, possibly empty: try the empty one before asking.
  let passphrase = '';
  let mac = checkMac(file, der, passphrase);
  if (mac === 'wrong') {
    const given = await ask?.();
    if (given === undefined)
      throw new PublisherError(
        'ERR_PUBLISHER_PASSPHRASE',
        `the PKCS#12 file ${file} needs a passphrase and none was given`,
        {
          subject: file,
        },
      );
    passphrase = given;
    mac = checkMac(file, der, passphrase);
    if (mac === 'wrong')
      throw new PublisherError('ERR_PUBLISHER_PASSPHRASE', `wrong passphrase for the PKCS#12 file ${file}`, {
        subject: file,
      });
  }
  // Modern files decrypt with the default provider; RC2-40 (openssl -legacy, older browsers) needs the legacy one.
  const pem =
    (await opensslExtract(file, passphrase, false)) ?? (await opensslExtract(file, passphrase, true));
  if (pem === undefined)
    throw new PublisherError(
      mac === 'no-mac' ? 'ERR_PUBLISHER_PASSPHRASE' : 'ERR_PUBLISHER_CREDENTIALS',
      mac === 'no-mac'
        ? `cannot decrypt the PKCS#12 file ${file} (wrong passphrase?)`
        : `openssl cannot decrypt the PKCS#12 file ${file} (unsupported encryption)`,
      { subject: file },
    );
  const keyPem =
    /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]*?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(pem)?.[0];
  const certPems = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!keyPem || certPems.length === 0)
    throw new PublisherError(
      'ERR_PUBLISHER_CREDENTIALS',
      `the PKCS#12 file ${file} holds no certificate with its private key`,
      {
        subject: file,
      },
    );
  const key = createPrivateKey(keyPem);
  // The signer is the certificate of the key; the others are CA certificates (not embedded, as the originals do).
  const own = certPems.find((c) => new X509Certificate(c).checkPrivateKey(key));
  if (!own)
    throw new PublisherError(
      'ERR_PUBLISHER_KEY',
      `the PKCS#12 file ${file} holds no certificate for its private key`,
      {
        subject: file,
      },
    );
  let privateKey: PrivateKey;
  try {
    privateKey = await loadPrivateKey(keyPem);
  } catch (cause) {
    throw keyError(cause, file);
  }
  return { certificate: await loadCertificate(own), privateKey };
}
