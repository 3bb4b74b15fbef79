// Opening a signed list: the only module that imports the list verification (@hepix/imagelist-client).
import { openList as openSignedList } from '@hepix/imagelist-client';
import { canonicalDn, type TrustStore } from '@hepix/smime-x509';
import { MarketplaceError } from './errors.js';

export { compareVersions } from '@hepix/hepix-imagelist-schema';

export type CrlPolicy = 'require' | 'if-present' | 'ignore';

export interface OpenedList {
  /** The signed content (the JSON text). */
  content: Uint8Array;
  /** The signer's certificate subject and issuer, canonical DNs. */
  signer: { subject: string; issuer: string };
  /** The inner `hv:imagelist` object (compatible-mode validated). */
  list: Record<string, unknown>;
  identifier: string;
  version: string;
  created: Date;
  expires: Date;
  uri: string;
  images: Record<string, unknown>[];
  warnings: string[];
}

export interface OpenListOptions {
  trust: TrustStore;
  /** Time at which certificates and CRLs must be valid. */
  at: Date;
  /** Default `require`: every CA of the chain must have a current CRL. */
  crl?: CrlPolicy;
}

/** True when `data` cannot be an S/MIME or PKCS#7 message at all (e.g. the bare JSON of an unsigned list). */
function unsigned(data: Uint8Array): boolean {
  let i = 0;
  while (i < data.length && (data[i] === 0x20 || data[i] === 0x09 || data[i] === 0x0a || data[i] === 0x0d))
    i++;
  if (i < data.length && data[i] === 0xef) i += 3; // a UTF-8 byte order mark
  return i >= data.length || data[i] === 0x7b /* { */ || data[i] === 0x5b /* [ */;
}

function signatureError(cause: unknown, data: Uint8Array): MarketplaceError {
  const inner = (cause as { cause?: { code?: unknown } }).cause;
  const reason = typeof inner?.code === 'string' ? inner.code : undefined;
  if (reason === 'ERR_SMIME_MALFORMED' && unsigned(data)) {
    return new MarketplaceError('ERR_MARKET_NO_SIGNATURE', 'no signature', { reason, cause });
  }
  const why = inner instanceof Error ? inner.message : (cause as Error).message;
  return new MarketplaceError(
    'ERR_MARKET_SIGNATURE',
    `signature not valid${reason ? ` (${reason})` : ''}: ${why}`,
    {
      reason,
      cause,
    },
  );
}

/**
 * Verifies the S/MIME signature against the trust directory (with CRLs), parses and validates the list, and
 * checks that the signer is the list's `hv:endorser` (`hv:dn` and `hv:ca`). Dates are checked by `checkListDates`.
 */
export async function openList(data: Uint8Array, options: OpenListOptions): Promise<OpenedList> {
  let v: Awaited<ReturnType<typeof openSignedList>>;
  try {
    v = await openSignedList(data, { trust: options.trust, at: options.at, crl: options.crl ?? 'require' });
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    const message = (cause as Error).message;
    switch (code) {
      case 'ERR_LIST_SIGNATURE':
        throw signatureError(cause, data);
      case 'ERR_LIST_NOT_JSON':
      case 'ERR_LIST_NOT_IMAGELIST':
        throw new MarketplaceError('ERR_MARKET_NOT_IMAGELIST', message, { reason: code, cause });
      case 'ERR_LIST_SIGNER_MISMATCH':
        throw new MarketplaceError('ERR_MARKET_SIGNER_MISMATCH', message, { reason: code, cause });
      default:
        throw new MarketplaceError('ERR_MARKET_INTERNAL', `verifying the list failed: ${message}`, { cause });
    }
  }
  return {
    content: v.content,
    signer: { subject: canonicalDn(v.signer.subject), issuer: canonicalDn(v.signer.issuer) },
    list: v.list,
    identifier: v.identifier,
    version: v.version,
    created: v.created,
    expires: v.expires,
    uri: v.uri,
    images: v.images,
    warnings: v.warnings,
  };
}

/** Refuses a list created in the future or already expired at `now`. */
export function checkListDates(list: OpenedList, now: Date): void {
  if (now.getTime() < list.created.getTime()) {
    throw new MarketplaceError(
      'ERR_MARKET_CREATED_IN_FUTURE',
      `Image list '${list.identifier}' has an invalid creation date in the future (${list.created.toISOString()})`,
      { list: list.identifier },
    );
  }
  if (now.getTime() > list.expires.getTime()) {
    throw new MarketplaceError(
      'ERR_MARKET_EXPIRED',
      `Image list '${list.identifier}' has expired (${list.expires.toISOString()})`,
      { list: list.identifier },
    );
  }
}
