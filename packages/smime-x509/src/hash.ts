// OpenSSL's subject name hash (`openssl x509 -hash`, X509_NAME_hash_ex): the `<hash>` of the files in a
// trust directory. Used to name the files a CA lacks in messages.
import { createHash } from 'node:crypto';
import { children, content, raw, readTlv, seq, setOf, tlv, UNIVERSAL } from './der.js';

/** String types OpenSSL canonicalises (ASN1_MASK_CANON); other values are hashed as they are encoded. */
const CANON = new Set([12, 30, 28, 19, 20, 22, 26]); // UTF8, BMP, Universal, Printable, T61, IA5, Visible

/** The value as UTF-8, as ASN1_STRING_to_UTF8 converts it. */
function toUtf8(tag: number, value: Uint8Array): Buffer {
  const b = Buffer.from(value);
  if (tag === 12) return b;
  if (tag === 30 && b.length % 2 === 0) return Buffer.from(b.swap16().toString('utf16le'), 'utf8'); // UTF-16BE
  if (tag === 28) {
    let s = '';
    for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i));
    return Buffer.from(s, 'utf8');
  }
  return Buffer.from(b.toString('latin1'), 'utf8'); // one byte per character (T61String as Latin-1)
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** asn1_string_canon: leading/trailing white space removed, inner runs collapsed, ASCII lower-cased. */
function canon(tag: number, value: Uint8Array): Uint8Array {
  const s = toUtf8(tag, value);
  let start = 0;
  let end = s.length;
  while (start < end && isSpace(s[start])) start++;
  while (end > start && isSpace(s[end - 1])) end--;
  const out: number[] = [];
  for (let i = start; i < end; i++) {
    const c = s[i];
    if (c >= 0x80) out.push(c);
    else if (isSpace(c)) {
      out.push(0x20);
      while (i + 1 < end && isSpace(s[i + 1])) i++;
    } else out.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return tlv(0x0c, Uint8Array.from(out));
}

/**
 * `openssl x509 -hash` of a DER Name: SHA-1 of its canonical encoding (every RDN SET re-encoded with canonical
 * string values, no outer SEQUENCE), the first four bytes little-endian, as eight hex digits.
 */
export function subjectHash(nameDer: Uint8Array): string {
  const sets = children(nameDer, readTlv(nameDer, 0)).map((rdn) =>
    setOf(
      children(nameDer, rdn).map((atv) => {
        const [type, v] = children(nameDer, atv);
        const value =
          v.cls === UNIVERSAL && !v.constructed && CANON.has(v.tagNo)
            ? canon(v.tagNo, content(nameDer, v))
            : raw(nameDer, v);
        return seq(raw(nameDer, type), value);
      }),
    ),
  );
  return createHash('sha1')
    .update(Buffer.concat(sets))
    .digest()
    .readUInt32LE(0)
    .toString(16)
    .padStart(8, '0');
}
