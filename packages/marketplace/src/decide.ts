// Whether a verified list may replace the stored one: a pure decision over plain values, tested by a table.
import { compareVersions } from './verify.js';

export interface StoredListFacts {
  version: string;
  created: Date;
  /** Canonical DN of the endorser that signed the stored list. */
  endorser: string;
}

export interface CandidateListFacts extends StoredListFacts {
  identifier: string;
}

export type IngestDecision =
  | { kind: 'accept' }
  | {
      kind: 'refuse';
      code: 'ERR_MARKET_NOT_NEWER' | 'ERR_MARKET_LIST_OWNER';
      message: string;
    };

export function decideIngest(
  stored: StoredListFacts | undefined,
  candidate: CandidateListFacts,
): IngestDecision {
  if (!stored) return { kind: 'accept' };
  const id = candidate.identifier;
  // A list identifier belongs to the endorser who first published it: another endorser cannot replace it.
  if (stored.endorser !== candidate.endorser) {
    return {
      kind: 'refuse',
      code: 'ERR_MARKET_LIST_OWNER',
      message: `list '${id}' is published by '${stored.endorser}', not by '${candidate.endorser}'`,
    };
  }
  // Strictly higher hv:version: an equal version with other content would let anyone replay a variant.
  if (compareVersions(candidate.version, stored.version) <= 0) {
    return {
      kind: 'refuse',
      code: 'ERR_MARKET_NOT_NEWER',
      message: `list '${id}' version '${candidate.version}' is not newer than the stored version '${stored.version}'`,
    };
  }
  // An older dc:date:created with a higher version is a rollback to an old signature with a forged order.
  if (candidate.created.getTime() < stored.created.getTime()) {
    return {
      kind: 'refuse',
      code: 'ERR_MARKET_NOT_NEWER',
      message: `list '${id}' was created ${candidate.created.toISOString()}, before the stored version (${stored.created.toISOString()})`,
    };
  }
  return { kind: 'accept' };
}
