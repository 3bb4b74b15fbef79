// Opening a database that still holds the original vmcatcher/vmcaster tables (the cron set-up of the originals'
// README, unchanged, with this version installed): migrate them once, in one transaction, after copying an SQLite
// file aside; or refuse, naming the command, when that cannot be done safely. A program never runs on an empty
// view of an old database.
import type { LegacyMigration } from '../api.js';
import type { Db } from '../context.js';
import type { StoreDialect } from '../dialect.js';
import { StoreError } from '../errors.js';
import { readMeta, writeMeta } from '../meta.js';
import type { Database } from '../schema.js';
import type { StoreInternals } from '../store.js';
import {
  backupSuffix,
  describeLegacySchema,
  importCommand,
  LEGACY_MARKER_KEY,
  type LegacyMarker,
  type LegacyPlan,
  type LegacyTool,
  planLegacyMigration,
} from './schema.js';
import { type LegacySource, sourceOver } from './source.js';
import { importVmcaster } from './vmcaster.js';
import { importVmcatcher } from './vmcatcher.js';
import type { Kysely } from 'kysely';

async function hasRows(q: Db, tables: Set<string>, names: readonly (keyof Database)[]): Promise<boolean> {
  for (const t of names) {
    if (!tables.has(t)) continue;
    if (
      await q
        .selectFrom(t)
        .select('id' as never)
        .limit(1)
        .executeTakeFirst()
    )
      return true;
  }
  return false;
}

/** Row counts of the original tables of the given tools. */
export async function legacyCounts(
  src: LegacySource,
  tools: readonly LegacyTool[],
): Promise<Record<string, number>> {
  const schema = describeLegacySchema(src.tables);
  const counts: Record<string, number> = {};
  for (const tool of tools) {
    for (const table of schema[tool]?.present.values() ?? []) counts[table] = await src.count(table);
  }
  return counts;
}

function parseMarker(text: string | undefined): LegacyMarker | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as LegacyMarker;
  } catch {
    return { at: 'an unknown date', tools: [], counts: {} };
  }
}

/** The read-only look at a database on open; undefined when it holds no original tables (the usual case). */
export async function inspectLegacy(
  db: Kysely<Database>,
  dialect: StoreDialect,
  now: () => Date,
): Promise<{ plan: LegacyPlan; suffix: string } | undefined> {
  const tables = await dialect.listTables(db);
  const schema = describeLegacySchema(tables);
  const tools = Object.keys(schema) as LegacyTool[];
  if (!tools.length) return undefined;
  const src = await sourceOver(db, dialect, dialect.url);
  const names = new Set(tables.map((t) => t.name));
  const marker = names.has('store_meta') ? parseMarker(await readMeta(db, LEGACY_MARKER_KEY)) : undefined;
  const plan = planLegacyMigration({
    url: dialect.url,
    schema,
    counts: await legacyCounts(src, tools),
    marker,
    storeHasData: {
      subscriber: await hasRows(db, names, ['sub_endorser', 'sub_subscription']),
      publisher: await hasRows(db, names, ['pub_endorser', 'pub_imagelist', 'pub_image']),
    },
  });
  return { plan, suffix: backupSuffix(now()) };
}

function describe(m: Omit<LegacyMigration, 'message'>, url: string): string {
  const parts: string[] = [];
  if (m.vmcatcher) {
    const r = m.vmcatcher;
    parts.push(
      `vmcatcher: ${r.endorsers} endorsers, ${r.subscriptions} subscriptions, ${r.imageLists} image lists, ${r.imageDefinitions} images`,
    );
  }
  if (m.vmcaster) {
    const r = m.vmcaster;
    parts.push(`vmcaster: ${r.endorsers} endorsers, ${r.imageLists} image lists, ${r.images} images`);
  }
  const skipped = (m.vmcatcher?.warnings.length ?? 0) + (m.vmcaster?.warnings.length ?? 0);
  const where = m.backup
    ? `the file as it was before is kept as ${m.backup}`
    : 'no copy of the database was made (PostgreSQL: back it up with pg_dump before upgrading)';
  return `migrated the original ${m.tools.join(' and ')} tables of ${url} into this version's tables (${parts.join('; ')}${skipped ? `; ${skipped} rows skipped, see the warnings` : ''}); the original tables are left as they were, and ${where}`;
}

/**
 * The migration itself: one transaction under a lock, so that of several processes opening the database at once
 * exactly one migrates. Returns undefined when another process did it first.
 */
export async function migrateLegacyInPlace(
  store: StoreInternals,
  tools: readonly LegacyTool[],
  backup: string | undefined,
): Promise<LegacyMigration | undefined> {
  const url = store.dialect.url;
  const log = store.log;
  let done: LegacyMigration | undefined;
  try {
    done = await store.withLock('store:legacy-migration', () =>
      store.run(async ({ ctx, subscriber, publisher }) => {
        if (await readMeta(ctx.q, LEGACY_MARKER_KEY)) return undefined;
        const src = await sourceOver(ctx.q, ctx.dialect, url);
        const at = store.now();
        const m: Omit<LegacyMigration, 'message'> = { tools: [...tools], at };
        if (backup) m.backup = backup;
        if (tools.includes('vmcatcher')) {
          if (await subscriber.hasData()) throw refuse(url, 'vmcatcher');
          m.vmcatcher = await importVmcatcher(src, subscriber);
        }
        if (tools.includes('vmcaster')) {
          if (await publisher.hasData()) throw refuse(url, 'vmcaster');
          m.vmcaster = await importVmcaster(src, publisher);
        }
        const marker: LegacyMarker = {
          at: at.toISOString(),
          tools: [...tools],
          counts: await legacyCounts(src, tools),
        };
        if (backup) marker.backup = backup;
        await writeMeta(ctx.q, LEGACY_MARKER_KEY, JSON.stringify(marker));
        return { ...m, message: describe(m, url) };
      }),
    );
  } catch (err) {
    if (err instanceof StoreError && err.code === 'ERR_STORE_LEGACY') throw err;
    throw new StoreError(
      'ERR_STORE_LEGACY',
      `migrating the original ${tools.join(' and ')} tables of ${url} failed: ${(err as Error).message}; nothing was changed${backup ? ` (a copy of the file is in ${backup})` : ''}. Run: ${importCommand(url, false)}`,
      { url },
      { cause: err },
    );
  }
  if (done) {
    log?.('warn', done.message, { name: 'db' });
    for (const w of [...(done.vmcatcher?.warnings ?? []), ...(done.vmcaster?.warnings ?? [])])
      log?.('warn', `legacy migration: ${w}`, { name: 'db' });
  }
  return done;
}

function refuse(url: string, tool: LegacyTool): StoreError {
  const what = tool === 'vmcatcher' ? 'endorsers and subscriptions' : 'endorsers, image lists and images';
  return new StoreError(
    'ERR_STORE_LEGACY',
    `${url}: this version's ${what} were written while the original ${tool} tables were being migrated; nothing was changed. Run: ${importCommand(url, true)}`,
    { url },
  );
}
