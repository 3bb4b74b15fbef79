// Verification: envelope → SignedData → digest and signature → certification path, namespaces and CRLs.
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type CertModel,
  certModel,
  certModelOfDer,
  publicKeyOf,
  toCertificate,
  type X509Certificate,
} from './cert.js';
import { OID_DATA, type ParsedSigner, parseSignedData } from './cms.js';
import { SmimeError, type SmimeWarning } from './errors.js';
import { parseSmime, stripTextHeader } from './mime.js';
import { type CrlMode, validateChain } from './path.js';
import { DIGEST_OIDS, signatureHashOf, verifySignature } from './sigalg.js';
import type { TrustStore } from './trust.js';

export interface VerifyOptions {
  trust: TrustStore;
  /** The time at which certificates and CRLs must be valid; default `now()`. */
  at?: Date;
  /** `require` (default): every certificate below the anchor needs a current CRL from its issuer. */
  crl?: CrlMode;
  now?: () => Date;
  /** Extra untrusted certificates (intermediate CAs) to build the path with. */
  certificates?: (X509Certificate | string | Uint8Array)[];
  /**
   * Accept CAs without a `.namespaces`/`.signing_policy` and self-signed signers trusted as their own anchor
   * (reported in `warnings`). Default: the trust store's `allowUnrestrictedCa` (false unless it was made with it).
   */
  allowUnrestrictedCa?: boolean;
}

export interface VerifiedSigner {
  /** OpenSSL 1.x one-line DN, e.g. `/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge`. */
  subject: string;
  issuer: string;
  /** Upper-case hex. */
  serialNumber: string;
  certificate: X509Certificate;
}

export interface VerifiedMessage {
  /** The signed content: CRLF-canonical as signed, without a `-text` header block. */
  content: Uint8Array;
  signer: VerifiedSigner;
  /** Signer first, trust anchor last. */
  chain: X509Certificate[];
  signingTime?: Date;
  digest: string;
  format: 'detached' | 'opaque';
  /**
   * What was accepted with a reservation: SHA-1 (the message digest, the signature, a certificate or a CRL of
   * the path; real lists of 2011-2014 are SHA-1), a CA without namespace policy or a self-signed signer
   * (only with allowUnrestrictedCa). Empty when there is none.
   */
  warnings: SmimeWarning[];
}

const MAX_EMBEDDED_CERTS = 64;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function findSigner(s: ParsedSigner, certs: CertModel[]): CertModel | undefined {
  const sid = s.sid;
  if ('keyId' in sid) return certs.find((c) => c.subjectKeyId && sameBytes(c.subjectKeyId, sid.keyId));
  return certs.find(
    (c) => sameBytes(c.issuerRaw, sid.issuerRaw) && sameBytes(stripZeros(c.serial), stripZeros(sid.serial)),
  );
}

/**
 * Verify an S/MIME signed message (detached or opaque) against a trust store.
 * Throws SmimeError with the code of the first check that fails.
 */
export async function verifySmime(
  message: string | Uint8Array,
  opts: VerifyOptions,
): Promise<VerifiedMessage> {
  try {
    return verifyInner(message, opts);
  } catch (e) {
    if (e instanceof SmimeError) throw e;
    // Every expected failure is an SmimeError already; anything else is a bug, not the sender's fault.
    throw new SmimeError(
      'ERR_SMIME_INTERNAL',
      `internal error while verifying: ${(e as Error)?.message ?? String(e)}`,
      { cause: e },
    );
  }
}

