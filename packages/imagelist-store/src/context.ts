// What every repository module is built from: where its queries go (the store's kysely instance, or one
// transaction), the dialect's SQL pieces, the clock and the logger. A repository built on a transaction's context
// runs its multi-step methods inside that transaction instead of starting its own, which is what makes
// `store.transaction(fn)` atomic across repositories.
import type { Logger } from '@hepix/common';
import type { Kysely, Transaction } from 'kysely';
import type { StoreDialect } from './dialect.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database> | Transaction<Database>;

export interface RepoContext {
  readonly q: Db;
  readonly dialect: StoreDialect;
  readonly now: () => Date;
  readonly log?: Logger;
  /** True when `q` is a transaction. */
  readonly bound: boolean;
  /** Runs `fn` in one transaction: a new one, or the one this context is bound to. */
  tx<T>(fn: (ctx: RepoContext) => Promise<T>): Promise<T>;
}

export function transactionContext(
  trx: Transaction<Database>,
  base: Pick<RepoContext, 'dialect' | 'now' | 'log'>,
): RepoContext {
  const ctx: RepoContext = {
    q: trx,
    dialect: base.dialect,
    now: base.now,
    log: base.log,
    bound: true,
    tx: (fn) => fn(ctx),
  };
  return ctx;
}

export function rootContext(
  db: Kysely<Database>,
  base: Pick<RepoContext, 'dialect' | 'now' | 'log'>,
): RepoContext {
  return {
    q: db,
    dialect: base.dialect,
    now: base.now,
    log: base.log,
    bound: false,
    tx: (fn) => db.transaction().execute((trx) => fn(transactionContext(trx, base))),
  };
}
