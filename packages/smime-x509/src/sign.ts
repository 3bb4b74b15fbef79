// Signing: PKCS#7 SignedData over the canonical content, written as S/MIME the way OpenSSL writes it.
import { createHash, randomBytes, sign as cryptoSign } from 'node:crypto';
import { certModel, toCertificate, type X509Certificate } from './cert.js';
import {
  attribute,
  OID_CONTENT_TYPE,
  OID_DATA,
  OID_MESSAGE_DIGEST,
  OID_SIGNED_DATA,
  OID_SIGNING_TIME,
  OID_SMIME_CAPABILITIES,
} from './cms.js';
import { octetString, oid, seq, setOf, tlv } from './der.js';
import { SmimeError } from './errors.js';
import { keyObjectOf, loadPrivateKey, type PrivateKey, spkiOf } from './keys.js';
import { canonicalize, writeDetached, writeOpaque } from './mime.js';
import { DIGEST_BY_NAME, type DigestName } from './sigalg.js';

export interface SignOptions {
  /** The signer certificate (PEM, DER or parsed). */
  certificate: X509Certificate | string | Uint8Array;
  /** From `loadPrivateKey`, or an unencrypted PEM key. */
  privateKey: PrivateKey | string | Uint8Array;
  /** Extra certificates to embed (intermediate CAs). */
  chain?: (X509Certificate | string | Uint8Array)[];
  /** Default SHA-256. */
  digest?: DigestName;
  /** Detached `multipart/signed` (default) or opaque `application/pkcs7-mime`. */
  detached?: boolean;
  /** MIME type spelling: `application/pkcs7-…` (default, RFC 8551, M2Crypto) or `application/x-pkcs7-…` (openssl CLI). */
  mimePrefix?: 'application/pkcs7-' | 'application/x-pkcs7-';
  /** Value of the signingTime attribute; default `now()`. */
  signingTime?: Date;
  now?: () => Date;
}

function timeDer(d: Date): Uint8Array {
  const iso = d.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = d.getUTCFullYear();
  // RFC 5652: UTCTime for 1950–2049, GeneralizedTime otherwise.
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'latin1'));
  return tlv(0x18, Buffer.from(`${digits}Z`, 'latin1'));
}

const NULL = Uint8Array.of(0x05, 0x00);

function integer(bytes: Uint8Array): Uint8Array {
  return tlv(0x02, bytes);
}

/**
 * Sign `content` as S/MIME. Text is canonicalised to CRLF line endings before hashing, as OpenSSL does without
 * `-binary`; the output verifies with `openssl smime -verify`.
 * Throws ERR_SMIME_BAD_KEY (key does not match the certificate, or unusable) and ERR_SMIME_KEY_USAGE.
 */
export async function signSmime(content: string | Uint8Array, opts: SignOptions): Promise<string> {
  try {
    return await signInner(content, opts);
  } catch (e) {
    if (e instanceof SmimeError) throw e;
    throw new SmimeError(
      'ERR_SMIME_INTERNAL',
      `internal error while signing: ${(e as Error)?.message ?? String(e)}`,
      {
        cause: e,
      },
    );
  }
}

