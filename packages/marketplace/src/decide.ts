// Whether a verified list may replace the stored one. The shared rules (identifier, created in the future,
// expired, lower version, rollback) are @hepix/imagelist-client's decideUpdate; the marketplace adds only what
// is its own, as a thin layer on that decision: a list identifier belongs to the endorser who first
// published it, and a new upload must carry a strictly higher hv:version. Pure, tested by a table.
import { decideUpdate, type ListFacts } from '@hepix/imagelist-client';
import { compareVersions } from '@hepix/hepix-imagelist-schema';
import { dnEquals } from '@hepix/smime-x509';
import type { MarketplaceErrorCode } from './errors.js';

/** What is known of a list, stored or uploaded: decideUpdate's facts and the endorser who signed it. */
export interface MarketListFacts extends ListFacts {
  /** Canonical DN of the signer. */
  endorser: string;
}

export type IngestRefusalCode = Extract<
  MarketplaceErrorCode,
  | 'ERR_MARKET_NOT_IMAGELIST'
  | 'ERR_MARKET_EXPIRED'
  | 'ERR_MARKET_CREATED_IN_FUTURE'
  | 'ERR_MARKET_LIST_OWNER'
  | 'ERR_MARKET_NOT_NEWER'
>;

export type IngestDecision =
  | { kind: 'accept'; warnings: string[] }
  | { kind: 'refuse'; code: IngestRefusalCode; message: string };

/**
 * Decides an upload against the stored list (undefined for a new identifier). In order: decideUpdate's date
 * checks, then ownership, then "newer" (decideUpdate's version and rollback rules, and no equal version).
 */
export function decideIngest(
  stored: MarketListFacts | undefined,
  candidate: MarketListFacts,
  options: { referenceTime: Date },
): IngestDecision {
  const id = candidate.identifier;
  const shared = decideUpdate(stored, candidate, { referenceTime: options.referenceTime });
  if (shared.kind === 'refuse') {
    switch (shared.code) {
      case 'ERR_LIST_IDENTIFIER':
        return { kind: 'refuse', code: 'ERR_MARKET_NOT_IMAGELIST', message: shared.message };
      case 'ERR_LIST_CREATED_IN_FUTURE':
        return { kind: 'refuse', code: 'ERR_MARKET_CREATED_IN_FUTURE', message: shared.message };
      case 'ERR_LIST_EXPIRED':
        return { kind: 'refuse', code: 'ERR_MARKET_EXPIRED', message: shared.message };
      default:
        break; // version and rollback refusals come after the ownership check
    }
  }
  // A list identifier belongs to the endorser who first published it: another endorser cannot replace it.
  if (stored && !dnEquals(stored.endorser, candidate.endorser)) {
    return {
      kind: 'refuse',
      code: 'ERR_MARKET_LIST_OWNER',
      message: `list '${id}' is published by '${stored.endorser}', not by '${candidate.endorser}'`,
    };
  }
  if (shared.kind === 'refuse') {
    // ERR_LIST_LOWER_VERSION or ERR_LIST_ROLLBACK: both mean "not newer" to a creator.
    return { kind: 'refuse', code: 'ERR_MARKET_NOT_NEWER', message: shared.message };
  }
  // Strictly higher hv:version: the same version again (same bytes, or a variant re-signed under it) would let
  // anyone replay or swap what subscribers already have.
  if (shared.kind === 'unchanged' || (stored && compareVersions(candidate.version, stored.version) <= 0)) {
    return {
      kind: 'refuse',
      code: 'ERR_MARKET_NOT_NEWER',
      message: `list '${id}' version '${candidate.version}' is not newer than the stored version '${stored?.version}'`,
    };
  }
  return shared;
}
