// CMS / PKCS#7 SignedData: parsing (raw encodings kept for signature checks) and building.
import { Attribute } from '@peculiar/asn1-cms';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  CONTEXT,
  children,
  concat,
  content,
  expect,
  isTag,
  octetChunks,
  raw,
  readInteger,
  readOid,
  readTime,
  readTlv,
  type Tlv,
  UNIVERSAL,
} from './der.js';
import { malformed, SmimeError } from './errors.js';

export const OID_DATA = '1.2.840.113549.1.7.1';
export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
export const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
export const OID_SIGNING_TIME = '1.2.840.113549.1.9.5';
export const OID_SMIME_CAPABILITIES = '1.2.840.113549.1.9.15';

export interface ParsedSigner {
  /** issuerAndSerialNumber (raw issuer Name, INTEGER contents) or subjectKeyIdentifier. */
  sid: { issuerRaw: Uint8Array; serial: Uint8Array } | { keyId: Uint8Array };
  digestOid: string;
  sigOid: string;
  sigParams?: Uint8Array;
  signature: Uint8Array;
  /** DER of the signed attributes with the SET OF tag, exactly as signed. */
  signedAttrsDer?: Uint8Array;
  contentType?: string;
  messageDigest?: Uint8Array;
  signingTime?: Date;
}

export interface ParsedSignedData {
  eContentType: string;
  eContent?: Uint8Array;
  certificates: Uint8Array[];
  signers: ParsedSigner[];
}

/**
 * The signed attributes ([0] IMPLICIT SET OF Attribute, Attribute ::= SEQUENCE { attrType OID, attrValues SET
 * OF ANY }), read with the DER walker. This used to be a whole-SignerInfo parse through @peculiar/asn1-cms for
 * the structure check: a tenth of the time of `-U` over a hundred changed lists. The same structure is now
 * checked here and in parseSigner (every field's tag, nothing after the last one).
 */
function parseAttributes(buf: Uint8Array, set: Tlv, s: ParsedSigner): void {
  const seen = new Set<string>();
  for (const attr of children(buf, set)) {
    const parts = children(buf, expect(attr, UNIVERSAL, 16, 'Attribute'));
    if (parts.length !== 2) throw malformed('an Attribute must have a type and a set of values');
    const attrType = readOid(buf, parts[0]);
    if (seen.has(attrType)) throw malformed(`duplicate signed attribute ${attrType}`);
    seen.add(attrType);
    const values = children(buf, expect(parts[1], UNIVERSAL, 17, 'attrValues SET')).map((t) => raw(buf, t));
    if (
      (attrType === OID_CONTENT_TYPE || attrType === OID_MESSAGE_DIGEST || attrType === OID_SIGNING_TIME) &&
      values.length !== 1
    ) {
      throw malformed(`signed attribute ${attrType} must have exactly one value`);
    }
    const v = values[0];
    if (attrType === OID_CONTENT_TYPE) s.contentType = readOid(v, readTlv(v, 0));
    else if (attrType === OID_MESSAGE_DIGEST) {
      s.messageDigest = content(v, expect(readTlv(v, 0), UNIVERSAL, 4, 'messageDigest OCTET STRING'));
    } else if (attrType === OID_SIGNING_TIME) s.signingTime = readTime(v, readTlv(v, 0));
  }
}

