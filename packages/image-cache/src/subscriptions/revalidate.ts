// Trust is withdrawn: a stored list keeps making its images available only while its signer is still
// trusted (not revoked, not expired, its CA still in the trust directory) and still an authorised, linked
// endorser of the subscription. Re-opening a stored list costs milliseconds, so every `-U` (and the cache)
// does it; a list that fails is withdrawn in the store, which nothing but a newer list instance undoes.
import { type LogFields, type Logger, messageOf, noopLogger, withFields } from '@hepix/common';
import { type CrlPolicy, ListClientError, openList } from '@hepix/imagelist-client';
import type { ListWithdrawal, Store, StoredImageList } from '@hepix/imagelist-store';
import type { TrustStore } from '@hepix/smime-x509';

/**
 * S/MIME verdicts that do not say the endorsement is gone, only that it cannot be confirmed now: a CRL that
 * is missing, out of date or unusable (fetch-crl did not run), a clock behind the certificate, a CA accepted
 * only under `--allow-unrestricted-ca` checked by a run without it (a configuration difference between two
 * runs, not news about the endorser), a bug. Withdrawing on these would empty a site's cache for an
 * operational hiccup; the fetched list is refused all the same.
 */
const UNDECIDED_SMIME_CODES: ReadonlySet<string> = new Set([
  'ERR_SMIME_CRL_MISSING',
  'ERR_SMIME_CRL_EXPIRED',
  'ERR_SMIME_CRL_INVALID',
  'ERR_SMIME_CERT_NOT_YET_VALID',
  'ERR_SMIME_UNRESTRICTED_CA',
  'ERR_SMIME_SELF_SIGNED_SIGNER',
  'ERR_SMIME_BAD_KEY',
  'ERR_SMIME_INTERNAL',
]);

/**
 * The stable code a stored list is withdrawn with when re-opening it failed with `err`, or undefined when the
 * failure proves nothing about the list (see UNDECIDED_SMIME_CODES). Signature failures are withdrawn with the
 * S/MIME code (`ERR_SMIME_REVOKED`, `ERR_SMIME_CERT_EXPIRED`, `ERR_SMIME_UNTRUSTED`, …), the rest with the list
 * client's (`ERR_LIST_NOT_AUTHORISED`, …).
 */
export function withdrawalCode(err: unknown): string | undefined {
  if (!(err instanceof ListClientError)) return undefined;
  switch (err.code) {
    case 'ERR_LIST_SIGNATURE':
      if (err.smimeCode === undefined) return err.code;
      return UNDECIDED_SMIME_CODES.has(err.smimeCode) ? undefined : err.smimeCode;
    case 'ERR_LIST_NOT_JSON':
    case 'ERR_LIST_NOT_IMAGELIST':
    case 'ERR_LIST_SIGNER_MISMATCH':
    case 'ERR_LIST_NOT_AUTHORISED':
      return err.code;
    default:
      return undefined;
  }
}

/** What re-validating one stored list found. */
export interface StoredListCheck {
  subscription: string;
  imageListId: number;
  /**
   * `valid`: the signer is still trusted and authorised; `withdrawn`: it is not, and the list was withdrawn now;
   * `undecided`: it could not be decided (a stale CRL, no CA at all in the trust directory): nothing changed.
   */
  outcome: 'valid' | 'withdrawn' | 'undecided';
  /** For `withdrawn`: what the store now says. */
  withdrawal?: ListWithdrawal;
  /** For `withdrawn` and `undecided`: the failure found. */
  error?: Error;
}

export interface RevalidateOptions {
  /** The time certificates and CRLs must be valid at (default now). */
  now?: () => Date;
  /** Default `require`, as for fetched lists. */
  crl?: CrlPolicy;
  log?: Logger;
  /** Only these subscriptions (identifiers); default every subscription. */
  subscriptions?: string[];
}

