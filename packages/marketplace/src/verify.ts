// Opening an uploaded list: @hepix/imagelist-client's openList (signature with CRLs, JSON, schema, signer ==
// hv:endorser), its refusals translated into the marketplace's codes once, here.
import { type CrlPolicy, ListClientError, type OpenedList, openList } from '@hepix/imagelist-client';
import { TrustStore } from '@hepix/smime-x509';
import { MarketplaceError } from './errors.js';

export type { CrlPolicy, OpenedList };

export interface OpenMarketplaceListOptions {
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

function fromListClient(err: ListClientError, data: Uint8Array): MarketplaceError {
  const { message } = err;
  switch (err.code) {
    case 'ERR_LIST_SIGNATURE': {
      const reason = err.smimeCode;
      // A creator who uploads the JSON instead of the signed file is told so, not "malformed S/MIME".
      if (reason === 'ERR_SMIME_MALFORMED' && unsigned(data)) {
        return new MarketplaceError('ERR_MARKET_NO_SIGNATURE', 'no signature', { reason, cause: err });
      }
      const why = err.cause instanceof Error ? err.cause.message : message;
      return new MarketplaceError(
        'ERR_MARKET_SIGNATURE',
        `signature not valid${reason ? ` (${reason})` : ''}: ${why}`,
        {
          ...(reason ? { reason } : {}),
          cause: err,
        },
      );
    }
    case 'ERR_LIST_NOT_JSON':
    case 'ERR_LIST_NOT_IMAGELIST':
      return new MarketplaceError('ERR_MARKET_NOT_IMAGELIST', message, { reason: err.code, cause: err });
    case 'ERR_LIST_SIGNER_MISMATCH':
      return new MarketplaceError('ERR_MARKET_SIGNER_MISMATCH', message, { reason: err.code, cause: err });
    default:
      return new MarketplaceError('ERR_MARKET_INTERNAL', `verifying the list failed: ${message}`, {
        reason: err.code,
        cause: err,
      });
  }
}

/**
 * Verifies the S/MIME signature against the trust directory (with CRLs), parses and validates the list, and
 * checks that the signer is the list's `hv:endorser` (`hv:dn` and `hv:ca`). Dates, versions and ownership are
 * `decideIngest`'s business. Throws MarketplaceError: ERR_MARKET_NO_SIGNATURE, ERR_MARKET_SIGNATURE (the
 * S/MIME code in `reason`), ERR_MARKET_NOT_IMAGELIST, ERR_MARKET_SIGNER_MISMATCH.
 */
export async function openMarketplaceList(
  data: Uint8Array,
  options: OpenMarketplaceListOptions,
): Promise<OpenedList> {
  try {
    return await openList(data, { trust: options.trust, at: options.at, crl: options.crl ?? 'require' });
  } catch (err) {
    if (err instanceof ListClientError) throw fromListClient(err, data);
    throw new MarketplaceError(
      'ERR_MARKET_INTERNAL',
      `verifying the list failed: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** The trust directory (CA certificates, CRLs, namespaces, signing policies); ERR_MARKET_CONFIG when unreadable. */
export async function loadTrustDirectory(certDir: string): Promise<TrustStore> {
  try {
    return await TrustStore.fromDirectory(certDir);
  } catch (cause) {
    throw new MarketplaceError(
      'ERR_MARKET_CONFIG',
      `cannot read the trust directory ${certDir}: ${(cause as Error).message}`,
      { path: certDir, cause },
    );
  }
}