function parseSigner(buf: Uint8Array, t: Tlv): ParsedSigner {
  const f = children(buf, expect(t, UNIVERSAL, 16, 'SignerInfo'));
  readInteger(buf, expect(f[0], UNIVERSAL, 2, 'SignerInfo version'));
  let i = 1;
  const sidT = f[i++];
  let sid: ParsedSigner['sid'];
  if (isTag(sidT, UNIVERSAL, 16)) {
    const [name, serial] = children(buf, sidT);
    expect(name, UNIVERSAL, 16, 'issuer Name');
    sid = {
      issuerRaw: buf.subarray(name.start, name.end),
      serial: content(buf, expect(serial, UNIVERSAL, 2, 'serial')),
    };
  } else if (isTag(sidT, CONTEXT, 0)) sid = { keyId: content(buf, sidT) };
  else throw malformed('bad SignerIdentifier');
  const digAlg = children(buf, expect(f[i++], UNIVERSAL, 16, 'digestAlgorithm'));
  let signedAttrsDer: Uint8Array | undefined;
  let attrsT: Tlv | undefined;
  if (isTag(f[i], CONTEXT, 0)) {
    const a = f[i++];
    attrsT = a;
    if (a.indefinite) throw malformed('signed attributes are not DER');
    // The signature covers the attributes re-tagged as a universal SET.
    signedAttrsDer = Uint8Array.from(buf.subarray(a.start, a.end));
    signedAttrsDer[0] = 0x31;
  }
  const sigAlg = children(buf, expect(f[i++], UNIVERSAL, 16, 'signatureAlgorithm'));
  const sigT = expect(f[i++], UNIVERSAL, 4, 'signature');
  if (isTag(f[i], CONTEXT, 1)) {
    const unsigned = f[i++];
    for (const attr of children(buf, unsigned)) expect(attr, UNIVERSAL, 16, 'unsigned Attribute');
  }
  if (i !== f.length) throw malformed('unexpected fields after the SignerInfo signature');
  const s: ParsedSigner = {
    sid,
    digestOid: readOid(buf, digAlg[0]),
    sigOid: readOid(buf, sigAlg[0]),
    sigParams: sigAlg[1] ? buf.subarray(sigAlg[1].start, sigAlg[1].end) : undefined,
    signature: concat(octetChunks(buf, sigT)),
    signedAttrsDer,
  };
  if (attrsT) parseAttributes(buf, attrsT, s);
  return s;
}

/** Parse a ContentInfo holding SignedData. Throws ERR_SMIME_MALFORMED. */
export function parseSignedData(der: Uint8Array): ParsedSignedData {
  try {
    const ci = children(der, expect(readTlv(der, 0), UNIVERSAL, 16, 'ContentInfo'));
    if (readOid(der, ci[0]) !== OID_SIGNED_DATA) throw malformed('not a PKCS#7 SignedData');
    const sd = children(
      der,
      expect(children(der, expect(ci[1], CONTEXT, 0, '[0] content'))[0], UNIVERSAL, 16, 'SignedData'),
    );
    let i = 1;
    expect(sd[i++], UNIVERSAL, 17, 'digestAlgorithms');
    const eci = children(der, expect(sd[i++], UNIVERSAL, 16, 'EncapsulatedContentInfo'));
    const eContentType = readOid(der, eci[0]);
    let eContent: Uint8Array | undefined;
    if (eci[1]) {
      const inner = children(der, expect(eci[1], CONTEXT, 0, '[0] eContent'))[0];
      eContent = concat(octetChunks(der, expect(inner, UNIVERSAL, 4, 'eContent OCTET STRING')));
    }
    const certificates: Uint8Array[] = [];
    if (isTag(sd[i], CONTEXT, 0)) {
      for (const c of children(der, sd[i++])) {
        if (isTag(c, UNIVERSAL, 16)) certificates.push(der.subarray(c.start, c.end));
      }
    }
    if (isTag(sd[i], CONTEXT, 1)) i++;
    const signers = children(der, expect(sd[i], UNIVERSAL, 17, 'signerInfos')).map((t) =>
      parseSigner(der, t),
    );
    return { eContentType, eContent, certificates, signers };
  } catch (e) {
    if (e instanceof SmimeError) throw e;
    throw malformed('the PKCS#7 structure could not be parsed', e);
  }
}

export function attribute(type: string, valueDer: Uint8Array): Uint8Array {
  const a = new Attribute({ attrType: type, attrValues: [Uint8Array.from(valueDer).buffer] });
  return new Uint8Array(AsnConvert.serialize(a));
}
