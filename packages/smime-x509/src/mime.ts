// S/MIME envelope parsing and writing: detached multipart/signed and opaque application/(x-)pkcs7-mime.
import { malformed } from './errors.js';

export type ParsedSmime =
  | { kind: 'detached'; content: Uint8Array; signature: Uint8Array }
  | { kind: 'opaque'; der: Uint8Array };

const LF = 0x0a;
const CR = 0x0d;

interface Line {
  start: number;
  /** End of the text, trailing CR characters removed (as OpenSSL's strip_eol does). */
  end: number;
  next: number;
  eol: boolean;
}

function lineAt(buf: Uint8Array, pos: number): Line {
  let nl = buf.indexOf(LF, pos);
  const eol = nl >= 0;
  if (!eol) nl = buf.length;
  let end = nl;
  while (end > pos && buf[end - 1] === CR) end--;
  return { start: pos, end, next: eol ? nl + 1 : buf.length, eol };
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

interface Headers {
  map: Map<string, string>;
  bodyStart: number;
}

/** Read RFC 822 headers from `pos` up to the first empty line; continuation lines are unfolded. */
function readHeaders(buf: Uint8Array, pos: number, limit: number): Headers {
  const map = new Map<string, string>();
  let last: string | undefined;
  let p = pos;
  while (p < limit) {
    const l = lineAt(buf, p);
    const end = Math.min(l.end, limit);
    p = Math.min(l.next, limit);
    if (end === l.start) return { map, bodyStart: p };
    const text = latin1(buf, l.start, end);
    if ((text[0] === ' ' || text[0] === '\t') && last) {
      map.set(last, `${map.get(last)} ${text.trim()}`);
      continue;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw malformed(`bad MIME header line: ${JSON.stringify(text.slice(0, 80))}`);
    last = text.slice(0, colon).trim().toLowerCase();
    map.set(last, text.slice(colon + 1).trim());
  }
  throw malformed('MIME headers are not followed by a body');
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

function parseContentType(value: string): ContentType {
  const m = /^\s*([A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+)\s*/.exec(value);
  if (!m) throw malformed(`bad Content-Type: ${JSON.stringify(value.slice(0, 80))}`);
  const params = new Map<string, string>();
  const re = /;\s*([A-Za-z0-9!#$&^_.+-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))\s*/y;
  let pos = m[0].length;
  while (pos < value.length) {
    re.lastIndex = pos;
    const p = re.exec(value);
    if (!p) {
      if (/^[;\s]*$/.test(value.slice(pos))) break;
      throw malformed(`bad Content-Type parameters: ${JSON.stringify(value.slice(0, 120))}`);
    }
    params.set(p[1].toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]);
    pos = re.lastIndex;
  }
  return { type: m[1].toLowerCase(), params };
}

const SIG_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const MIME_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);

/** Decode base64 with any line length; anything but the alphabet, whitespace and padding is an error. */
function decodeBase64(buf: Uint8Array, start: number, end: number): Uint8Array {
  const text = latin1(buf, start, end);
  if (/[^A-Za-z0-9+/=\s]/.test(text)) throw malformed('invalid base64 data');
  const clean = text.replace(/\s+/g, '');
  if (/=[^=]/.test(clean) || clean.length % 4 === 1) throw malformed('invalid base64 data');
  const out = Buffer.from(clean, 'base64');
  if (out.length === 0) throw malformed('empty base64 data');
  return out;
}

function isBoundary(buf: Uint8Array, l: Line, bound: Uint8Array): 0 | 1 | 2 {
  // As OpenSSL: a line that starts with "--" + boundary; "--" after it closes the multipart.
  const len = l.end - l.start;
  if (len < bound.length + 2 || buf[l.start] !== 0x2d || buf[l.start + 1] !== 0x2d) return 0;
  for (let i = 0; i < bound.length; i++) if (buf[l.start + 2 + i] !== bound[i]) return 0;
  const after = l.start + 2 + bound.length;
  return buf[after] === 0x2d && buf[after + 1] === 0x2d && after + 2 <= l.end ? 2 : 1;
}

/** Canonical (CRLF) form of the lines in [start, end): every line break becomes CRLF, trailing CRs dropped. */
export function canonicalize(buf: Uint8Array, start = 0, end = buf.length): Uint8Array {
  // Content written by OpenSSL is already canonical: return a view instead of a copy.
  if (isCanonical(buf, start, end)) return buf.subarray(start, end);
  // Worst case every LF gains a CR.
  const out = Buffer.allocUnsafe(end - start + countLf(buf, start, end));
  let o = 0;
  let p = start;
  while (p < end) {
    let nl = buf.indexOf(LF, p);
    if (nl < 0 || nl >= end) nl = -1;
    let e = nl < 0 ? end : nl;
    while (e > p && buf[e - 1] === CR) e--;
    out.set(buf.subarray(p, e), o);
    o += e - p;
    if (nl < 0) break;
    out[o++] = CR;
    out[o++] = LF;
    p = nl + 1;
  }
  return out.subarray(0, o);
}

function isCanonical(buf: Uint8Array, start: number, end: number): boolean {
  let p = buf.indexOf(LF, start);
  while (p >= 0 && p < end) {
    if (p - 1 < start || buf[p - 1] !== CR || (p - 2 >= start && buf[p - 2] === CR)) return false;
    p = buf.indexOf(LF, p + 1);
  }
  return end === start || buf[end - 1] !== CR;
}

function countLf(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  let p = buf.indexOf(LF, start);
  while (p >= 0 && p < end) {
    n++;
    p = buf.indexOf(LF, p + 1);
  }
  return n;
}

function skipBlank(buf: Uint8Array, pos: number): number {
  while (pos < buf.length && (buf[pos] === 0x20 || buf[pos] === 0x09 || buf[pos] === CR || buf[pos] === LF))
    pos++;
  return pos;
}

const PEM_PKCS7 = /-----BEGIN (?:PKCS7|CMS)-----([\s\S]*?)-----END (?:PKCS7|CMS)-----/;

/** Split an S/MIME message into the signed content and the CMS signature, or the opaque CMS blob. */
export function parseSmime(buf: Uint8Array): ParsedSmime {
  const first = skipBlank(buf, 0);
  if (buf[first] === 0x30) return { kind: 'opaque', der: buf.subarray(first) };
  if (buf[first] === 0x2d && buf[first + 1] === 0x2d && buf[first + 2] === 0x2d) {
    const m = PEM_PKCS7.exec(latin1(buf, first, Math.min(buf.length, first + 64 * 1024 * 1024)));
    if (m) return { kind: 'opaque', der: decodeBase64(Buffer.from(m[1], 'latin1'), 0, m[1].length) };
  }
  const top = readHeaders(buf, first, buf.length);
  const ctValue = top.map.get('content-type');
  if (!ctValue) throw malformed('no Content-Type header');
  const ct = parseContentType(ctValue);
  if (MIME_TYPES.has(ct.type)) {
    const st = ct.params.get('smime-type');
    if (st !== undefined && st.toLowerCase() !== 'signed-data')
      throw malformed(`unsupported smime-type ${st}`);
    return { kind: 'opaque', der: decodeBase64(buf, top.bodyStart, buf.length) };
  }
  if (ct.type !== 'multipart/signed')
    throw malformed(`not an S/MIME signed message (Content-Type ${ct.type})`);
  const protocol = ct.params.get('protocol');
  if (protocol !== undefined && !SIG_TYPES.has(protocol.toLowerCase())) {
    throw malformed(`unsupported multipart/signed protocol ${protocol}`);
  }
  const boundary = ct.params.get('boundary');
  if (!boundary) throw malformed('multipart/signed without a boundary');
  const bound = Buffer.from(boundary, 'latin1');

  // Find the boundary lines.
  const marks: { line: Line; kind: 1 | 2 }[] = [];
  let p = top.bodyStart;
  while (p < buf.length) {
    const l = lineAt(buf, p);
    const k = isBoundary(buf, l, bound);
    if (k !== 0) {
      marks.push({ line: l, kind: k });
      if (k === 2) break;
    }
    p = l.next;
  }
  const close = marks.findIndex((m) => m.kind === 2);
  if (close !== 2 || marks.length !== 3) throw malformed('multipart/signed must have exactly two parts');
  const [b1, b2, b3] = marks;
  if (b1.line.next > b2.line.start) throw malformed('empty signed part');
  // Content: the lines between the first two boundaries, without the line break before the second.
  // Drop the line break before the boundary (and, as OpenSSL does, the CRs ending that last line).
  let end = b2.line.start - 1;
  while (end > b1.line.next && buf[end - 1] === CR) end--;
  const signed = end <= b1.line.next ? new Uint8Array(0) : canonicalize(buf, b1.line.next, end);
  const sigHeaders = readHeaders(buf, b2.line.next, b3.line.start);
  const sct = sigHeaders.map.get('content-type');
  if (!sct || !SIG_TYPES.has(parseContentType(sct).type))
    throw malformed('second part is not a PKCS#7 signature');
  const cte = sigHeaders.map.get('content-transfer-encoding');
  if (cte !== undefined && cte.toLowerCase() !== 'base64')
    throw malformed(`unsupported signature encoding ${cte}`);
  return {
    kind: 'detached',
    content: signed,
    signature: decodeBase64(buf, sigHeaders.bodyStart, b3.line.start),
  };
}

/** Remove the `Content-Type: text/plain` header block `openssl smime -sign -text` puts before the content. */
export function stripTextHeader(content: Uint8Array): Uint8Array {
  const head = latin1(content, 0, Math.min(content.length, 64));
  if (!/^content-type:[ \t]*text\/plain/i.test(head)) return content;
  let p = 0;
  while (p < content.length) {
    const l = lineAt(content, p);
    if (l.end === l.start) return content.subarray(l.next);
    if (!l.eol) break;
    p = l.next;
  }
  return content;
}

function base64Lines(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return lines.join('\n') + '\n';
}

export interface WriteOptions {
  micalg: string;
  /** `application/pkcs7-…` (RFC 8551, M2Crypto) or `application/x-pkcs7-…` (the openssl CLI). */
  prefix: 'application/pkcs7-' | 'application/x-pkcs7-';
  boundary: string;
}

/** The detached multipart/signed layout OpenSSL's SMIME_write_PKCS7 produces (headers LF, content CRLF). */
export function writeDetached(canonical: Uint8Array, signature: Uint8Array, o: WriteOptions): Buffer {
  const head =
    'MIME-Version: 1.0\n' +
    `Content-Type: multipart/signed; protocol="${o.prefix}signature"; micalg="${o.micalg}"; boundary="----${o.boundary}"\n\n` +
    'This is an S/MIME signed message\n\n' +
    `------${o.boundary}\n`;
  const tail =
    `\n------${o.boundary}\n` +
    `Content-Type: ${o.prefix}signature; name="smime.p7s"\n` +
    'Content-Transfer-Encoding: base64\n' +
    'Content-Disposition: attachment; filename="smime.p7s"\n\n' +
    base64Lines(signature) +
    `\n------${o.boundary}--\n\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), canonical, Buffer.from(tail, 'latin1')]);
}

export function writeOpaque(der: Uint8Array, prefix: WriteOptions['prefix']): Buffer {
  return Buffer.from(
    'MIME-Version: 1.0\n' +
      'Content-Disposition: attachment; filename="smime.p7m"\n' +
      `Content-Type: ${prefix}mime; smime-type=signed-data; name="smime.p7m"\n` +
      'Content-Transfer-Encoding: base64\n\n' +
      base64Lines(der) +
      '\n',
    'latin1',
  );
}
