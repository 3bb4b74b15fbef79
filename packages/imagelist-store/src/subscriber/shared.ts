// Pieces the subscriber aggregates share: row lookups by identifier, list summaries, input checks.
import type { Principal, StoredImageListSummary, TrustAnchorMode } from '../api.js';
import type { Db } from '../context.js';
import { invalid, notFound } from '../errors.js';
import type { SubImagelistTable } from '../schema.js';
import { fromDb, toNum } from '../util.js';

export const TRUST_ANCHORS: readonly TrustAnchorMode[] = ['none', 'browser', 'igtf'];
export const UPDATE_MODES: readonly number[] = [0, 1, 3];

/** Splits `user:password@` out of a URL: the URI is stored without it, the secrets apart. */
export function splitUserInfo(uri: string): { uri: string; username?: string; password?: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@(.*)$/is.exec(uri);
  if (!m) return { uri };
  const [user, ...pass] = m[2].split(':');
  const out: { uri: string; username?: string; password?: string } = { uri: m[1] + m[3] };
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  if (user !== '') out.username = dec(user);
  if (pass.length) out.password = dec(pass.join(':'));
  return out;
}

export type SummaryRow = Pick<
  SubImagelistTable,
  | 'imported'
  | 'created'
  | 'expires'
  | 'version'
  | 'data_hash'
  | 'expired'
  | 'withdrawn'
  | 'withdrawn_code'
  | 'withdrawn_reason'
  | 'signer_subject'
  | 'signer_issuer'
> & { id: number };

export function summary(r: SummaryRow): StoredImageListSummary {
  const s: StoredImageListSummary = {
    id: toNum(r.id),
    imported: fromDb(r.imported),
    created: fromDb(r.created),
    expires: fromDb(r.expires),
    version: r.version,
    dataHash: r.data_hash,
    signer: { subject: r.signer_subject, issuer: r.signer_issuer },
  };
  if (r.expired !== null && r.expired !== undefined) s.expired = fromDb(r.expired);
  if (r.withdrawn !== null && r.withdrawn !== undefined) {
    s.withdrawn = {
      at: fromDb(r.withdrawn),
      code: r.withdrawn_code ?? '',
      reason: r.withdrawn_reason ?? '',
    };
  }
  return s;
}

export function checkPrincipal(p: Principal, what: string): void {
  if (
    !p ||
    typeof p.subject !== 'string' ||
    p.subject.trim() === '' ||
    typeof p.issuer !== 'string' ||
    p.issuer.trim() === ''
  ) {
    throw invalid(`${what} needs a non-empty subject and issuer`, 'principal');
  }
}

export async function subRow(q: Db, identifier: string) {
  return q.selectFrom('sub_subscription').selectAll().where('identifier', '=', identifier).executeTakeFirst();
}

export async function requireSub(q: Db, identifier: string) {
  const row = await subRow(q, identifier);
  if (!row) throw notFound('subscription', identifier);
  return { ...row, id: toNum(row.id) };
}

export async function endorserId(q: Db, identifier: string): Promise<number | undefined> {
  const r = await q
    .selectFrom('sub_endorser')
    .select('id')
    .where('identifier', '=', identifier)
    .executeTakeFirst();
  return r ? toNum(r.id) : undefined;
}
