// A site switches from the originals with no change: the same VMCATCHER_RDBMS, the original's tables in it.
// Opening migrates them once (SQLite: after a byte-for-byte copy of the file), leaves them untouched, and keeps
// identifiers, sha512, size, latest list and cache flag, so that the original cache stays valid; or refuses,
// naming the command, when that cannot be done safely.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { importLegacyDb, openStore, type Store } from '../src/index.js';
import { dialects, expectCode, withRawDb } from './helpers.js';
import {
  APPDB,
  DESY,
  DN,
  type Legacy,
  legacyDatabase,
  VMCATCHER_DDL,
  vmcasterDb,
  vmcatcherDb,
} from './legacy-fixtures.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
const track = (db: Legacy): Legacy => {
  cleanups.push(() => db.dispose());
  return db;
};

const VMCATCHER_TABLES = [
  'endorser',
  'endorserPrincible',
  'subscription',
  'subscriptionAuth',
  'ImageDefinition',
  'imageListInstance',
  'ImageInstance',
];

type Rows = Record<string, Record<string, unknown>[]>;

/** Every row of the original tables, for "left as they were" and for comparing what was migrated. */
async function legacyRows(url: string, tables: string[]): Promise<Rows> {
  return withRawDb(url, async (db) => {
    const out: Rows = {};
    for (const t of tables) {
      const r = await db.selectFrom(t).selectAll().orderBy('id').execute();
      out[t] = r.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k.toLowerCase(), v])));
    }
    return out;
  });
}

function copies(path: string): string[] {
  return readdirSync(dirname(path))
    .filter((f) => f.startsWith(`${basename(path)}.orig-`))
    .map((f) => join(dirname(path), f));
}

async function open(url: string, options: Parameters<typeof openStore>[1] = {}) {
  const logs: { level: string; message: string }[] = [];
  const store = await openStore(url, {
    now: () => new Date('2026-05-04T03:02:01Z'),
    log: (level, message) => logs.push({ level, message }),
    ...options,
  });
  cleanups.push(() => store.close());
  return { store, logs };
}

/** What the cache needs to find its entries: per definition, identifier, cache flag and latest instance. */
async function imagesOf(store: Store) {
  return (await store.subscriber.listImages()).map((i) => ({
    identifier: i.identifier,
    subscription: i.subscription,
    cache: i.cache,
    state: i.state,
    sha512: i.latest?.sha512,
    size: i.latest?.size,
    version: i.latest?.version,
  }));
}

