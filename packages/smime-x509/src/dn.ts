// One-line distinguished names exactly as OpenSSL's X509_NAME_oneline() prints them.
import type { Name as X509Name } from '@peculiar/x509';
import { children, content, expect, readOid, readTlv, type Tlv, UNIVERSAL } from './der.js';
import { malformed } from './errors.js';

/** Short names OpenSSL prints for name attributes (OBJ_nid2sn); unknown OIDs print in dotted form. */
// Generated from OpenSSL's object table (OBJ_nid2sn) for the name attribute arcs.
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.14': 'searchGuide',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox',
  '2.5.4.19': 'physicalDeliveryOfficeName',
  '2.5.4.20': 'telephoneNumber',
  '2.5.4.21': 'telexNumber',
  '2.5.4.22': 'teletexTerminalIdentifier',
  '2.5.4.23': 'facsimileTelephoneNumber',
  '2.5.4.24': 'x121Address',
  '2.5.4.25': 'internationaliSDNNumber',
  '2.5.4.26': 'registeredAddress',
  '2.5.4.27': 'destinationIndicator',
  '2.5.4.28': 'preferredDeliveryMethod',
  '2.5.4.29': 'presentationAddress',
  '2.5.4.30': 'supportedApplicationContext',
  '2.5.4.31': 'member',
  '2.5.4.32': 'owner',
  '2.5.4.33': 'roleOccupant',
  '2.5.4.34': 'seeAlso',
  '2.5.4.35': 'userPassword',
  '2.5.4.36': 'userCertificate',
  '2.5.4.37': 'cACertificate',
  '2.5.4.38': 'authorityRevocationList',
  '2.5.4.39': 'certificateRevocationList',
  '2.5.4.40': 'crossCertificatePair',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.47': 'enhancedSearchGuide',
  '2.5.4.48': 'protocolInformation',
  '2.5.4.49': 'distinguishedName',
  '2.5.4.50': 'uniqueMember',
  '2.5.4.51': 'houseIdentifier',
  '2.5.4.52': 'supportedAlgorithms',
  '2.5.4.53': 'deltaRevocationList',
  '2.5.4.54': 'dmdName',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '2.5.4.98': 'c3',
  '2.5.4.99': 'n3',
  '2.5.4.100': 'dnsName',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.2': 'textEncodedORAddress',
  '0.9.2342.19200300.100.1.3': 'mail',
  '0.9.2342.19200300.100.1.4': 'info',
  '0.9.2342.19200300.100.1.5': 'favouriteDrink',
  '0.9.2342.19200300.100.1.6': 'roomNumber',
  '0.9.2342.19200300.100.1.7': 'photo',
  '0.9.2342.19200300.100.1.8': 'userClass',
  '0.9.2342.19200300.100.1.9': 'host',
  '0.9.2342.19200300.100.1.10': 'manager',
  '0.9.2342.19200300.100.1.11': 'documentIdentifier',
  '0.9.2342.19200300.100.1.12': 'documentTitle',
  '0.9.2342.19200300.100.1.13': 'documentVersion',
  '0.9.2342.19200300.100.1.14': 'documentAuthor',
  '0.9.2342.19200300.100.1.15': 'documentLocation',
  '0.9.2342.19200300.100.1.20': 'homeTelephoneNumber',
  '0.9.2342.19200300.100.1.21': 'secretary',
  '0.9.2342.19200300.100.1.22': 'otherMailbox',
  '0.9.2342.19200300.100.1.23': 'lastModifiedTime',
  '0.9.2342.19200300.100.1.24': 'lastModifiedBy',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.26': 'aRecord',
  '0.9.2342.19200300.100.1.27': 'pilotAttributeType27',
  '0.9.2342.19200300.100.1.28': 'mXRecord',
  '0.9.2342.19200300.100.1.29': 'nSRecord',
  '0.9.2342.19200300.100.1.30': 'sOARecord',
  '0.9.2342.19200300.100.1.31': 'cNAMERecord',
  '0.9.2342.19200300.100.1.37': 'associatedDomain',
  '0.9.2342.19200300.100.1.38': 'associatedName',
  '0.9.2342.19200300.100.1.39': 'homePostalAddress',
  '0.9.2342.19200300.100.1.40': 'personalTitle',
  '0.9.2342.19200300.100.1.41': 'mobileTelephoneNumber',
  '0.9.2342.19200300.100.1.42': 'pagerTelephoneNumber',
  '0.9.2342.19200300.100.1.43': 'friendlyCountryName',
  '0.9.2342.19200300.100.1.44': 'uid',
  '0.9.2342.19200300.100.1.45': 'organizationalStatus',
  '0.9.2342.19200300.100.1.46': 'janetMailbox',
  '0.9.2342.19200300.100.1.47': 'mailPreferenceOption',
  '0.9.2342.19200300.100.1.48': 'buildingName',
  '0.9.2342.19200300.100.1.49': 'dSAQuality',
  '0.9.2342.19200300.100.1.50': 'singleLevelQuality',
  '0.9.2342.19200300.100.1.51': 'subtreeMinimumQuality',
  '0.9.2342.19200300.100.1.52': 'subtreeMaximumQuality',
  '0.9.2342.19200300.100.1.53': 'personalSignature',
  '0.9.2342.19200300.100.1.54': 'dITRedirect',
  '0.9.2342.19200300.100.1.55': 'audio',
  '0.9.2342.19200300.100.1.56': 'documentPublisher',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.2.840.113549.1.9.3': 'contentType',
  '1.2.840.113549.1.9.4': 'messageDigest',
  '1.2.840.113549.1.9.5': 'signingTime',
  '1.2.840.113549.1.9.6': 'countersignature',
  '1.2.840.113549.1.9.7': 'challengePassword',
  '1.2.840.113549.1.9.8': 'unstructuredAddress',
  '1.2.840.113549.1.9.9': 'extendedCertificateAttributes',
  '1.2.840.113549.1.9.14': 'extReq',
  '1.2.840.113549.1.9.15': 'SMIME-CAPS',
  '1.2.840.113549.1.9.16': 'SMIME',
  '1.2.840.113549.1.9.20': 'friendlyName',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
  '1.3.6.1.5.5.7.9.1': 'id-pda-dateOfBirth',
  '1.3.6.1.5.5.7.9.2': 'id-pda-placeOfBirth',
  '1.3.6.1.5.5.7.9.3': 'id-pda-gender',
  '1.3.6.1.5.5.7.9.4': 'id-pda-countryOfCitizenship',
  '1.3.6.1.5.5.7.9.5': 'id-pda-countryOfResidence',
};

