// Certificate revocation lists, parsed from DER/PEM (never from text output).
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
  type Tlv,
  UNIVERSAL,
} from './der.js';
import { formatOnelineDn, parseDnTlv } from './dn.js';
import { bitString, serialToHex } from './cert.js';
import { SmimeError } from './errors.js';

/** CRL extensions this implementation understands (critical ones outside this list make a CRL unusable). */
const KNOWN_CRL_EXTENSIONS = new Set(['2.5.29.20', '2.5.29.35', '2.5.29.18']);
const KNOWN_ENTRY_EXTENSIONS = new Set(['2.5.29.21', '2.5.29.24']);

export interface CrlModel {
  raw: Uint8Array;
  tbs: Uint8Array;
  sigOid: string;
  sigParams?: Uint8Array;
  signature: Uint8Array;
  issuerRaw: Uint8Array;
  issuer: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** The revokedCertificates element, parsed on first use (see `revokedSerials`). */
  revokedTlv?: Tlv;
  authorityKeyId?: Uint8Array;
  /** Set when the CRL carries a critical extension this implementation does not process. */
  unsupportedCritical?: string;
  /** Where it came from (trust directory file), for messages. */
  source?: string;
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g;

/** Parse every CRL in a PEM bundle, or one DER CRL. Throws ERR_SMIME_CRL_INVALID. */
export function parseCrls(pemOrDer: string | Uint8Array, source?: string): CrlModel[] {
  const ders: Uint8Array[] = [];
  if (typeof pemOrDer !== 'string' && pemOrDer[0] === 0x30) ders.push(pemOrDer);
  else {
    const text = typeof pemOrDer === 'string' ? pemOrDer : Buffer.from(pemOrDer).toString('latin1');
    for (const m of text.matchAll(PEM_CRL))
      ders.push(Buffer.from(m[1].replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  }
  if (ders.length === 0) throw new SmimeError('ERR_SMIME_CRL_INVALID', 'no CRL found', { path: source });
  return ders.map((d) => parseCrl(d, source));
}

const revokedCache = new WeakMap<CrlModel, Set<string>>();

/**
 * Serial numbers (upper-case hex) on the CRL. Parsed lazily: a trust directory holds many large CRLs and
 * only those of the CAs in a path are ever consulted. Throws ERR_SMIME_CRL_INVALID.
 */
export function revokedSerials(m: CrlModel): Set<string> {
  let set = revokedCache.get(m);
  if (set) return set;
  set = new Set();
  const raw = m.raw;
  try {
    if (m.revokedTlv) {
      for (const entry of children(raw, m.revokedTlv)) {
        const e = children(raw, expect(entry, UNIVERSAL, 16, 'revoked entry'));
        set.add(serialToHex(readInteger(raw, e[0])));
        if (e[2]) {
          for (const ext of children(raw, expect(e[2], UNIVERSAL, 16, 'entry extensions'))) {
            const x = children(raw, ext);
            const oid = readOid(raw, x[0]);
            const critical = isTag(x[1], UNIVERSAL, 1) && content(raw, x[1])[0] !== 0;
            if (critical && !KNOWN_ENTRY_EXTENSIONS.has(oid)) m.unsupportedCritical = oid;
          }
        }
      }
    }
  } catch (e) {
    throw new SmimeError(
      'ERR_SMIME_CRL_INVALID',
      `CRL entries could not be parsed${m.source ? `: ${m.source}` : ''}`,
      {
        path: m.source,
        cause: e,
      },
    );
  }
  revokedCache.set(m, set);
  return set;
}

function parseCrl(raw: Uint8Array, source?: string): CrlModel {
  try {
    const root = expect(readTlv(raw, 0), UNIVERSAL, 16, 'CertificateList');
    const [tbsT, algT, sigT] = children(raw, root);
    expect(tbsT, UNIVERSAL, 16, 'TBSCertList');
    const alg = children(raw, expect(algT, UNIVERSAL, 16, 'AlgorithmIdentifier'));
    const f = children(raw, tbsT);
    let i = 0;
    if (isTag(f[0], UNIVERSAL, 2)) i = 1;
    const issuerT = expect(f[i + 1], UNIVERSAL, 16, 'issuer Name');
    const m: CrlModel = {
      raw,
      tbs: raw.subarray(tbsT.start, tbsT.end),
      sigOid: readOid(raw, alg[0]),
      sigParams: alg[1] ? raw.subarray(alg[1].start, alg[1].end) : undefined,
      signature: bitString(raw, sigT),
      issuerRaw: raw.subarray(issuerT.start, issuerT.end),
      issuer: formatOnelineDn(parseDnTlv(raw, issuerT)),
      thisUpdate: readTime(raw, f[i + 2]),
      source,
    };
    let j = i + 3;
    if (f[j] && f[j].cls === UNIVERSAL && (f[j].tagNo === 23 || f[j].tagNo === 24))
      m.nextUpdate = readTime(raw, f[j++]);
    if (isTag(f[j], UNIVERSAL, 16)) m.revokedTlv = f[j++];
    if (isTag(f[j], CONTEXT, 0)) {
      for (const ext of children(raw, expect(children(raw, f[j])[0], UNIVERSAL, 16, 'crlExtensions'))) {
        const x = children(raw, ext);
        const oid = readOid(raw, x[0]);
        const critical = isTag(x[1], UNIVERSAL, 1) && content(raw, x[1])[0] !== 0;
        if (critical && !KNOWN_CRL_EXTENSIONS.has(oid)) m.unsupportedCritical = oid;
        if (oid === '2.5.29.35') {
          const v = content(raw, x[x.length - 1]);
          const kid = children(v, readTlv(v, 0)).find((y) => isTag(y, CONTEXT, 0));
          if (kid) m.authorityKeyId = content(v, kid);
        }
      }
    }
    return m;
  } catch (e) {
    throw new SmimeError('ERR_SMIME_CRL_INVALID', `CRL could not be parsed${source ? `: ${source}` : ''}`, {
      path: source,
      cause: e instanceof SmimeError && e.cause !== undefined ? e.cause : e,
    });
  }
}
