// The update decision: given what is stored and what was just fetched and opened, accept, keep, or refuse —
// and whether the stored list must stop endorsing its images. A pure function of plain values with a fixed
// reference time, so that every rule is a row in a table test. The checks run in the original vmcatcher's
// order (reference §3.2: identifier 31, created in the future 33, expired 34, authorisation 13, then the
// version rules), with this project's additions marked.
import { compareVersions } from '@hepix/hepix-imagelist-schema';
import type { ListClientErrorCode } from './errors.js';

/** What the decision needs to know about a list. */
export interface ListFacts {
  identifier: string;
  version: string;
  created: Date;
  expires: Date;
  /** sha512 hex of the raw signed bytes. */
  dataHash: string;
}

export interface DecideUpdateOptions {
  /** The time the decision is made for. */
  referenceTime: Date;
  /** The subscription's identifier; the candidate must carry it. */
  expectedIdentifier?: string;
  /** Whether the candidate's signer is authorised for the subscription (default true). */
  authorised?: boolean;
  /** Import even identical bytes (after a change of update mode). */
  force?: boolean;
}

export type RefusalCode = Extract<
  ListClientErrorCode,
  | 'ERR_LIST_IDENTIFIER'
  | 'ERR_LIST_CREATED_IN_FUTURE'
  | 'ERR_LIST_EXPIRED'
  | 'ERR_LIST_NOT_AUTHORISED'
  | 'ERR_LIST_LOWER_VERSION'
  | 'ERR_LIST_ROLLBACK'
>;

export type UpdateDecision =
  /** Same bytes as stored: nothing to import. `retireStored` when the stored list is past its expiry. */
  | { kind: 'unchanged'; retireStored: boolean; reason?: string }
  /** Import the candidate (it replaces the stored list). */
  | { kind: 'accept'; warnings: string[] }
  /** Keep what is stored; `retireStored` when the stored list must no longer make images available. */
  | { kind: 'refuse'; code: RefusalCode; message: string; retireStored: boolean; reason?: string };

function pastExpiry(facts: ListFacts, at: Date): boolean {
  return at.getTime() > facts.expires.getTime();
}

/**
 * True when `candidate` is not older than `stored`: a version at least as high and, for the same version,
 * the same bytes or a creation date not earlier. An old list replayed with the stored version is older.
 */
export function notOlder(candidate: ListFacts, stored: ListFacts): boolean {
  const order = compareVersions(candidate.version, stored.version);
  if (order !== 0) return order > 0;
  return candidate.dataHash === stored.dataHash || candidate.created.getTime() >= stored.created.getTime();
}

/** Decides what an update does with `candidate` (already opened: signature, schema and signer checked). */
export function decideUpdate(
  stored: ListFacts | undefined,
  candidate: ListFacts,
  options: DecideUpdateOptions,
): UpdateDecision {
  const at = options.referenceTime;
  const authorised = options.authorised ?? true;
  // Whatever happens to the candidate, a stored list past its own expiry stops endorsing (fix of §6.7).
  const storedExpired = !!stored && pastExpiry(stored, at);
  const STORED_EXPIRED = 'stored list past its dc:date:expires';
  const refuse = (
    code: RefusalCode,
    message: string,
    retire = storedExpired,
    reason = storedExpired ? STORED_EXPIRED : undefined,
  ): UpdateDecision => ({
    kind: 'refuse',
    code,
    message,
    retireStored: retire,
    ...(retire && reason ? { reason } : {}),
  });

  if (!candidate.identifier) return refuse('ERR_LIST_IDENTIFIER', 'The list has an empty dc:identifier');
  if (options.expectedIdentifier !== undefined && candidate.identifier !== options.expectedIdentifier) {
    return refuse(
      'ERR_LIST_IDENTIFIER',
      `The list's dc:identifier '${candidate.identifier}' does not match the subscription '${options.expectedIdentifier}'`,
    );
  }
  if (at.getTime() < candidate.created.getTime()) {
    return refuse(
      'ERR_LIST_CREATED_IN_FUTURE',
      `Image list '${candidate.identifier}' has an invalid creation date in the future (${candidate.created.toISOString()})`,
    );
  }
  if (pastExpiry(candidate, at)) {
    // An authentic, authorised list that says it has expired also retires what is stored, unless it is older
    // than what is stored: a replayed old list must change nothing (site-safety fix).
    const retire = storedExpired || (!!stored && authorised && notOlder(candidate, stored));
    return refuse(
      'ERR_LIST_EXPIRED',
      `Image list '${candidate.identifier}' has expired (${candidate.expires.toISOString()})`,
      retire,
      storedExpired ? STORED_EXPIRED : 'the endorser published that the list has expired',
    );
  }
  if (!authorised) {
    return refuse(
      'ERR_LIST_NOT_AUTHORISED',
      `The signer is not authorised for image list '${candidate.identifier}'`,
    );
  }
  if (stored && stored.dataHash === candidate.dataHash && !options.force) {
    return storedExpired
      ? { kind: 'unchanged', retireStored: true, reason: STORED_EXPIRED }
      : { kind: 'unchanged', retireStored: false };
  }
  const warnings: string[] = [];
  if (stored && stored.dataHash !== candidate.dataHash) {
    const order = compareVersions(candidate.version, stored.version);
    if (order < 0) {
      return refuse(
        'ERR_LIST_LOWER_VERSION',
        `Image list '${candidate.identifier}' has a lower version number (${candidate.version}) than the stored one (${stored.version})`,
      );
    }
    // New: the originals never compared creation dates, so an old list re-signed with a bumped version, or
    // replayed, was accepted.
    if (candidate.created.getTime() < stored.created.getTime()) {
      return refuse(
        'ERR_LIST_ROLLBACK',
        `Image list '${candidate.identifier}' was created (${candidate.created.toISOString()}) before the stored one (${stored.created.toISOString()}): rollback refused`,
      );
    }
    if (order === 0)
      warnings.push(
        `Image list '${candidate.identifier}' changed without a new version (${candidate.version})`,
      );
  }
  return { kind: 'accept', warnings };
}