export interface DnEntry {
  /** Dotted OID of the attribute type. */
  oid: string;
  /** The short name OpenSSL prints, or the dotted OID. */
  type: string;
  /** ASN.1 universal tag number of the value. */
  valueTag: number;
  /** Raw value octets, as OpenSSL keeps them in the ASN1_STRING. */
  value: Uint8Array;
  /** Index of the RDN (SET) this entry belongs to; equal for members of a multi-valued RDN. */
  set: number;
}

/** Anything that names a distinguished name. */
export type DnInput = Uint8Array | ArrayBuffer | X509Name | { toArrayBuffer(): ArrayBuffer };

export interface FormatDnOptions {
  /**
   * `openssl1` (default): OpenSSL 1.x, what M2Crypto-era tools and existing image lists use: no escaping,
   * every attribute introduced by `/`. `openssl3`: OpenSSL 3, which escapes `/` and `+` with a backslash and
   * joins members of a multi-valued RDN with `+`.
   */
  style?: 'openssl1' | 'openssl3';
}

function toBytes(name: DnInput): Uint8Array {
  if (name instanceof Uint8Array) return name;
  if (name instanceof ArrayBuffer) return new Uint8Array(name);
  if (name && typeof (name as { toArrayBuffer?: unknown }).toArrayBuffer === 'function') {
    return new Uint8Array((name as { toArrayBuffer(): ArrayBuffer }).toArrayBuffer());
  }
  throw malformed('not a distinguished name');
}

/** Decode a DER Name into its entries, in encoding order. */
export function parseDn(name: DnInput): DnEntry[] {
  const buf = toBytes(name);
  const root = expect(readTlv(buf, 0, buf.length), UNIVERSAL, 16, 'Name SEQUENCE');
  return parseDnTlv(buf, root);
}

export function parseDnTlv(buf: Uint8Array, root: Tlv): DnEntry[] {
  const out: DnEntry[] = [];
  children(buf, root).forEach((rdn, set) => {
    expect(rdn, UNIVERSAL, 17, 'RDN SET');
    for (const atv of children(buf, rdn)) {
      expect(atv, UNIVERSAL, 16, 'AttributeTypeAndValue');
      const [t, v] = children(buf, atv);
      if (!t || !v) throw malformed('bad AttributeTypeAndValue');
      const oid = readOid(buf, t);
      // OpenSSL keeps the contents of string types, and the whole encoding of anything constructed.
      const value = v.constructed ? buf.subarray(v.start, v.end) : content(buf, v);
      out.push({
        oid,
        type: SHORT_NAMES[oid] ?? oid,
        valueTag: v.cls === UNIVERSAL ? v.tagNo : -1,
        value,
        set,
      });
    }
  });
  return out;
}

const HEX = '0123456789ABCDEF';

