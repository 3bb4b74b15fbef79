// Certification path building and validation (RFC 5280 subset plus IGTF namespaces and CRLs).
import { join } from 'node:path';
import { type CertModel, publicKeyOf } from './cert.js';
import { type CrlModel, revokedSerials } from './crl.js';
import { SmimeError, type SmimeErrorCode, type SmimeWarning } from './errors.js';
import { subjectHash } from './hash.js';
import { policyAllows } from './policy.js';
import { signatureHash, signatureHashOf, verifySignature } from './sigalg.js';
import { type StoreView, storeView, type TrustStore } from './trust.js';

export type CrlMode = 'require' | 'if-present' | 'ignore';

const MAX_DEPTH = 10;
const MAX_PATHS = 16;
const EKU_EMAIL = '1.3.6.1.5.5.7.3.4';
const EKU_ANY = '2.5.29.37.0';
const NS_SMIME = 0x20;
const NS_SSL_CLIENT = 0x80;

/** Extensions whose semantics are handled (or harmless to accept) when critical. */
const KNOWN_EXTENSIONS = new Set([
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.18', // issuerAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.32', // certificatePolicies (no policy constraints are required by this verifier)
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.37', // extKeyUsage
  '2.5.29.46', // freshestCRL
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
  '2.16.840.1.113730.1.1', // netscape cert type
  '2.16.840.1.113730.1.13', // netscape comment
]);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

function fail(code: SmimeErrorCode, message: string, c: CertModel): SmimeError {
  return new SmimeError(code, message, { subject: c.subject, issuer: c.issuer, serialNumber: c.serialHex });
}

/** Something signed: a certificate or a CRL. */
type Signed = Pick<CertModel, 'sigOid' | 'sigParams' | 'tbs' | 'signature'>;

// Signature checks are the expensive part of path building; each (signed object, issuer) pair is checked once.
const sigCache = new WeakMap<Signed, WeakMap<CertModel, boolean>>();

/** Whether `issuer`'s key made the signature of `signed`, cached per pair. */
function signedBy(signed: Signed, issuer: CertModel, fallbackHash: string | undefined): boolean {
  let m = sigCache.get(signed);
  if (!m) {
    m = new WeakMap();
    sigCache.set(signed, m);
  }
  let r = m.get(issuer);
  if (r === undefined) {
    r = verifySignature(
      signed.sigOid,
      signed.sigParams,
      signed.tbs,
      signed.signature,
      publicKeyOf(issuer),
      fallbackHash,
    );
    m.set(issuer, r);
  }
  return r;
}

/** Whether `issuer`'s key signed `cert`. */
function issuedBy(cert: CertModel, issuer: CertModel): boolean {
  return signedBy(cert, issuer, undefined);
}

function nameMatches(cert: CertModel, issuer: CertModel): boolean {
  if (!(sameBytes(cert.issuerRaw, issuer.subjectRaw) || cert.issuer === issuer.subject)) return false;
  if (cert.authorityKeyId && issuer.subjectKeyId && !sameBytes(cert.authorityKeyId, issuer.subjectKeyId))
    return false;
  return true;
}

function isSelfIssued(c: CertModel): boolean {
  return sameBytes(c.issuerRaw, c.subjectRaw) || c.issuer === c.subject;
}

/** All signature-verified paths from `leaf` to a self-issued certificate in the store. */
function buildPaths(leaf: CertModel, untrusted: CertModel[], store: StoreView): CertModel[][] {
  const paths: CertModel[][] = [];
  const walk = (path: CertModel[]) => {
    if (paths.length >= MAX_PATHS || path.length > MAX_DEPTH) return;
    const cur = path[path.length - 1];
    const trusted = store.bySubject(cur.issuer);
    const candidates = [
      ...trusted,
      ...untrusted.filter((u) => !trusted.some((t) => sameBytes(t.raw, u.raw))),
    ];
    for (const cand of candidates) {
      if (path.includes(cand) || path.some((p) => sameBytes(p.raw, cand.raw))) continue;
      if (!nameMatches(cur, cand) || !issuedBy(cur, cand)) continue;
      const next = [...path, cand];
      if (isSelfIssued(cand) && store.contains(cand)) paths.push(next);
      else walk(next);
    }
  };
  // A signer that is itself a trust anchor needs no path.
  if (store.contains(leaf) && isSelfIssued(leaf)) return [[leaf]];
  walk([leaf]);
  return paths;
}

export interface PathOptions {
  at: Date;
  crl: CrlMode;
  /** Overrides the store's allowUnrestrictedCa when set. */
  allowUnrestrictedCa?: boolean;
}

/** The message of a refusal that `allowUnrestrictedCa` lifts, naming the option. */
const RELAX = 'set allowUnrestrictedCa (--allow-unrestricted-ca) to accept it';