async function signInner(content: string | Uint8Array, opts: SignOptions): Promise<string> {
  const cert = certModel(toCertificate(opts.certificate));
  if (cert.keyUsage && !cert.keyUsage.has('digitalSignature')) {
    throw new SmimeError(
      'ERR_SMIME_KEY_USAGE',
      `certificate ${cert.subject} is not allowed to sign (keyUsage lacks digitalSignature)`,
      {
        subject: cert.subject,
        issuer: cert.issuer,
        serialNumber: cert.serialHex,
      },
    );
  }
  if (
    cert.extKeyUsage &&
    !cert.extKeyUsage.includes('1.3.6.1.5.5.7.3.4') &&
    !cert.extKeyUsage.includes('2.5.29.37.0')
  ) {
    throw new SmimeError(
      'ERR_SMIME_KEY_USAGE',
      `certificate ${cert.subject} is not allowed for email protection (extKeyUsage)`,
      {
        subject: cert.subject,
        issuer: cert.issuer,
        serialNumber: cert.serialHex,
      },
    );
  }
  const handle =
    typeof opts.privateKey === 'string' || opts.privateKey instanceof Uint8Array
      ? await loadPrivateKey(opts.privateKey)
      : opts.privateKey;
  const key = keyObjectOf(handle);
  if (Buffer.compare(spkiOf(key), Buffer.from(cert.spki)) !== 0) {
    throw new SmimeError(
      'ERR_SMIME_BAD_KEY',
      `the private key does not belong to certificate ${cert.subject}`,
      {
        reason: 'mismatch',
        subject: cert.subject,
      },
    );
  }
  // RFC 8419: Ed25519 in CMS uses SHA-512 for the message digest.
  const digestName = opts.digest ?? (handle.algorithm === 'ed25519' ? 'SHA-512' : 'SHA-256');
  if (handle.algorithm === 'ed25519' && digestName !== 'SHA-512') {
    throw new SmimeError('ERR_SMIME_BAD_KEY', 'Ed25519 signatures use SHA-512 (RFC 8419)', {
      reason: 'unsupported',
    });
  }
  const digest = DIGEST_BY_NAME[digestName];
  if (!digest) throw new SmimeError('ERR_SMIME_MALFORMED', `unsupported digest ${digestName}`);
  const canonical = canonicalize(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
  const md = createHash(digest.node).update(canonical).digest();
  const when = opts.signingTime ?? (opts.now ?? (() => new Date()))();

  const capabilities = seq(
    seq(oid('2.16.840.1.101.3.4.1.42')),
    seq(oid('2.16.840.1.101.3.4.1.22')),
    seq(oid('2.16.840.1.101.3.4.1.2')),
  );
  const attrs = [
    attribute(OID_CONTENT_TYPE, oid(OID_DATA)),
    attribute(OID_SIGNING_TIME, timeDer(when)),
    attribute(OID_MESSAGE_DIGEST, octetString(md)),
    attribute(OID_SMIME_CAPABILITIES, capabilities),
  ];
  const signedAttrs = setOf(attrs);

  let sigAlg: Uint8Array;
  let signature: Buffer;
  switch (handle.algorithm) {
    case 'rsa':
      sigAlg = seq(oid('1.2.840.113549.1.1.1'), NULL);
      signature = cryptoSign(digest.node, signedAttrs, key);
      break;
    case 'ec': {
      const ecdsa: Record<string, string> = {
        'SHA-1': '1.2.840.10045.4.1',
        'SHA-256': '1.2.840.10045.4.3.2',
        'SHA-384': '1.2.840.10045.4.3.3',
        'SHA-512': '1.2.840.10045.4.3.4',
      };
      sigAlg = seq(oid(ecdsa[digestName]));
      signature = cryptoSign(digest.node, signedAttrs, key);
      break;
    }
    case 'ed25519':
      sigAlg = seq(oid('1.3.101.112'));
      signature = cryptoSign(null, signedAttrs, key);
      break;
    default:
      throw new SmimeError('ERR_SMIME_BAD_KEY', `unsupported key type ${handle.algorithm}`, {
        reason: 'unsupported',
      });
  }

  const digestAlg = seq(oid(digest.oid));
  const signerInfo = seq(
    integer(Uint8Array.of(1)),
    seq(cert.issuerRaw, integer(cert.serial)),
    digestAlg,
    tlv(0xa0, signedAttrs.subarray(signedAttrs[1] & 0x80 ? 2 + (signedAttrs[1] & 0x7f) : 2)),
    sigAlg,
    octetString(signature),
  );
  const chain = (opts.chain ?? []).map((c) => certModel(toCertificate(c)).raw);
  const unique = [cert.raw, ...chain].filter(
    (c, i, all) => all.findIndex((d) => Buffer.compare(Buffer.from(c), Buffer.from(d)) === 0) === i,
  );
  const certs = setOf(unique);
  certs[0] = 0xa0;
  const detached = opts.detached !== false;
  const encap = detached ? seq(oid(OID_DATA)) : seq(oid(OID_DATA), tlv(0xa0, octetString(canonical)));
  const signedData = seq(integer(Uint8Array.of(1)), setOf([digestAlg]), encap, certs, setOf([signerInfo]));
  const der = seq(oid(OID_SIGNED_DATA), tlv(0xa0, signedData));
  const prefix = opts.mimePrefix ?? 'application/pkcs7-';
  const out = detached
    ? writeDetached(canonical, der, {
        micalg: digest.micalg,
        prefix,
        boundary: randomBytes(16).toString('hex').toUpperCase(),
      })
    : writeOpaque(der, prefix);
  return out.toString('utf8');
}
