// Set-based bulk statements for lists of thousands of images: the whole batch travels as ONE parameter (the
// dialect's rowsSource: a JSON array on SQLite, typed arrays on PostgreSQL), instead of thousands of
// placeholders that kysely would compile one by one.
import { chunks } from '@hepix/common';
import { sql } from 'kysely';
import type { BulkColumn, DialectSql } from './dialect.js';
import type { AnyKysely, AnyTransaction } from './schema.js';

type Q = AnyKysely | AnyTransaction;

/** Rows per statement: bounds the size of one parameter. */
const BATCH = 20_000;

/** INSERT of many rows, in order; with `returning`, the returned rows of every batch. */
export async function bulkInsert<R = Record<string, unknown>>(
  q: Q,
  dialect: DialectSql,
  table: string,
  columns: readonly BulkColumn[],
  rows: readonly unknown[][],
  returning?: readonly string[],
  /** e.g. `on conflict (identifier) do update set …` (trusted text, never user input). */
  onConflict?: string,
): Promise<R[]> {
  const out: R[] = [];
  const cols = sql.join(columns.map((c) => sql.ref(c.name)));
  for (const part of chunks(rows, BATCH)) {
    const ret = returning?.length ? sql` returning ${sql.join(returning.map((r) => sql.ref(r)))}` : sql``;
    const conflict = onConflict ? sql` ${sql.raw(onConflict)}` : sql``;
    const r =
      await sql<R>`insert into ${sql.table(table)} (${cols}) ${dialect.rowsSource(columns, part)}${conflict}${ret}`.execute(
        q,
      );
    out.push(...r.rows);
  }
  return out;
}

/** The values in batches, for `in` lookups and deletes. */
export function batches<T>(values: readonly T[]): T[][] {
  return chunks(values, BATCH);
}
