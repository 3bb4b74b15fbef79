// The SignerInfo structure checks of the DER walker (cms.ts): each malformed shape is refused as
// ERR_SMIME_MALFORMED before any signature check, and what the standard allows (unsigned attributes) still
// verifies. The messages are real signatures with one SignerInfo re-encoded.
import { beforeAll, describe, expect, it } from 'vitest';
import { children, oid, raw, readTlv, type Tlv, tlv } from '../src/der.js';
import {
  loadCertificate,
  loadPrivateKey,
  SmimeError,
  signSmime,
  TrustStore,
  verifySmime,
} from '../src/index.js';
import { file, read } from './helpers.js';

let trust: TrustStore;
let head: string;
let der: Buffer;

beforeAll(async () => {
  trust = await TrustStore.fromDirectory(file('trust'));
  const signed = await signSmime('{"hv:imagelist": {}}\n', {
    certificate: read('leaf/endorser.pem'),
    privateKey: await loadPrivateKey(read('leaf/endorser.key')),
    chain: [loadCertificate(read('inter/cert.pem'))],
    detached: false,
  });
  const text = Buffer.from(signed).toString('latin1');
  const split = text.indexOf('\n\n') + 2;
  head = text.slice(0, split);
  der = Buffer.from(text.slice(split), 'base64');
});

/** The message with the fields of its one SignerInfo replaced by `edit(fields)` (raw encodings). */
function withSignerInfo(edit: (fields: Uint8Array[]) => Uint8Array[]): string {
  // ContentInfo → [0] → SignedData → signerInfos (its last field) → the SignerInfo.
  const path = [1, 0, -1, 0];
  const walk = (t: Tlv, rest: number[]): Uint8Array => {
    const kids = children(der, t);
    if (rest.length === 0) return tlv(der[t.start], ...edit(kids.map((c) => raw(der, c))));
    const at = rest[0] < 0 ? kids.length - 1 : rest[0];
    return tlv(der[t.start], ...kids.map((c, i) => (i === at ? walk(c, rest.slice(1)) : raw(der, c))));
  };
  return head + Buffer.from(walk(readTlv(der, 0), path)).toString('base64');
}

/** The [0] signed attributes field with its attributes replaced by `edit(attributes)`. */
function withAttributes(fields: Uint8Array[], edit: (attrs: Uint8Array[]) => Uint8Array[]): Uint8Array[] {
  return fields.map((f) => {
    if (f[0] !== 0xa0) return f;
    const t = readTlv(f, 0);
    return tlv(0xa0, ...edit(children(f, t).map((c) => raw(f, c))));
  });
}

async function codeOf(message: string): Promise<string> {
  try {
    await verifySmime(message, { trust });
    return 'ok';
  } catch (e) {
    if (!(e instanceof SmimeError)) throw e;
    return e.code;
  }
}

describe('SignerInfo structure', () => {
  it('the message re-encoded unchanged verifies (the helper itself changes nothing)', async () => {
    expect(await codeOf(withSignerInfo((f) => f))).toBe('ok');
  });

  it('unsigned attributes ([1], not covered by the signature) are allowed', async () => {
    const unsigned = tlv(0xa1, tlv(0x30, oid('1.2.3.4'), tlv(0x31, tlv(0x05))));
    expect(await codeOf(withSignerInfo((f) => [...f, unsigned]))).toBe('ok');
  });

  it.each([
    ['a field after the signature', (f: Uint8Array[]) => [...f, tlv(0x02, Uint8Array.of(1))]],
    ['a field after the unsigned attributes', (f: Uint8Array[]) => [...f, tlv(0xa1), tlv(0x05)]],
    ['a version that is not an INTEGER', (f: Uint8Array[]) => [tlv(0x04, Uint8Array.of(1)), ...f.slice(1)]],
    ['no signature', (f: Uint8Array[]) => f.slice(0, -1)],
    ['a duplicate signed attribute', (f: Uint8Array[]) => withAttributes(f, (a) => [...a, a[0]])],
    [
      'an attribute with three fields',
      (f: Uint8Array[]) =>
        withAttributes(f, (a) => [...a, tlv(0x30, oid('1.2.3.4'), tlv(0x31, tlv(0x05)), tlv(0x05))]),
    ],
    [
      'an attribute whose values are not a SET',
      (f: Uint8Array[]) => withAttributes(f, (a) => [...a, tlv(0x30, oid('1.2.3.4'), tlv(0x30, tlv(0x05)))]),
    ],
    ['an attribute that is not a SEQUENCE', (f: Uint8Array[]) => withAttributes(f, (a) => [...a, tlv(0x05)])],
    [
      'an attribute type that is not an OID',
      (f: Uint8Array[]) => withAttributes(f, (a) => [...a, tlv(0x30, tlv(0x05), tlv(0x31, tlv(0x05)))]),
    ],
  ])('%s: ERR_SMIME_MALFORMED', async (_, edit) => {
    expect(await codeOf(withSignerInfo(edit))).toBe('ERR_SMIME_MALFORMED');
  });
});
