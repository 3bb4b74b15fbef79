// Property tests: mutated, truncated and reshuffled messages never crash or hang; they only throw SmimeError,
// and never ERR_SMIME_INTERNAL.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  loadCertificate,
  loadPrivateKey,
  SMIME_ERROR_CODES,
  SmimeError,
  signSmime,
  TrustStore,
  verifySmime,
} from '../src/index.js';
import { file, read } from './helpers.js';

let trust: TrustStore;
let detached: Buffer;
let opaque: Buffer;
let opaqueDer: Buffer;
let opaqueHead: string;
const BODY = '{\n  "hv:imagelist": {"dc:title": "fuzz"}\n}\n';
const BODY_CRLF = BODY.replace(/\n/g, '\r\n');

beforeAll(async () => {
  trust = await TrustStore.fromDirectory(file('trust'));
  const opts = {
    certificate: read('leaf/endorser.pem'),
    privateKey: await loadPrivateKey(read('leaf/endorser.key')),
    chain: [loadCertificate(read('inter/cert.pem'))],
  };
  const body = BODY;
  detached = Buffer.from(await signSmime(body, opts));
  opaque = Buffer.from(await signSmime(body, { ...opts, detached: false }));
  const text = opaque.toString('latin1');
  const split = text.indexOf('\n\n') + 2;
  opaqueHead = text.slice(0, split);
  opaqueDer = Buffer.from(text.slice(split), 'base64');
});

/** Runs verify; returns 'ok' or the error code; fails the property on anything but SmimeError (a hang fails by the test timeout). */
async function outcome(msg: Uint8Array | string): Promise<string> {
  try {
    const v = await verifySmime(msg, { trust });
    // A mutation may hit bytes no signature covers (unused certificates, digestAlgorithms, MIME preamble),
    // but whatever verifies must carry the signed content and signer unchanged.
    expect(Buffer.from(v.content).toString()).toBe(BODY_CRLF);
    expect(v.signer.subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge');
    return 'ok';
  } catch (e) {
    if (!(e instanceof SmimeError)) throw e;
    // ERR_SMIME_INTERNAL means an exception nobody expected: a bug, whatever the input.
    expect(SMIME_ERROR_CODES).toContain(e.code);
    expect(e.code, e.message).not.toBe('ERR_SMIME_INTERNAL');
    return e.code;
  }
}

const mutation = (len: number) =>
  fc.array(fc.record({ at: fc.nat({ max: len - 1 }), byte: fc.integer({ min: 0, max: 255 }) }), {
    minLength: 1,
    maxLength: 8,
  });

describe('fuzzing verifySmime', () => {
  it('the unmodified messages verify', async () => {
    expect(await outcome(detached)).toBe('ok');
    expect(await outcome(opaque)).toBe('ok');
  });

  it('byte mutations of the MIME text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), mutation(detached.length), async (useOpaque, muts) => {
        const m = Buffer.from(useOpaque ? opaque : detached);
        for (const { at, byte } of muts) m[at % m.length] = byte;
        await outcome(m);
      }),
      { numRuns: 300 },
    );
  });

  it('byte mutations inside the DER (re-encoded, so they reach the ASN.1 parser)', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(opaqueDer.length), async (muts) => {
        const der = Buffer.from(opaqueDer);
        for (const { at, byte } of muts) der[at] = byte;
        await outcome(opaqueHead + der.toString('base64'));
      }),
      { numRuns: 400 },
    );
  });

  it('truncation and raw DER input', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: opaqueDer.length - 1 }), fc.boolean(), async (cut, mime) => {
        if (mime) await outcome(detached.subarray(0, cut % detached.length));
        else expect(await outcome(opaqueDer.subarray(0, cut))).not.toBe('ok');
      }),
      { numRuns: 300 },
    );
  });

  it('shuffled, dropped and duplicated MIME parts', async () => {
    const text = detached.toString('latin1');
    const boundary = /boundary="([^"]+)"/.exec(text)![1];
    const pieces = text.split(`--${boundary}`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: pieces.length - 1 }), { minLength: 0, maxLength: pieces.length + 2 }),
        async (order) => {
          const shuffled = order.map((i) => pieces[i]).join(`--${boundary}`);
          await outcome(shuffled);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('arbitrary input', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
        expect(await outcome(bytes)).not.toBe('ok');
      }),
      { numRuns: 300 },
    );
    // Deep indefinite-length nesting must not overflow the stack.
    const deep = Buffer.concat([Buffer.alloc(20000, 0x30).map((_, i) => (i % 2 ? 0x80 : 0x30))]);
    expect(await outcome(deep)).toBe('ERR_SMIME_MALFORMED');
  });
});

describe('canonicalisation', () => {
  it('equals the OpenSSL rule: every line break CRLF, trailing CRs of a line dropped', async () => {
    const { canonicalize } = await import('../src/mime.js');
    const reference = (s: string) =>
      s
        .split('\n')
        .map((l) => l.replace(/\r+$/, ''))
        .join('\r\n');
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', '\r', '\n', '\r\n', ' ', 'é'), { maxLength: 40 }),
        (parts) => {
          const s = parts.join('');
          expect(Buffer.from(canonicalize(Buffer.from(s, 'utf8'))).toString('utf8')).toBe(reference(s));
        },
      ),
      { numRuns: 500 },
    );
  });
});
