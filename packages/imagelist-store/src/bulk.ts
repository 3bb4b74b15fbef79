// Set-based bulk statements for lists of thousands of images: the whole batch travels as ONE parameter (a
// JSON array on SQLite, read with json_each; typed arrays on PostgreSQL, read with unnest), instead of
// thousands of placeholders that kysely would compile one by one.

import { type RawBuilder, sql } from 'kysely';
import type { DialectName } from './migrations.js';
import type { AnyKysely, AnyTransaction } from './schema.js';

type Q = AnyKysely | AnyTransaction;

export type PgType = 'int4' | 'int8' | 'text';

export interface BulkColumn {
  name: string;
  type: PgType;
}

/** Rows per statement: bounds the size of one parameter. */
const BATCH = 20_000;

/** `(select …)` of the values, for `where col in (…)`. */
export function valuesList<T extends string | number>(
  dialect: DialectName,
  values: readonly T[],
  type: PgType,
): RawBuilder<T> {
  if (dialect === 'sqlite') return sql<T>`(select value from json_each(${JSON.stringify(values)}))`;
  return sql<T>`(select unnest(${sql.val(values)}::${sql.raw(type)}[]))`;
}

function source(
  dialect: DialectName,
  columns: readonly BulkColumn[],
  rows: readonly unknown[][],
): RawBuilder<unknown> {
  if (dialect === 'sqlite') {
    const picks = columns.map((_, i) => sql.raw(`value->>${i}`));
    return sql`select ${sql.join(picks)} from json_each(${JSON.stringify(rows)}) where true order by key`;
  }
  const arrays = columns.map((c, i) => sql`${sql.val(rows.map((r) => r[i] ?? null))}::${sql.raw(c.type)}[]`);
  const names = columns.map((_, i) => sql.raw(`c${i}`));
  return sql`select ${sql.join(names)} from unnest(${sql.join(arrays)}) with ordinality as u(${sql.join(names)}, ord) order by ord`;
}

/** INSERT of many rows, in order; with `returning`, the returned rows of every batch. */
export async function bulkInsert<R = Record<string, unknown>>(
  q: Q,
  dialect: DialectName,
  table: string,
  columns: readonly BulkColumn[],
  rows: readonly unknown[][],
  returning?: readonly string[],
  /** e.g. `on conflict (identifier) do update set …` (trusted text, never user input). */
  onConflict?: string,
): Promise<R[]> {
  const out: R[] = [];
  const cols = sql.join(columns.map((c) => sql.ref(c.name)));
  for (let i = 0; i < rows.length; i += BATCH) {
    const part = rows.slice(i, i + BATCH);
    const ret = returning?.length ? sql` returning ${sql.join(returning.map((r) => sql.ref(r)))}` : sql``;
    const conflict = onConflict ? sql` ${sql.raw(onConflict)}` : sql``;
    const r =
      await sql<R>`insert into ${sql.table(table)} (${cols}) ${source(dialect, columns, part)}${conflict}${ret}`.execute(
        q,
      );
    out.push(...r.rows);
  }
  return out;
}

/** The values in batches, for `in` lookups and deletes. */
export function batches<T>(values: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += BATCH) out.push(values.slice(i, i + BATCH));
  return out;
}