function checkCert(c: CertModel, at: Date): void {
  if (at.getTime() < c.notBefore.getTime()) {
    throw fail(
      'ERR_SMIME_CERT_NOT_YET_VALID',
      `certificate ${c.subject} is not valid before ${c.notBefore.toISOString()}`,
      c,
    );
  }
  if (at.getTime() > c.notAfter.getTime()) {
    throw fail(
      'ERR_SMIME_CERT_EXPIRED',
      `certificate ${c.subject} expired at ${c.notAfter.toISOString()}`,
      c,
    );
  }
  for (const [oid, ext] of c.extensions) {
    if (ext.critical && !KNOWN_EXTENSIONS.has(oid)) {
      throw fail(
        'ERR_SMIME_UNTRUSTED',
        `certificate ${c.subject} has an unsupported critical extension ${oid}`,
        c,
      );
    }
  }
  if (c.extKeyUsage && !c.extKeyUsage.includes(EKU_EMAIL) && !c.extKeyUsage.includes(EKU_ANY)) {
    throw fail(
      'ERR_SMIME_KEY_USAGE',
      `certificate ${c.subject} is not allowed for email protection (extKeyUsage)`,
      c,
    );
  }
}

function crlSignedBy(crl: CrlModel, issuer: CertModel): boolean {
  return signedBy(crl, issuer, signatureHash(crl.sigOid));
}

/** Checks `c` against its issuer's newest CRL; returns that CRL (undefined when none was consulted). */
function checkRevocation(
  c: CertModel,
  issuer: CertModel,
  store: StoreView,
  opts: PathOptions,
): CrlModel | undefined {
  if (opts.crl === 'ignore') return undefined;
  const found = store.crlsFor(c.issuerRaw, c.issuer);
  if (found.length === 0) {
    if (opts.crl === 'require') {
      throw fail('ERR_SMIME_CRL_MISSING', `no CRL for ${c.issuer}, which issued ${c.subject}`, c);
    }
    return undefined;
  }
  const valid = found.filter((crl) => {
    if (crl.authorityKeyId && issuer.subjectKeyId && !sameBytes(crl.authorityKeyId, issuer.subjectKeyId))
      return false;
    return crlSignedBy(crl, issuer);
  });
  if (valid.length === 0) {
    throw fail('ERR_SMIME_CRL_INVALID', `the CRL for ${c.issuer} is not signed by the issuing CA's key`, c);
  }
  if (issuer.keyUsage && !issuer.keyUsage.has('cRLSign')) {
    throw fail('ERR_SMIME_CRL_INVALID', `CA ${issuer.subject} is not allowed to sign CRLs (keyUsage)`, c);
  }
  // The newest CRL decides.
  const crl = valid.reduce((a, b) => (b.thisUpdate.getTime() > a.thisUpdate.getTime() ? b : a));
  const revoked = revokedSerials(crl);
  if (crl.unsupportedCritical) {
    throw fail(
      'ERR_SMIME_CRL_INVALID',
      `the CRL for ${c.issuer} has an unsupported critical extension ${crl.unsupportedCritical}`,
      c,
    );
  }
  const at = opts.at.getTime();
  if (crl.thisUpdate.getTime() > at) {
    throw fail(
      'ERR_SMIME_CRL_INVALID',
      `the CRL for ${c.issuer} is not valid before ${crl.thisUpdate.toISOString()}`,
      c,
    );
  }
  if (!crl.nextUpdate || crl.nextUpdate.getTime() <= at) {
    throw fail(
      'ERR_SMIME_CRL_EXPIRED',
      `the CRL for ${c.issuer} expired${crl.nextUpdate ? ` at ${crl.nextUpdate.toISOString()}` : ' (no nextUpdate)'}`,
      c,
    );
  }
  if (revoked.has(c.serialHex)) {
    throw fail(
      'ERR_SMIME_REVOKED',
      `certificate ${c.subject} (serial ${c.serialHex}) is revoked by ${c.issuer}`,
      c,
    );
  }
  return crl;
}

