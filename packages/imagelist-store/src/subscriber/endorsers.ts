// Endorsers and their certificate principals (subject + issuer, canonical DNs). A principal subject belongs to
// one endorser only.
import type { Principal, SubscriberEndorser, SubscriberRepository } from '../api.js';
import type { Db, RepoContext } from '../context.js';
import { canonicalPrincipal } from '../dn.js';
import { conflict, invalid, notFound } from '../errors.js';
import { toNum } from '../util.js';
import { checkPrincipal, endorserId } from './shared.js';

export type EndorserMethods = Pick<
  SubscriberRepository,
  'listEndorsers' | 'getEndorser' | 'createEndorser' | 'deleteEndorser' | 'findEndorserByPrincipal'
>;

export interface EndorserInternals {
  /** An endorser with any number of principals (an original database may have none); returns its row id. */
  insertEndorser(identifier: string, principals: Principal[]): Promise<number>;
  /** Row id of an endorser. */
  endorserId(identifier: string): Promise<number | undefined>;
}

async function endorsers(q: Db, identifier?: string): Promise<SubscriberEndorser[]> {
  let query = q
    .selectFrom('sub_endorser as e')
    .leftJoin('sub_principal as p', 'p.endorser_id', 'e.id')
    .select(['e.identifier', 'p.subject', 'p.issuer'])
    .orderBy('e.identifier')
    .orderBy('p.id');
  if (identifier !== undefined) query = query.where('e.identifier', '=', identifier);
  const out = new Map<string, SubscriberEndorser>();
  for (const r of await query.execute()) {
    let e = out.get(r.identifier);
    if (!e) {
      e = { identifier: r.identifier, principals: [] };
      out.set(r.identifier, e);
    }
    if (r.subject !== null && r.issuer !== null) e.principals.push({ subject: r.subject, issuer: r.issuer });
  }
  return [...out.values()];
}

/** Canonical, without exact repeats; one subject with two issuers is a conflict. */
function normalise(identifier: string, principals: Principal[]): Principal[] {
  const out = new Map<string, Principal>();
  for (const p of principals) {
    checkPrincipal(p, `a principal of endorser '${identifier}'`);
    const c = canonicalPrincipal(p);
    const seen = out.get(c.subject);
    if (seen && seen.issuer !== c.issuer)
      throw conflict(
        'principal',
        c.subject,
        `is given twice for endorser '${identifier}' with different issuers`,
      );
    out.set(c.subject, c);
  }
  return [...out.values()];
}

export function createEndorsers(ctx: RepoContext): EndorserMethods & EndorserInternals {
  async function insert(q: Db, identifier: string, principals: Principal[]): Promise<number> {
    if ((await endorserId(q, identifier)) !== undefined) throw conflict('endorser', identifier);
    for (const p of principals) {
      const taken = await q
        .selectFrom('sub_principal as p')
        .innerJoin('sub_endorser as e', 'e.id', 'p.endorser_id')
        .select('e.identifier')
        .where('p.subject', '=', p.subject)
        .executeTakeFirst();
      if (taken) throw conflict('principal', p.subject, `already belongs to endorser '${taken.identifier}'`);
    }
    const row = await q
      .insertInto('sub_endorser')
      .values({ identifier })
      .returning('id')
      .executeTakeFirstOrThrow();
    const id = toNum(row.id);
    if (principals.length) {
      await q
        .insertInto('sub_principal')
        .values(principals.map((p) => ({ endorser_id: id, subject: p.subject, issuer: p.issuer })))
        .execute();
    }
    return id;
  }

  return {
    listEndorsers: () => endorsers(ctx.q),
    async getEndorser(identifier) {
      return (await endorsers(ctx.q, identifier))[0];
    },
    async createEndorser(identifier, principals) {
      if (typeof identifier !== 'string' || identifier === '')
        throw invalid('an endorser needs an identifier', 'endorser');
      if (!Array.isArray(principals) || principals.length === 0) {
        throw invalid(`endorser '${identifier}' needs at least one principal`, 'endorser', identifier);
      }
      const canonical = normalise(identifier, principals);
      try {
        await ctx.tx((t) => insert(t.q, identifier, canonical));
      } catch (err) {
        if (ctx.dialect.isUniqueViolation(err))
          throw conflict('endorser', identifier, 'or one of its principals already exists');
        throw err;
      }
      return { identifier, principals: canonical };
    },
    async deleteEndorser(identifier) {
      const r = await ctx.q
        .deleteFrom('sub_endorser')
        .where('identifier', '=', identifier)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('endorser', identifier);
    },
    async findEndorserByPrincipal(principal) {
      if (typeof principal?.subject !== 'string' || typeof principal.issuer !== 'string') return undefined;
      const p = canonicalPrincipal(principal);
      const r = await ctx.q
        .selectFrom('sub_principal as p')
        .innerJoin('sub_endorser as e', 'e.id', 'p.endorser_id')
        .select('e.identifier')
        .where('p.subject', '=', p.subject)
        .where('p.issuer', '=', p.issuer)
        .executeTakeFirst();
      return r ? (await endorsers(ctx.q, r.identifier))[0] : undefined;
    },

    async insertEndorser(identifier, principals) {
      if (typeof identifier !== 'string' || identifier === '')
        throw invalid('an endorser needs an identifier', 'endorser');
      const canonical = normalise(identifier, principals);
      return ctx.tx((t) => insert(t.q, identifier, canonical));
    },
    endorserId: (identifier) => endorserId(ctx.q, identifier),
  };
}