describe.each(dialects())('in-place migration of an original database on %s', (dialect) => {
  it('migrates vmcatcher once, keeping the cache-relevant facts; the original tables and file stay as they were', async () => {
    const db = track(await vmcatcherDb(dialect));
    await db.closeWriter();
    const original = db.path ? readFileSync(db.path) : undefined;
    const before = await legacyRows(db.url, VMCATCHER_TABLES);

    const { store, logs } = await open(db.url);
    const m = store.legacyMigration!;
    expect(m).toBeDefined();
    expect(m.tools).toEqual(['vmcatcher']);
    expect(m.vmcatcher).toMatchObject({
      endorsers: 2,
      principals: 2,
      subscriptions: 2,
      imageLists: 2,
      imageInstances: 3,
    });
    expect(m.at).toEqual(new Date('2026-05-04T03:02:01Z'));
    // Said once, as a warning (seen at the default log level), with the copy or the lack of one.
    const said = logs.filter((l) => l.message.startsWith('migrated the original vmcatcher tables'));
    expect(said).toEqual([{ level: 'warn', message: m.message }]);
    if (db.path) {
      expect(m.backup).toBe(`${db.path}.orig-20260504T030201Z`);
      expect(m.message).toContain(`kept as ${m.backup}`);
      expect(copies(db.path)).toEqual([m.backup]);
      expect(readFileSync(m.backup!).equals(original!)).toBe(true);
    } else {
      expect(m.backup).toBeUndefined();
      expect(m.message).toContain('no copy of the database was made (PostgreSQL');
    }

    // Exactly the original's image definitions, instances and latest pointers.
    const legacyDefs = before.ImageDefinition.filter((d) => d.subscription === 5 || d.subscription === 6);
    const instances = new Map(before.ImageInstance.map((i) => [Number(i.id), i]));
    const subs = new Map(before.subscription.map((s) => [Number(s.id), String(s.identifier)]));
    const expected = legacyDefs
      .map((d) => {
        const latest = instances.get(Number(d.latest));
        return {
          identifier: String(d.identifier),
          subscription: subs.get(Number(d.subscription)),
          cache: Number(d.cache) === 1,
          sha512: latest?.sha512,
          size: latest === undefined ? undefined : Number(latest.size),
          version: latest?.version,
        };
      })
      .sort((a, b) => a.identifier.localeCompare(b.identifier));
    expect((await imagesOf(store)).map(({ state: _s, ...rest }) => rest)).toEqual(expected);
    expect((await imagesOf(store)).map((i) => [i.identifier, i.state])).toEqual([
      ['img-1', 3],
      ['img-2', 0],
      ['img-3', 0],
    ]);
    expect((await store.subscriber.getSubscription('sub-A'))?.latest?.version).toBe('2');
    expect((await store.subscriber.listCacheCandidates()).map((c) => c.identifier)).toEqual(['img-1']);
    expect(await store.subscriber.listEndorsers()).toEqual([
      { identifier: 'appdb', principals: [APPDB] },
      { identifier: 'desy', principals: [DESY] },
    ]);
    expect(await legacyRows(db.url, VMCATCHER_TABLES)).toEqual(before);
    await store.close();

    // A second open migrates nothing, copies nothing, says nothing.
    const again = await open(db.url);
    expect(again.store.legacyMigration).toBeUndefined();
    expect(again.logs.filter((l) => l.level === 'warn')).toEqual([]);
    if (db.path) expect(copies(db.path)).toHaveLength(1);
    expect(await again.store.subscriber.listSubscriptions()).toHaveLength(2);
    expect(await legacyRows(db.url, VMCATCHER_TABLES)).toEqual(before);
  });

  it('migrates an older vmcatcher (no trust anchor, credentials or update mode columns)', async () => {
    const ddl = VMCATCHER_DDL.replace(
      / "trustAnchor" INTEGER NOT NULL, "userName" VARCHAR\(200\),\s+password VARCHAR\(200\), "updateMode" INTEGER NOT NULL,/,
      '',
    );
    expect(ddl).not.toContain('updateMode');
    const db = track(await legacyDatabase(dialect, ddl));
    await db.run('insert into endorser (id, identifier) values (?, ?)', [1, 'desy']);
    await db.run('insert into "endorserPrincible" (id, hv_dn, hv_ca, endorser) values (?, ?, ?, ?)', [
      1,
      DESY.subject,
      DESY.issuer,
      1,
    ]);
    await db.run(
      'insert into subscription (id, identifier, description, uri, authorised, imagelist_latest, updated) values (?, ?, ?, ?, ?, ?, ?)',
      [1, 'old-sub', 'old', 'https://example.org/old.list', dialect === 'sqlite' ? 1 : true, null, null],
    );
    await db.closeWriter();
    const { store } = await open(db.url);
    expect(store.legacyMigration?.vmcatcher).toMatchObject({ endorsers: 1, subscriptions: 1 });
    expect(await store.subscriber.getSubscription('old-sub')).toMatchObject({
      uri: 'https://example.org/old.list',
      authorised: true,
      trustAnchor: 'none',
      updateMode: 0,
      hasUsername: false,
    });
  });

  it('migrates vmcaster (publisher) tables the same way', async () => {
    const db = track(await vmcasterDb(dialect));
    await db.closeWriter();
    const { store } = await open(db.url);
    expect(store.legacyMigration?.tools).toEqual(['vmcaster']);
    expect(store.legacyMigration?.vmcaster).toMatchObject({
      endorsers: 1,
      imageLists: 1,
      images: 3,
      bindings: 3,
    });
    expect(await store.publisher.getImageList('list-uuid')).toMatchObject({
      images: ['img-b', 'img-a'],
      endorsers: [DN],
    });
  });

  it("refuses original data beside data of this version's, changing nothing; import-legacy --force then takes the original's", async () => {
    const db = track(await vmcatcherDb(dialect));
    await db.closeWriter();
    // What the earlier, buggy version left behind: its own tables beside the original ones, with data.
    const buggy = await open(db.url, { legacyMigration: 'off' });
    await buggy.store.subscriber.createSubscription({
      identifier: 'typed-again',
      description: '',
      uri: 'file:///x',
    });
    await buggy.store.close();
    const before = await legacyRows(db.url, VMCATCHER_TABLES);

    const err = await expectCode(openStore(db.url), 'ERR_STORE_LEGACY');
    expect(err.message).toContain('and also endorsers and subscriptions in this version');
    expect(err.message).toContain('nothing was changed');
    expect(err.message).toContain(
      `vmcatcher import-legacy -d '${db.url.replace(/:[^:@/]+@/, ':***@')}' --from '`,
    );
    expect(err.message).toContain('--force');
    if (db.path) expect(copies(db.path)).toEqual([]);
    expect(await legacyRows(db.url, VMCATCHER_TABLES)).toEqual(before);
    const look = await open(db.url, { legacyMigration: 'off' });
    expect((await look.store.subscriber.listSubscriptions()).map((s) => s.identifier)).toEqual([
      'typed-again',
    ]);

    // Without --force the import would merge, and refuses on the first conflict… here there is none, so use
    // replace: this version's subscriber data gives way to the original's.
    const r = await importLegacyDb(db.url, look.store, { replace: true });
    expect(r).toMatchObject({ tools: ['vmcatcher'], inPlace: true, vmcatcher: { subscriptions: 2 } });
    expect((await look.store.subscriber.listSubscriptions()).map((s) => s.identifier)).toEqual([
      'sub-A',
      'sub-B',
    ]);
    await look.store.close();

    // Recorded: later opens neither refuse nor migrate again.
    const later = await open(db.url);
    expect(later.store.legacyMigration).toBeUndefined();
    expect(await later.store.subscriber.listSubscriptions()).toHaveLength(2);
    expect(await legacyRows(db.url, VMCATCHER_TABLES)).toEqual(before);
  });

  it('refuses an original schema it cannot read, naming what is missing and the command', async () => {
    const ddl = VMCATCHER_DDL.replace('hv_dn VARCHAR(50) NOT NULL, ', '').replace(', UNIQUE (hv_dn)', '');
    const db = track(await legacyDatabase(dialect, ddl));
    await db.run('insert into endorser (id, identifier) values (?, ?)', [1, 'desy']);
    await db.run('insert into "endorserPrincible" (id, hv_ca, endorser) values (?, ?, ?)', [
      1,
      DESY.issuer,
      1,
    ]);
    await db.closeWriter();
    const before = await legacyRows(db.url, ['endorser', 'endorserPrincible']);
    const err = await expectCode(openStore(db.url), 'ERR_STORE_LEGACY');
    expect(err.message).toContain("cannot read (table 'endorserPrincible' has no column 'hv_dn')");
    expect(err.message).toContain('vmcatcher import-legacy');
    if (db.path) expect(copies(db.path)).toEqual([]);
    expect(await legacyRows(db.url, ['endorser', 'endorserPrincible'])).toEqual(before);
    // Nothing of this version was created either.
    const tables = await withRawDb(db.url, async (k) =>
      (
        await sql<{ name: string }>`${
          dialect === 'sqlite'
            ? sql`select name from sqlite_master where type = 'table'`
            : sql`select table_name as name from information_schema.tables where table_schema = current_schema()`
        }`.execute(k)
      ).rows.map((r) => r.name),
    );
    expect(tables.filter((t) => /^(store|sub|pub)_/.test(t))).toEqual([]);
  });

  it('of several processes opening the original database at once, exactly one migrates', async () => {
    const db = track(await vmcatcherDb(dialect));
    await db.closeWriter();
    const child = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url));
    const at = String(Date.now() + 700);
    const runs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<Record<string, unknown>[]>((resolve, reject) => {
            const p = spawn(process.execPath, [child, 'open', db.url, at], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            p.stdout.on('data', (d) => {
              out += d;
            });
            p.on('error', reject);
            p.on('close', () =>
              resolve(
                out
                  .trim()
                  .split('\n')
                  .filter(Boolean)
                  .map((l) => JSON.parse(l)),
              ),
            );
          }),
      ),
    );
    expect(runs.map((r) => r[0]?.ok), JSON.stringify(runs)).toEqual([true, true, true]);
    expect(runs.filter((r) => r[0]?.migrated === true)).toHaveLength(1);
    const { store } = await open(db.url);
    expect(store.legacyMigration).toBeUndefined();
    expect(await store.subscriber.listSubscriptions()).toHaveLength(2);
    expect(await store.subscriber.listImages()).toHaveLength(3);
  });

  it("legacyMigration: 'off' leaves the original tables alone", async () => {
    const db = track(await vmcatcherDb(dialect));
    await db.closeWriter();
    const { store } = await open(db.url, { legacyMigration: 'off' });
    expect(store.legacyMigration).toBeUndefined();
    expect(await store.subscriber.listSubscriptions()).toEqual([]);
    if (db.path) expect(copies(db.path)).toEqual([]);
  });
});
