// A small BER/DER reader and DER writer. It works on offsets into one buffer so that large contents
// (opaque messages of many MB) are never copied more than once, and so that raw encodings (certificates,
// signed attributes) can be taken byte-exact for signature checks.
import { malformed } from './errors.js';

export interface Tlv {
  /** Class bits and constructed bit of the first identifier octet (0xE0 mask). */
  cls: number;
  constructed: boolean;
  tagNo: number;
  /** Offset of the identifier octet. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just past the contents (before the end-of-contents octets of an indefinite length). */
  contentEnd: number;
  /** Offset just past the whole element. */
  end: number;
  indefinite: boolean;
}

const MAX_DEPTH = 48;

export const UNIVERSAL = 0x00;
export const CONTEXT = 0x80;

export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length, depth = 0): Tlv {
  if (depth > MAX_DEPTH) throw malformed('ASN.1 nesting too deep');
  const start = pos;
  if (pos >= limit) throw malformed('ASN.1 element truncated');
  const first = buf[pos++];
  const cls = first & 0xc0;
  const constructed = (first & 0x20) !== 0;
  let tagNo = first & 0x1f;
  if (tagNo === 0x1f) {
    tagNo = 0;
    for (let n = 0; ; n++) {
      if (pos >= limit || n > 4) throw malformed('ASN.1 tag truncated or too long');
      const b = buf[pos++];
      tagNo = tagNo * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (pos >= limit) throw malformed('ASN.1 length truncated');
  let len = buf[pos++];
  let indefinite = false;
  if (len === 0x80) {
    if (!constructed) throw malformed('ASN.1 indefinite length on a primitive element');
    indefinite = true;
  } else if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 6) throw malformed('ASN.1 length too long');
    len = 0;
    for (let i = 0; i < n; i++) {
      if (pos >= limit) throw malformed('ASN.1 length truncated');
      len = len * 256 + buf[pos++];
    }
  }
  const contentStart = pos;
  if (!indefinite) {
    const end = contentStart + len;
    if (end > limit) throw malformed('ASN.1 element truncated');
    return { cls, constructed, tagNo, start, contentStart, contentEnd: end, end, indefinite };
  }
  // Indefinite length: walk the children until the end-of-contents octets.
  let p = contentStart;
  for (;;) {
    if (p + 2 > limit) throw malformed('ASN.1 indefinite element not terminated');
    if (buf[p] === 0 && buf[p + 1] === 0) {
      return { cls, constructed, tagNo, start, contentStart, contentEnd: p, end: p + 2, indefinite };
    }
    p = readTlv(buf, p, limit, depth + 1).end;
  }
}

/** The children of a constructed element. */
export function children(buf: Uint8Array, tlv: Tlv, depth = 0): Tlv[] {
  if (!tlv.constructed) throw malformed('ASN.1 element is not constructed');
  const out: Tlv[] = [];
  let p = tlv.contentStart;
  while (p < tlv.contentEnd) {
    const c = readTlv(buf, p, tlv.contentEnd, depth + 1);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function expect(tlv: Tlv | undefined, cls: number, tagNo: number, what: string): Tlv {
  if (!tlv || tlv.cls !== cls || tlv.tagNo !== tagNo) throw malformed(`ASN.1: expected ${what}`);
  return tlv;
}

export function isTag(tlv: Tlv | undefined, cls: number, tagNo: number): tlv is Tlv {
  return tlv !== undefined && tlv.cls === cls && tlv.tagNo === tagNo;
}

export function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.contentEnd);
}

export function raw(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end);
}

/** OCTET STRING contents; a constructed (BER) string is returned as its chunks. */
export function octetChunks(buf: Uint8Array, tlv: Tlv, out: Uint8Array[] = [], depth = 0): Uint8Array[] {
  if (!tlv.constructed) {
    out.push(content(buf, tlv));
    return out;
  }
  for (const c of children(buf, tlv, depth)) {
    if (c.cls !== UNIVERSAL || c.tagNo !== 4) throw malformed('ASN.1: bad constructed OCTET STRING');
    octetChunks(buf, c, out, depth + 1);
  }
  return out;
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  return Buffer.concat(chunks);
}

export function readOid(buf: Uint8Array, tlv: Tlv): string {
  if (tlv.cls !== UNIVERSAL || tlv.tagNo !== 6 || tlv.constructed) throw malformed('ASN.1: expected an OID');
  return decodeOid(content(buf, tlv));
}

function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0 || bytes.length > 128) throw malformed('ASN.1: bad OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 256) throw malformed('ASN.1: OID arc too large');
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        if (v < 40) parts.push(0, v);
        else if (v < 80) parts.push(1, v - 40);
        else parts.push(2, v - 80);
      } else parts.push(v);
      v = 0;
    } else if (i === bytes.length - 1) throw malformed('ASN.1: OID truncated');
  }
  return parts.join('.');
}

export function readInteger(buf: Uint8Array, tlv: Tlv): Uint8Array {
  if (tlv.cls !== UNIVERSAL || tlv.tagNo !== 2 || tlv.constructed)
    throw malformed('ASN.1: expected an INTEGER');
  return content(buf, tlv);
}

export function smallInteger(buf: Uint8Array, tlv: Tlv): number {
  const b = readInteger(buf, tlv);
  if (b.length === 0 || b.length > 4) throw malformed('ASN.1: bad small INTEGER');
  let v = b[0] & 0x80 ? -1 : 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/** UTCTime or GeneralizedTime, as RFC 5280 uses them (Z form, seconds optional). */
export function readTime(buf: Uint8Array, tlv: Tlv): Date {
  if (tlv.cls !== UNIVERSAL || (tlv.tagNo !== 23 && tlv.tagNo !== 24))
    throw malformed('ASN.1: expected a time');
  const s = Buffer.from(content(buf, tlv)).toString('latin1');
  const m =
    tlv.tagNo === 23
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(s)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?Z$/.exec(s);
  if (!m) throw malformed(`ASN.1: bad time ${JSON.stringify(s)}`);
  let year = Number(m[1]);
  if (tlv.tagNo === 23) year += year < 50 ? 2000 : 1900;
  const d = new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? '0')),
  );
  if (Number.isNaN(d.getTime())) throw malformed('ASN.1: bad time');
  return d;
}

// ---- writer -------------------------------------------------------------------------------------

function lengthBytes(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n % 256);
    n = Math.floor(n / 256);
  }
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** DER-encode one element with a single-octet identifier. */
export function tlv(identifier: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  return Buffer.concat([Uint8Array.of(identifier), lengthBytes(len), ...parts]);
}

export const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
const set = (...parts: Uint8Array[]) => tlv(0x31, ...parts);
export const octetString = (b: Uint8Array) => tlv(0x04, b);

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number) => {
    const stack = [v & 0x7f];
    v = Math.floor(v / 128);
    while (v > 0) {
      stack.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...stack);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}

/** DER SET OF: elements sorted by their encodings. */
export function setOf(elements: Uint8Array[]): Uint8Array {
  const sorted = [...elements].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return set(...sorted);
}
