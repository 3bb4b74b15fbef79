// Certificates: loading, and a parsed model with the raw encodings the path validation needs.
import { X509Certificate } from '@peculiar/x509';
import type { KeyObject } from 'node:crypto';
import {
  CONTEXT,
  children,
  content,
  expect,
  isTag,
  readInteger,
  readOid,
  readTime,
  readTlv,
  smallInteger,
  type Tlv,
  UNIVERSAL,
} from './der.js';
import { formatOnelineDn, parseDnTlv } from './dn.js';
import { malformed, SmimeError } from './errors.js';
import { publicKeyFromSpki } from './sigalg.js';

export { X509Certificate };

const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;

interface Extension {
  critical: boolean;
  value: Uint8Array;
}

export interface CertModel {
  x509: X509Certificate;
  raw: Uint8Array;
  tbs: Uint8Array;
  version: number;
  sigOid: string;
  sigParams?: Uint8Array;
  signature: Uint8Array;
  serial: Uint8Array;
  serialHex: string;
  issuerRaw: Uint8Array;
  subjectRaw: Uint8Array;
  issuer: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: Map<string, Extension>;
  basicConstraints?: { ca: boolean; pathLen?: number };
  keyUsage?: Set<string>;
  extKeyUsage?: string[];
  subjectKeyId?: Uint8Array;
  authorityKeyId?: Uint8Array;
  nsCertType?: number;
}

/** Serial number as upper-case hex, leading zero octets removed (what `openssl x509 -serial` prints). */
export function serialToHex(bytes: Uint8Array): string {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return Buffer.from(bytes.subarray(i)).toString('hex').toUpperCase();
}

export function bitString(buf: Uint8Array, t: Tlv): Uint8Array {
  if (!isTag(t, UNIVERSAL, 3) || t.constructed) throw malformed('ASN.1: expected a BIT STRING');
  const c = content(buf, t);
  if (c.length === 0) throw malformed('ASN.1: empty BIT STRING');
  return c.subarray(1);
}

function parseExtensions(buf: Uint8Array, t: Tlv, m: CertModel): void {
  const seqOf = expect(children(buf, t)[0], UNIVERSAL, 16, 'Extensions');
  for (const ext of children(buf, seqOf)) {
    const f = children(buf, ext);
    const oid = readOid(buf, f[0]);
    let critical = false;
    let vi = 1;
    if (isTag(f[1], UNIVERSAL, 1)) {
      critical = content(buf, f[1])[0] !== 0;
      vi = 2;
    }
    const v = expect(f[vi], UNIVERSAL, 4, 'extnValue');
    if (m.extensions.has(oid)) throw malformed(`certificate has a duplicate extension ${oid}`);
    m.extensions.set(oid, { critical, value: content(buf, v) });
  }
  const get = (oid: string) => m.extensions.get(oid)?.value;
  const bc = get('2.5.29.19');
  if (bc) {
    const s = children(bc, readTlv(bc, 0));
    let ca = false;
    let pathLen: number | undefined;
    for (const x of s) {
      if (isTag(x, UNIVERSAL, 1)) ca = content(bc, x)[0] !== 0;
      else if (isTag(x, UNIVERSAL, 2)) pathLen = smallInteger(bc, x);
    }
    m.basicConstraints = pathLen === undefined ? { ca } : { ca, pathLen };
  }
  const ku = get('2.5.29.15');
  if (ku) {
    const bits = bitString(ku, readTlv(ku, 0));
    const set = new Set<string>();
    KEY_USAGE_NAMES.forEach((name, i) => {
      const byte = bits[i >> 3];
      if (byte !== undefined && byte & (0x80 >> (i & 7))) set.add(name);
    });
    m.keyUsage = set;
  }
  const eku = get('2.5.29.37');
  if (eku) m.extKeyUsage = children(eku, readTlv(eku, 0)).map((x) => readOid(eku, x));
  const ski = get('2.5.29.14');
  if (ski) m.subjectKeyId = content(ski, expect(readTlv(ski, 0), UNIVERSAL, 4, 'SubjectKeyIdentifier'));
  const aki = get('2.5.29.35');
  if (aki) {
    const kid = children(aki, readTlv(aki, 0)).find((x) => isTag(x, CONTEXT, 0));
    if (kid) m.authorityKeyId = content(aki, kid);
  }
  const ns = get('2.16.840.1.113730.1.1');
  if (ns) m.nsCertType = bitString(ns, readTlv(ns, 0))[0] ?? 0;
}

const models = new WeakMap<X509Certificate, CertModel>();

/** Certificates kept by {@link certModelOfDer}: an IGTF site's endorsers and their CAs, with room to spare. */
const DER_CACHE = 256;
const byDer = new Map<string, CertModel>();

/**
 * The model of a DER certificate embedded in a message, parsed once per process for the same bytes: `-U`
 * verifies a hundred lists signed by the same endorser, each carrying the same certificate, and parsing it
 * (ASN.1 schema, public key import) was a tenth of the verification. A model is a pure function of the bytes
 * (validity, path and CRLs are still checked on every message), so sharing it changes no decision. Failures
 * are not kept. Throws what `new X509Certificate` and {@link certModel} throw.
 */
export function certModelOfDer(der: Uint8Array): CertModel {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
  let m = byDer.get(key);
  if (m) return m;
  m = certModel(new X509Certificate(Buffer.from(der)));
  if (byDer.size >= DER_CACHE) byDer.delete(byDer.keys().next().value as string);
  byDer.set(key, m);
  return m;
}