/** Format a DER Name the way X509_NAME_oneline() does (OpenSSL 1.x by default). */
export function formatOnelineDn(name: DnInput | DnEntry[], options: FormatDnOptions = {}): string {
  const entries = Array.isArray(name) ? name : parseDn(name);
  const v3 = options.style === 'openssl3';
  let out = '';
  let prevSet = -1;
  for (const e of entries) {
    out += v3 && prevSet === e.set ? '+' : '/';
    out += e.type;
    out += '=';
    const q = e.value;
    // GeneralString of 4-byte units with only the last byte used is printed as that byte (X509_NAME_oneline).
    let keep = [true, true, true, true];
    if (e.valueTag === 27 && q.length % 4 === 0) {
      const nz = [false, false, false, false];
      for (let j = 0; j < q.length; j++) if (q[j] !== 0) nz[j & 3] = true;
      keep = nz[0] || nz[1] || nz[2] ? [true, true, true, true] : [false, false, false, true];
    }
    for (let j = 0; j < q.length; j++) {
      if (!keep[j & 3]) continue;
      const n = q[j];
      if (n < 0x20 || n > 0x7e) out += '\\x' + HEX[n >> 4] + HEX[n & 15];
      else {
        if (v3 && (n === 0x2f || n === 0x2b)) out += '\\';
        out += String.fromCharCode(n);
      }
    }
    prevSet = e.set;
  }
  return out;
}

const ATTR_START = /^[A-Za-z0-9.]+=/;

/** Rewrite an OpenSSL 3 one-line DN into the OpenSSL 1.x form; `undefined` when it has no 3.x features. */
function fromOpenssl3(s: string): string | undefined {
  let out = '';
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && (s[i + 1] === '/' || s[i + 1] === '+')) {
      out += s[i + 1];
      i++;
      changed = true;
    } else if (c === '+' && ATTR_START.test(s.slice(i + 1, i + 80))) {
      out += '/';
      changed = true;
    } else out += c;
  }
  return changed ? out : undefined;
}

/**
 * Compare two one-line DNs. Equal strings are equal; otherwise a string written in the OpenSSL 3 form
 * (`\/`, `\+`, `+` between members of a multi-valued RDN) is rewritten into the OpenSSL 1.x form first.
 * The 1.x form is ambiguous by design (values are not escaped), so a 1.x value that itself contains
 * `+TYPE=` can equal a 3.x multi-valued RDN; the originals compared the same strings byte for byte.
 */
export function dnEquals(a: string, b: string): boolean {
  if (a === b) return true;
  const a1 = fromOpenssl3(a);
  const b1 = fromOpenssl3(b);
  if (a1 !== undefined && a1 === b) return true;
  if (b1 !== undefined && b1 === a) return true;
  return a1 !== undefined && b1 !== undefined && a1 === b1;
}

/** `TYPE = value` pairs joined by `, ` (OpenSSL 3's default `-subject` output): `DC = ch, DC = cern, CN = x`. */
const SPACED_ONELINE = /^[A-Za-z][A-Za-z0-9.-]* = /;

/** Splits OpenSSL 3's default (`-nameopt oneline`) form on unescaped `, ` and ` + `; undefined if it is not that form. */
function fromSpacedOneline(s: string): string | undefined {
  if (!SPACED_ONELINE.test(s)) return undefined;
  let out = '';
  let i = 0;
  let expectType = true;
  while (i < s.length) {
    if (expectType) {
      const m = /^([A-Za-z][A-Za-z0-9.-]*) = /.exec(s.slice(i));
      if (!m) return undefined;
      out += `/${m[1]}=`;
      i += m[0].length;
      expectType = false;
      continue;
    }
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if ((c === ',' || c === '+') && s[i + 1] === ' ' && SPACED_ONELINE.test(s.slice(i + 2))) {
      i += 2;
      expectType = true;
      continue;
    }
    if (c === ' ' && s[i + 1] === '+' && s[i + 2] === ' ' && SPACED_ONELINE.test(s.slice(i + 3))) {
      i += 3;
      expectType = true;
      continue;
    }
    out += c;
    i++;
  }
  return expectType ? undefined : out;
}

/**
 * The one spelling of a DN that this project stores, compares and publishes: OpenSSL 1.x's
 * `X509_NAME_oneline()` form (`/DC=ch/DC=cern/CN=Jane Doe`), which existing image lists, the originals'
 * databases and original subscribers (byte comparison) use. Accepts what users paste: that form; OpenSSL 3's
 * escaped form (`-nameopt compat`: `\/`, `\+`, `+` between members of a multi-valued RDN); OpenSSL 3's default
 * `DC = ch, DC = cern, CN = Jane Doe`; each optionally prefixed by `subject=` or `issuer=`. Surrounding white
 * space is removed. Anything else is returned trimmed, unchanged.
 */
export function canonicalDn(dn: string): string {
  let s = dn.trim();
  const prefixed = /^(?:subject|issuer)\s*=\s*/i.exec(s);
  if (prefixed) s = s.slice(prefixed[0].length);
  if (s.startsWith('/')) return fromOpenssl3(s) ?? s;
  return fromSpacedOneline(s) ?? s;
}
