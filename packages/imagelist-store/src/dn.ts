// The store keeps one spelling of every distinguished name: canonicalDn() of @hepix/smime-x509 (the OpenSSL 1.x
// one-line form). Writes and lookups both go through here, so a DN typed in OpenSSL 3's `\/` spelling finds the
// row written from a certificate, and the other way round.
import { canonicalDn } from '@hepix/smime-x509/dn';
import type { Principal } from './api.js';

export { canonicalDn };

export function canonicalPrincipal(p: Principal): Principal {
  return { subject: canonicalDn(p.subject), issuer: canonicalDn(p.issuer) };
}

/** Endorser metadata keys whose values are DNs (the issuer of a publisher's endorser). */
const DN_METADATA_KEYS: ReadonlySet<string> = new Set(['hv:ca']);

/** Metadata with its DN-valued keys in canonical form. */
export function canonicalDnMetadata<M extends Record<string, string>>(metadata: M): M {
  let out: M | undefined;
  for (const k of DN_METADATA_KEYS) {
    const v = metadata[k];
    if (typeof v !== 'string') continue;
    const c = canonicalDn(v);
    if (c !== v) {
      out ??= { ...metadata };
      (out as Record<string, string>)[k] = c;
    }
  }
  return out ?? metadata;
}

export interface CanonicalPlan {
  /** Rows whose key changes spelling. */
  updates: { id: number; from: string; to: string }[];
  /** Rows whose canonical key another (lower id) row already has: merged into that row. */
  merges: { id: number; into: number; from: string; to: string }[];
}

/**
 * For a unique key column: which rows get the canonical spelling and which collapse into another row with the
 * same canonical key (the one with the lowest id is kept, the order the rows were first written).
 */
export function planCanonicalKeys(
  rows: readonly { id: number; key: string }[],
  canonical: (s: string) => string = canonicalDn,
): CanonicalPlan {
  const plan: CanonicalPlan = { updates: [], merges: [] };
  const keeper = new Map<string, number>();
  for (const r of [...rows].sort((a, b) => a.id - b.id)) {
    const to = canonical(r.key);
    const kept = keeper.get(to);
    if (kept !== undefined) {
      plan.merges.push({ id: r.id, into: kept, from: r.key, to });
      continue;
    }
    keeper.set(to, r.id);
    if (to !== r.key) plan.updates.push({ id: r.id, from: r.key, to });
  }
  return plan;
}