function verifyInner(message: string | Uint8Array, opts: VerifyOptions): VerifiedMessage {
  const at = opts.at ?? (opts.now ?? (() => new Date()))();
  const buf = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const parsed = parseSmime(buf);
  const sd = parseSignedData(parsed.kind === 'detached' ? parsed.signature : parsed.der);
  if (sd.eContentType !== OID_DATA)
    throw new SmimeError('ERR_SMIME_MALFORMED', `unsupported content type ${sd.eContentType}`);
  let signed: Uint8Array;
  if (parsed.kind === 'detached') {
    if (sd.eContent !== undefined)
      throw new SmimeError('ERR_SMIME_MALFORMED', 'detached message whose signature also holds content');
    signed = parsed.content;
  } else {
    if (sd.eContent === undefined)
      throw new SmimeError('ERR_SMIME_MALFORMED', 'opaque message without content');
    signed = sd.eContent;
  }
  if (sd.signers.length !== 1) {
    throw new SmimeError('ERR_SMIME_SIGNER_COUNT', `expected exactly one signer, found ${sd.signers.length}`);
  }
  const s = sd.signers[0];
  // Path building tries candidate issuers pairwise; bound the work a hostile message can ask for.
  if (sd.certificates.length > MAX_EMBEDDED_CERTS) {
    throw new SmimeError(
      'ERR_SMIME_MALFORMED',
      `more than ${MAX_EMBEDDED_CERTS} certificates in the message`,
    );
  }
  const embedded: CertModel[] = [];
  for (const raw of sd.certificates) {
    try {
      embedded.push(certModelOfDer(raw));
    } catch (e) {
      throw new SmimeError('ERR_SMIME_MALFORMED', 'an embedded certificate could not be parsed', {
        cause: e,
      });
    }
  }
  const extra = (opts.certificates ?? []).map((c) => certModel(toCertificate(c)));
  const signer = findSigner(s, [...embedded, ...extra]);
  if (!signer) throw new SmimeError('ERR_SMIME_UNTRUSTED', 'the signer certificate is not in the message');

  const dig = DIGEST_OIDS[s.digestOid];
  if (!dig) throw new SmimeError('ERR_SMIME_MALFORMED', `unsupported digest algorithm ${s.digestOid}`);
  const md = createHash(dig.node).update(signed).digest();
  const key = publicKeyOf(signer);
  const who = { subject: signer.subject, issuer: signer.issuer, serialNumber: signer.serialHex };
  if (s.signedAttrsDer) {
    if (!s.messageDigest || !s.contentType) {
      throw new SmimeError('ERR_SMIME_MALFORMED', 'signed attributes lack contentType or messageDigest');
    }
    if (s.contentType !== sd.eContentType)
      throw new SmimeError('ERR_SMIME_MALFORMED', 'contentType attribute does not match the content');
    if (s.messageDigest.length !== md.length || !timingSafeEqual(s.messageDigest, md)) {
      throw new SmimeError('ERR_SMIME_DIGEST_MISMATCH', 'the content does not match the signed digest', who);
    }
    if (!verifySignature(s.sigOid, s.sigParams, s.signedAttrsDer, s.signature, key, dig.node)) {
      throw new SmimeError(
        'ERR_SMIME_SIGNATURE_INVALID',
        'the signature does not verify with the signer certificate',
        who,
      );
    }
  } else if (!verifySignature(s.sigOid, s.sigParams, signed, s.signature, key, dig.node)) {
    throw new SmimeError(
      'ERR_SMIME_SIGNATURE_INVALID',
      'the signature does not verify over the content',
      who,
    );
  }

  const untrusted = [...embedded, ...extra].filter((c) => c !== signer);
  const { path, warnings: pathWarnings } = validateChain(signer, untrusted, opts.trust, {
    at,
    crl: opts.crl ?? 'require',
    ...(opts.allowUnrestrictedCa === undefined ? {} : { allowUnrestrictedCa: opts.allowUnrestrictedCa }),
  });
  const warnings: SmimeWarning[] = [];
  if (dig.name === 'SHA-1' || signatureHashOf(s.sigOid, s.sigParams) === 'sha1') {
    warnings.push({
      code: 'WARN_SMIME_SHA1',
      message: `the message is signed with SHA-1 by ${signer.subject}`,
      subject: signer.subject,
    });
  }
  warnings.push(...pathWarnings);
  const result: VerifiedMessage = {
    content: stripTextHeader(signed),
    signer: { ...who, certificate: signer.x509 },
    chain: path.map((c) => c.x509),
    digest: dig.name,
    format: parsed.kind,
    warnings,
  };
  if (s.signingTime) result.signingTime = s.signingTime;
  return result;
}