/** Validates one candidate path; returns what it accepted with reservations. */
function validatePath(path: CertModel[], store: StoreView, opts: PathOptions): SmimeWarning[] {
  const warnings: SmimeWarning[] = [];
  const unrestricted = opts.allowUnrestrictedCa ?? store.allowUnrestrictedCa;
  const leaf = path[0];
  for (const c of path) checkCert(c, opts.at);
  // Signer key usage: digitalSignature is required when keyUsage is present.
  if (leaf.keyUsage && !leaf.keyUsage.has('digitalSignature')) {
    throw fail(
      'ERR_SMIME_KEY_USAGE',
      `certificate ${leaf.subject} is not allowed to sign (keyUsage lacks digitalSignature)`,
      leaf,
    );
  }
  if (leaf.nsCertType !== undefined && !(leaf.nsCertType & (NS_SMIME | NS_SSL_CLIENT))) {
    throw fail(
      'ERR_SMIME_KEY_USAGE',
      `certificate ${leaf.subject} is not allowed for S/MIME (nsCertType)`,
      leaf,
    );
  }
  // Issuers: CA flag, keyCertSign, path length.
  for (let i = 1; i < path.length; i++) {
    const ca = path[i];
    const anchorV1 = i === path.length - 1 && ca.version < 3;
    if (!anchorV1 && ca.basicConstraints?.ca !== true) {
      throw fail('ERR_SMIME_UNTRUSTED', `issuer ${ca.subject} is not a CA (basicConstraints)`, ca);
    }
    if (ca.keyUsage && !ca.keyUsage.has('keyCertSign')) {
      throw fail('ERR_SMIME_UNTRUSTED', `issuer ${ca.subject} may not sign certificates (keyUsage)`, ca);
    }
    const below = path.slice(1, i).filter((x) => !isSelfIssued(x)).length;
    const pathLen = ca.basicConstraints?.pathLen;
    if (pathLen !== undefined && below > pathLen) {
      throw fail('ERR_SMIME_UNTRUSTED', `path length constraint of ${ca.subject} exceeded`, ca);
    }
  }
  // A signer trusted as its own anchor has no CA that vouches for its name (the originals had no such path).
  if (path.length === 1) {
    const file = store.fileOf(leaf);
    const message =
      `the signer ${leaf.subject} is self-signed and trusted only as its own anchor` +
      (file ? ` (${file})` : '');
    if (!unrestricted) {
      throw new SmimeError('ERR_SMIME_SELF_SIGNED_SIGNER', `${message}; refused: ${RELAX}`, {
        subject: leaf.subject,
        issuer: leaf.issuer,
        serialNumber: leaf.serialHex,
        ...(file ? { path: file } : {}),
      });
    }
    warnings.push({ code: 'WARN_SMIME_SELF_SIGNED_SIGNER', message, subject: leaf.subject });
  }
  // Namespaces: each CA may only issue the subjects its policies permit, and one without any policy nothing
  // (as in the originals, which keep only CAs named by a .namespaces or .signing_policy file).
  for (let i = 0; i + 1 < path.length; i++) {
    const c = path[i];
    const ca = path[i + 1];
    const policies = store.policiesFor(ca.subject);
    if (policies.length === 0) {
      const hash = subjectHash(ca.subjectRaw);
      const where = store.directory
        ? `neither ${hash}.namespaces nor ${hash}.signing_policy in ${store.directory} names it`
        : 'no namespaces or signing_policy text was given for it';
      const message = `CA ${ca.subject}, which issued ${c.subject}, has no namespace policy: ${where}`;
      if (!unrestricted) {
        throw new SmimeError('ERR_SMIME_UNRESTRICTED_CA', `${message}; refused: ${RELAX}`, {
          subject: ca.subject,
          issuer: ca.issuer,
          serialNumber: ca.serialHex,
          ...(store.directory ? { path: join(store.directory, `${hash}.namespaces`) } : {}),
        });
      }
      if (!warnings.some((w) => w.code === 'WARN_SMIME_UNRESTRICTED_CA' && w.subject === ca.subject))
        warnings.push({ code: 'WARN_SMIME_UNRESTRICTED_CA', message, subject: ca.subject });
    } else if (!policyAllows(policies, c.subject)) {
      throw fail(
        'ERR_SMIME_NAMESPACE',
        `CA ${ca.subject} may not issue ${c.subject} (${policies.map((p) => p.file).join(', ')})`,
        c,
      );
    }
  }
  // Revocation for every certificate below the anchor.
  for (let i = 0; i + 1 < path.length; i++) {
    const crl = checkRevocation(path[i], path[i + 1], store, opts);
    if (crl && signatureHashOf(crl.sigOid, crl.sigParams) === 'sha1') {
      warnings.push({
        code: 'WARN_SMIME_SHA1',
        message: `the CRL of ${path[i + 1].subject} is signed with SHA-1`,
        subject: path[i + 1].subject,
      });
    }
  }
  // SHA-1 certificate signatures below the anchor (the anchor's own signature proves nothing either way).
  for (const c of path.slice(0, -1)) {
    if (signatureHashOf(c.sigOid, c.sigParams) === 'sha1') {
      warnings.push({
        code: 'WARN_SMIME_SHA1',
        message: `certificate ${c.subject} is signed with SHA-1`,
        subject: c.subject,
      });
    }
  }
  return warnings;
}

/** Build and validate a path from `leaf` to a trust anchor; returns it leaf first, with its warnings. */
export function validateChain(
  leaf: CertModel,
  untrusted: CertModel[],
  trust: TrustStore,
  opts: PathOptions,
): { path: CertModel[]; warnings: SmimeWarning[] } {
  const store = storeView(trust);
  const paths = buildPaths(leaf, untrusted, store);
  if (paths.length === 0) {
    throw fail(
      'ERR_SMIME_UNTRUSTED',
      `no path from ${leaf.subject} (issuer ${leaf.issuer}) to a trusted CA`,
      leaf,
    );
  }
  let first: unknown;
  for (const p of paths) {
    try {
      return { path: p, warnings: validatePath(p, store, opts) };
    } catch (e) {
      first ??= e;
    }
  }
  throw first;
}