/**
 * Re-opens one stored list with the trust store as it is now and checks that its signer is still authorised
 * for the subscription; withdraws it in the store when not. Never throws for the list's sake (store failures
 * do propagate).
 */
export async function checkStoredList(
  store: Store,
  trust: TrustStore,
  stored: StoredImageList,
  options: { at: Date; crl?: CrlPolicy; log?: Logger },
): Promise<StoredListCheck> {
  const log = options.log ?? noopLogger;
  const base = { subscription: stored.subscription, imageListId: stored.id };
  if (trust.certificates.length === 0) {
    // An empty or unreadable CA directory is a broken installation, not a withdrawal of every list at once.
    const error = new ListClientError('ERR_LIST_TRUST', 'the trust directory holds no CA certificate');
    log(
      'warn',
      `The stored list of subscription '${stored.subscription}' was not re-validated: ${error.message}`,
    );
    return { ...base, outcome: 'undecided', error };
  }
  let failure: unknown;
  try {
    const opened = await openList(stored.data, { trust, at: options.at, crl: options.crl ?? 'require' });
    if (!(await store.subscriber.isAuthorised(stored.subscription, opened.signer))) {
      failure = new ListClientError(
        'ERR_LIST_NOT_AUTHORISED',
        `its signer '${opened.signer.subject}' (issuer '${opened.signer.issuer}') is no longer an authorised endorser of the subscription`,
      );
    }
  } catch (err) {
    failure = err;
  }
  if (failure === undefined) return { ...base, outcome: 'valid' };
  const error = failure instanceof Error ? failure : new Error(messageOf(failure));
  const code = withdrawalCode(failure);
  if (code === undefined) {
    log(
      'warn',
      `The stored list of subscription '${stored.subscription}' cannot be re-validated now (${messageOf(failure)}); it is kept`,
      codeField(failure),
    );
    return { ...base, outcome: 'undecided', error };
  }
  const withdrawal: ListWithdrawal = { at: options.at, code, reason: messageOf(failure) };
  await store.subscriber.withdrawImageList(stored.id, withdrawal);
  log(
    'warn',
    `Image list of subscription '${stored.subscription}' withdrawn, its images are no longer available: ${withdrawal.reason}`,
    { code },
  );
  return { ...base, outcome: 'withdrawn', withdrawal, error };
}

function codeField(err: unknown): LogFields | undefined {
  const code = err instanceof ListClientError ? (err.smimeCode ?? err.code) : undefined;
  return code === undefined ? undefined : { code };
}

/**
 * Re-validates the latest stored list of every subscription (or of `options.subscriptions`) against `trust` and
 * the endorser links as they are now, and withdraws each one whose signer was revoked, expired, left the trust
 * directory, or is no longer an authorised endorser of the subscription. Lists already withdrawn, marked
 * expired or past their `dc:date:expires` are skipped (they make no image available). For `vmcatcher_cache` on
 * a run without `vmcatcher_subscribe -U`; `-U` does the same for each subscription it updates.
 */
export async function revalidateStoredLists(
  store: Store,
  trust: TrustStore,
  options: RevalidateOptions = {},
): Promise<StoredListCheck[]> {
  const at = (options.now ?? (() => new Date()))();
  const log = options.log ?? noopLogger;
  const wanted = options.subscriptions ? new Set(options.subscriptions) : undefined;
  const out: StoredListCheck[] = [];
  for (const sub of await store.subscriber.listSubscriptions()) {
    if (wanted && !wanted.has(sub.identifier)) continue;
    const latest = sub.latest;
    if (!latest || latest.withdrawn || latest.expired || at.getTime() > latest.expires.getTime()) continue;
    const stored = await store.subscriber.getLatestImageList(sub.identifier);
    if (!stored) continue;
    out.push(
      await checkStoredList(store, trust, stored, {
        at,
        ...(options.crl ? { crl: options.crl } : {}),
        log: withFields(log, { subscription: sub.identifier, uri: sub.uri }),
      }),
    );
  }
  return out;
}
