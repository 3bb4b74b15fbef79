// Private keys: PKCS#8, PKCS#1, SEC1 and encrypted PEM, held behind an opaque handle.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SmimeError } from './errors.js';

/** An opaque private key handle made by `loadPrivateKey`. */
export interface PrivateKey {
  /** Key algorithm, e.g. `rsa`, `ec`, `ed25519`. */
  readonly algorithm: string;
}

const handles = new WeakMap<PrivateKey, KeyObject>();

const PEM_KEY = /-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

function text(pem: string | Uint8Array): string {
  return typeof pem === 'string' ? pem : Buffer.from(pem).toString('latin1');
}

/** True when the PEM holds a passphrase-protected key (PKCS#8 encrypted, or legacy `Proc-Type: 4,ENCRYPTED`). */
export function isEncryptedPrivateKey(pem: string | Uint8Array): boolean {
  const m = PEM_KEY.exec(text(pem));
  if (!m) return false;
  return m[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(m[0]);
}

/**
 * Load a private key from PEM (the first key block; a bundle with certificates is fine).
 * Throws ERR_SMIME_BAD_KEY with `reason` 'passphrase' (missing or wrong) or 'unsupported'.
 */
export async function loadPrivateKey(pem: string | Uint8Array, passphrase?: string): Promise<PrivateKey> {
  const m = PEM_KEY.exec(text(pem));
  if (!m) throw new SmimeError('ERR_SMIME_BAD_KEY', 'no PEM private key found', { reason: 'unsupported' });
  const encrypted = isEncryptedPrivateKey(m[0]);
  if (encrypted && (passphrase === undefined || passphrase === '')) {
    throw new SmimeError('ERR_SMIME_BAD_KEY', 'the private key is encrypted and needs a passphrase', {
      reason: 'passphrase',
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(
      encrypted ? { key: m[0], format: 'pem', passphrase } : { key: m[0], format: 'pem' },
    );
  } catch (e) {
    throw new SmimeError(
      'ERR_SMIME_BAD_KEY',
      encrypted ? 'the passphrase does not decrypt the private key' : 'the private key could not be read',
      { reason: encrypted ? 'passphrase' : 'unsupported', cause: e },
    );
  }
  return wrapKeyObject(key);
}

function wrapKeyObject(key: KeyObject): PrivateKey {
  const algorithm = key.asymmetricKeyType;
  if (key.type !== 'private' || !algorithm || !['rsa', 'ec', 'ed25519', 'ed448'].includes(algorithm)) {
    throw new SmimeError('ERR_SMIME_BAD_KEY', `unsupported key type ${algorithm ?? key.type}`, {
      reason: 'unsupported',
    });
  }
  const handle: PrivateKey = Object.freeze({ algorithm });
  handles.set(handle, key);
  return handle;
}

export function keyObjectOf(key: PrivateKey): KeyObject {
  const k = handles.get(key);
  if (!k)
    throw new SmimeError('ERR_SMIME_BAD_KEY', 'not a key made by loadPrivateKey', { reason: 'unsupported' });
  return k;
}

/** SPKI DER of the public half of a private key. */
export function spkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ format: 'der', type: 'spki' });
}