/** The parsed model of a certificate (cached per object). Throws ERR_SMIME_MALFORMED. */
export function certModel(x509: X509Certificate): CertModel {
  let m = models.get(x509);
  if (m) return m;
  const raw = new Uint8Array(x509.rawData);
  try {
    const root = expect(readTlv(raw, 0), UNIVERSAL, 16, 'Certificate');
    const [tbsT, algT, sigT] = children(raw, root);
    expect(tbsT, UNIVERSAL, 16, 'TBSCertificate');
    const alg = children(raw, expect(algT, UNIVERSAL, 16, 'AlgorithmIdentifier'));
    const f = children(raw, tbsT);
    let i = 0;
    let version = 1;
    if (isTag(f[0], CONTEXT, 0)) {
      version = smallInteger(raw, children(raw, f[0])[0]) + 1;
      i = 1;
    }
    const serial = readInteger(raw, f[i]);
    const issuerT = expect(f[i + 2], UNIVERSAL, 16, 'issuer Name');
    const validity = children(raw, expect(f[i + 3], UNIVERSAL, 16, 'Validity'));
    const subjectT = expect(f[i + 4], UNIVERSAL, 16, 'subject Name');
    const spkiT = expect(f[i + 5], UNIVERSAL, 16, 'SubjectPublicKeyInfo');
    m = {
      x509,
      raw,
      tbs: raw.subarray(tbsT.start, tbsT.end),
      version,
      sigOid: readOid(raw, alg[0]),
      sigParams: alg[1] ? raw.subarray(alg[1].start, alg[1].end) : undefined,
      signature: bitString(raw, sigT),
      serial,
      serialHex: serialToHex(serial),
      issuerRaw: raw.subarray(issuerT.start, issuerT.end),
      subjectRaw: raw.subarray(subjectT.start, subjectT.end),
      issuer: formatOnelineDn(parseDnTlv(raw, issuerT)),
      subject: formatOnelineDn(parseDnTlv(raw, subjectT)),
      notBefore: readTime(raw, validity[0]),
      notAfter: readTime(raw, validity[1]),
      spki: raw.subarray(spkiT.start, spkiT.end),
      extensions: new Map(),
    };
    for (const x of f.slice(i + 6)) if (isTag(x, CONTEXT, 3)) parseExtensions(raw, x, m);
  } catch (e) {
    if (e instanceof SmimeError) throw e;
    throw malformed('certificate could not be parsed', e);
  }
  models.set(x509, m);
  return m;
}

export function publicKeyOf(m: CertModel): KeyObject {
  try {
    return publicKeyFromSpki(m.spki);
  } catch (e) {
    throw new SmimeError('ERR_SMIME_MALFORMED', `unsupported public key in ${m.subject}`, {
      subject: m.subject,
      cause: e,
    });
  }
}

const PEM_CERT =
  /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----([\s\S]*?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----/g;

function asText(b: string | Uint8Array): string | undefined {
  if (typeof b === 'string') return b;
  // DER starts with a SEQUENCE; anything else is treated as PEM text.
  if (b[0] === 0x30) return undefined;
  return Buffer.from(b).toString('latin1');
}

/** All certificates in a PEM bundle, or the one DER certificate. */
export function loadCertificates(pemOrDer: string | Uint8Array): X509Certificate[] {
  const text = asText(pemOrDer);
  const ders: Uint8Array[] = [];
  if (text === undefined) ders.push(pemOrDer as Uint8Array);
  else
    for (const m of text.matchAll(PEM_CERT))
      ders.push(Buffer.from(m[1].replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  if (ders.length === 0) throw malformed('no certificate found');
  return ders.map((der) => {
    let x: X509Certificate;
    try {
      x = new X509Certificate(Buffer.from(der));
    } catch (e) {
      throw malformed('certificate could not be parsed', e);
    }
    certModel(x);
    return x;
  });
}

/** Load one certificate from PEM (the first CERTIFICATE block) or DER. Throws ERR_SMIME_MALFORMED. */
export function loadCertificate(pemOrDer: string | Uint8Array): X509Certificate {
  return loadCertificates(pemOrDer)[0];
}

export function toCertificate(c: X509Certificate | string | Uint8Array): X509Certificate {
  if (c instanceof X509Certificate) return c;
  // An X509Certificate from another copy of @peculiar/x509: take its encoding.
  const rawData = (c as { rawData?: unknown } | null)?.rawData;
  if (rawData instanceof ArrayBuffer) return loadCertificate(new Uint8Array(rawData));
  return loadCertificate(c);
}

export interface CertificateInfo {
  /** OpenSSL 1.x one-line DN. */
  subject: string;
  issuer: string;
  /** Upper-case hex. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** Key usage names, when the extension is present. */
  keyUsage?: string[];
  /** Whether keyUsage allows digitalSignature; undefined when there is no keyUsage extension. */
  digitalSignature: boolean | undefined;
  isCA: boolean;
}

/** The facts about a certificate that tools print and compare. */
export function certificateInfo(cert: X509Certificate): CertificateInfo {
  const m = certModel(cert);
  const info: CertificateInfo = {
    subject: m.subject,
    issuer: m.issuer,
    serialNumber: m.serialHex,
    notBefore: m.notBefore,
    notAfter: m.notAfter,
    digitalSignature: m.keyUsage ? m.keyUsage.has('digitalSignature') : undefined,
    isCA: m.basicConstraints?.ca === true,
  };
  if (m.keyUsage) info.keyUsage = KEY_USAGE_NAMES.filter((n) => m.keyUsage!.has(n));
  return info;
}
