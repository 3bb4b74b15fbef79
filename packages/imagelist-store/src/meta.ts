// store_meta: small facts about the database itself (the in-place migration of original tables, …).
import type { Db } from './context.js';

export async function readMeta(q: Db, key: string): Promise<string | undefined> {
  const r = await q.selectFrom('store_meta').select('value').where('key', '=', key).executeTakeFirst();
  return r?.value;
}

export async function writeMeta(q: Db, key: string, value: string): Promise<void> {
  const n = await q.updateTable('store_meta').set({ value }).where('key', '=', key).executeTakeFirst();
  if (Number(n.numUpdatedRows) === 0) await q.insertInto('store_meta').values({ key, value }).execute();
}
