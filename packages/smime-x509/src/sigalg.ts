// Signature checks with node:crypto for the algorithms found in grid PKIs and S/MIME.
import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { CONTEXT, children, readOid, readTlv, smallInteger } from './der.js';

export type DigestName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export const DIGEST_OIDS: Record<string, { name: DigestName | 'SHA-224'; node: string }> = {
  '1.3.14.3.2.26': { name: 'SHA-1', node: 'sha1' },
  '2.16.840.1.101.3.4.2.4': { name: 'SHA-224', node: 'sha224' },
  '2.16.840.1.101.3.4.2.1': { name: 'SHA-256', node: 'sha256' },
  '2.16.840.1.101.3.4.2.2': { name: 'SHA-384', node: 'sha384' },
  '2.16.840.1.101.3.4.2.3': { name: 'SHA-512', node: 'sha512' },
};

export const DIGEST_BY_NAME: Record<DigestName, { oid: string; node: string; micalg: string }> = {
  'SHA-1': { oid: '1.3.14.3.2.26', node: 'sha1', micalg: 'sha1' },
  'SHA-256': { oid: '2.16.840.1.101.3.4.2.1', node: 'sha256', micalg: 'sha-256' },
  'SHA-384': { oid: '2.16.840.1.101.3.4.2.2', node: 'sha384', micalg: 'sha-384' },
  'SHA-512': { oid: '2.16.840.1.101.3.4.2.3', node: 'sha512', micalg: 'sha-512' },
};

/** Signature algorithm OID → hash (node name) for the RSA PKCS#1 v1.5, ECDSA and DSA families. */
const SIG_HASH: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha1',
  '2.16.840.1.101.3.4.3.1': 'sha224',
  '2.16.840.1.101.3.4.3.2': 'sha256',
};

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const RSA_PSS = '1.2.840.113549.1.1.10';
const ED25519 = '1.3.101.112';
const ED448 = '1.3.101.113';

/** The hash a signature algorithm implies, if any. */
export function signatureHash(sigOid: string): string | undefined {
  return SIG_HASH[sigOid];
}

/** The hash a signature algorithm uses, RSA-PSS parameters included; undefined for Ed25519/Ed448 and unknowns. */
export function signatureHashOf(sigOid: string, sigParams: Uint8Array | undefined): string | undefined {
  if (sigOid !== RSA_PSS) return SIG_HASH[sigOid];
  try {
    return pssOptions(sigParams)?.hash;
  } catch {
    return undefined;
  }
}

const keyCache = new WeakMap<Uint8Array, KeyObject>();

export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  let k = keyCache.get(spki);
  if (!k) {
    k = createPublicKey({
      key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength),
      format: 'der',
      type: 'spki',
    });
    keyCache.set(spki, k);
  }
  return k;
}

function pssOptions(params: Uint8Array | undefined): { hash: string; saltLength: number } | undefined {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  if (params && params.length > 0) {
    const root = readTlv(params, 0);
    for (const f of children(params, root)) {
      if (f.cls !== CONTEXT) continue;
      const inner = children(params, f)[0];
      if (f.tagNo === 0) {
        const oid = readOid(params, children(params, inner)[0]);
        const d = DIGEST_OIDS[oid];
        if (!d) return undefined;
        hash = d.node;
      } else if (f.tagNo === 2) saltLength = smallInteger(params, inner);
      else if (f.tagNo === 1) {
        // Only MGF1 with the same hash is supported (node:crypto uses the signature hash for MGF1).
        const mgf = children(params, inner);
        if (readOid(params, mgf[0]) !== '1.2.840.113549.1.1.8') return undefined;
        const d = DIGEST_OIDS[readOid(params, children(params, mgf[1])[0])];
        if (!d) return undefined;
        mgfHash = d.node;
      }
    }
  }
  return mgfHash === hash ? { hash, saltLength } : undefined;
}

/**
 * Check a signature over `data` (X.509 style: algorithm names the hash). `fallbackHash` is used for
 * algorithm identifiers that name only the key type (rsaEncryption, id-ecPublicKey in CMS SignerInfos).
 * Returns false for unsupported algorithms, so they fail closed.
 */
export function verifySignature(
  sigOid: string,
  sigParams: Uint8Array | undefined,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
  fallbackHash?: string,
): boolean {
  try {
    if (sigOid === ED25519 || sigOid === ED448) return verify(null, data, key, signature);
    if (sigOid === RSA_PSS) {
      const o = pssOptions(sigParams);
      if (!o) return false;
      return verify(
        o.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: o.saltLength },
        signature,
      );
    }
    let hash: string | undefined = SIG_HASH[sigOid];
    if (!hash && (sigOid === RSA_ENCRYPTION || sigOid === EC_PUBLIC_KEY)) hash = fallbackHash;
    if (!hash) return false;
    if (key.asymmetricKeyType === 'rsa' && !sigOid.startsWith('1.2.840.113549.1.1.')) return false;
    if (key.asymmetricKeyType === 'ec' && !sigOid.startsWith('1.2.840.10045.')) return false;
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}
