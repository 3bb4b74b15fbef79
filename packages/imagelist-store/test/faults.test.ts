// A real database failure injected in the middle of a multi-row change (a trigger that raises on one row)
// must leave the store exactly as it was.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ImportPlan, openStore, type Store } from '../src/index.js';
import { createTestDatabase, dialects, expectCode, fakeSha, freshStore, withRawDb } from './helpers.js';

async function failOn(
  store: Store,
  url: string,
  table: string,
  column: string,
  value: string,
): Promise<void> {
  await withRawDb(url, (db) => injectFailure(db, store.dialect, table, column, value));
}

async function injectFailure(
  db: Kysely<Record<string, Record<string, unknown>>>,
  dialect: string,
  table: string,
  column: string,
  value: string,
): Promise<void> {
  if (dialect === 'sqlite') {
    for (const op of ['insert', 'update']) {
      await sql
        .raw(
          `create trigger inject_${op}_${table} before ${op} on ${table} when new.${column} like '%${value}%' begin select raise(abort, 'injected failure'); end`,
        )
        .execute(db);
    }
  } else {
    await sql
      .raw(
        `create or replace function inject_${table}() returns trigger language plpgsql as $$ begin if new.${column} like '%${value}%' then raise exception 'injected failure'; end if; return new; end $$;
         create trigger inject_${table} before insert or update on ${table} for each row execute function inject_${table}()`,
      )
      .execute(db);
  }
}

/** Every row of every store table, for before/after comparisons. */
async function snapshot(url: string): Promise<Record<string, unknown[]>> {
  return withRawDb(url, (db) => rows(db));
}

async function rows(db: Kysely<Record<string, Record<string, unknown>>>): Promise<Record<string, unknown[]>> {
  const tables = [
    'pub_endorser',
    'pub_imagelist',
    'pub_image',
    'pub_imagelist_endorser',
    'pub_imagelist_image',
    'sub_endorser',
    'sub_principal',
    'sub_subscription',
    'sub_credential',
    'sub_link',
    'sub_imagelist',
    'sub_image_definition',
    'sub_image_instance',
  ];
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    const rows = await db.selectFrom(t).selectAll().execute();
    out[t] = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))).sort();
  }
  return out;
}

/** An import plan of one big list whose every image carries the list's version; `replace` always says yes. */
function bigList(version: string, n: number, poison?: number): ImportPlan {
  return {
    list: { identifier: 'big', metadata: { 'dc:title': `big ${version}`, 'hv:version': version } },
    endorsers: [{ dn: '/CN=E', metadata: { 'hv:ca': '/CN=CA' } }],
    images: Array.from({ length: n }, (_, i) => ({
      identifier: `img-${i}`,
      metadata: {
        'hv:version': version,
        'dc:title': i === poison ? 'boom' : `image ${i} v${version}`,
        'hv:size': String(i),
      },
    })),
    replace: () => true,
  };
}

describe.each(dialects())('injected failures on %s', (dialect) => {
  let store: Store;
  let url: string;
  let dispose: () => Promise<void>;
  beforeEach(async () => {
    ({ store, url, dispose } = await freshStore(dialect));
  });
  afterEach(async () => dispose());

  it('a failure in the middle of a new import leaves no partial rows', async () => {
    await failOn(store, url, 'pub_image', 'metadata', 'boom');
    const before = await snapshot(url);
    expect(
      (await expectCode(store.publisher.applyImport(bigList('1', 2500, 1700)), 'ERR_STORE_INTERNAL')).message,
    ).toMatch(/injected failure/);
    expect(await snapshot(url)).toEqual(before);
    expect(await store.publisher.listImages()).toEqual([]);
  });

  it('a failure in the middle of an update leaves the previous version intact', async () => {
    await store.publisher.applyImport(bigList('1', 2000));
    await failOn(store, url, 'pub_image', 'metadata', 'boom');
    const before = await snapshot(url);
    expect(
      (await expectCode(store.publisher.applyImport(bigList('2', 2100, 1999)), 'ERR_STORE_INTERNAL')).message,
    ).toMatch(/injected failure/);
    expect(await snapshot(url)).toEqual(before);
    const out = await store.publisher.getImageListContents('big');
    expect(out?.metadata['hv:version']).toBe('1');
    expect(out?.images.length).toBe(2000);
  });

  it('a failure while recording a fetched list leaves subscription, definitions and pointers as they were', async () => {
    const s = store.subscriber;
    await s.createEndorser('e', [{ subject: '/CN=E', issuer: '/CN=CA' }]);
    await s.createSubscription({
      identifier: 'sub',
      description: '',
      uri: 'file:///l',
      endorser: 'e',
      updateMode: 3,
    });
    const record = (version: string, ids: string[]) => {
      const data = new TextEncoder().encode(`list ${version}`);
      return s.recordImageList('sub', {
        data,
        dataHash: createHash('sha512').update(data).digest('hex'),
        created: new Date('2026-01-01T00:00:00Z'),
        expires: new Date('2099-01-01T00:00:00Z'),
        version,
        signer: { subject: '/CN=E', issuer: '/CN=CA' },
        metadata: {},
        images: ids.map((id) => ({
          identifier: id,
          title: id,
          description: '',
          hypervisor: 'kvm',
          sha512: fakeSha(id),
          uri: `file:///${id}`,
          os: 'Linux',
          osversion: '1',
          arch: 'x86_64',
          version,
          size: 1,
          comments: '',
          image: { 'dc:identifier': id },
        })),
      });
    };
    await record('1', ['a', 'b']);
    await failOn(store, url, 'sub_image_instance', 'identifier', 'boom');
    const before = await snapshot(url);
    const ids = [...Array.from({ length: 600 }, (_, i) => `new-${i}`), 'boom', 'a'];
    expect((await expectCode(record('2', ids), 'ERR_STORE_INTERNAL')).message).toMatch(/injected failure/);
    expect(await snapshot(url)).toEqual(before);
    expect((await s.getLatestImageList('sub'))?.version).toBe('1');
    expect((await s.listImages()).map((i) => [i.identifier, i.state])).toEqual([
      ['a', 3],
      ['b', 3],
    ]);
  });

  it('a failure while creating a subscription leaves nothing behind', async () => {
    await failOn(store, url, 'sub_image_definition', 'identifier', 'boom');
    const before = await snapshot(url);
    expect(
      (
        await expectCode(
          store.subscriber.createSubscription({
            identifier: 'sub',
            description: '',
            uri: 'https://u:p@example.org/l',
            images: [
              { identifier: 'ok', cache: true },
              { identifier: 'boom', cache: false },
            ],
          }),
          'ERR_STORE_INTERNAL',
        )
      ).message,
    ).toMatch(/injected failure/);
    expect(await snapshot(url)).toEqual(before);
  });
});

describe.each(dialects())('a process killed during an import on %s', (dialect) => {
  it('leaves either the whole list or nothing', async () => {
    const db = await createTestDatabase(dialect);
    try {
      // Create the schema first, so the child spends its time in the import itself.
      await (await openStore(db.url)).close();
      const child = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url));
      const n = 20_000;
      const p = spawn(process.execPath, [child, 'import-forever', db.url, String(n)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
      // The child imports one version after another; kill it at some point in the middle of one.
      await new Promise((r) => setTimeout(r, 700));
      p.kill('SIGKILL');
      await new Promise((r) => p.once('close', r));
      const store = await openStore(db.url);
      try {
        const list = await store.publisher.getImageList('killed');
        if (list) {
          expect(list.images).toHaveLength(n);
          const versions = new Set(
            (await store.publisher.getImageListContents('killed'))?.images.map(
              (i) => i.metadata['hv:version'],
            ),
          );
          // Every image carries the version of one complete import.
          expect(versions).toEqual(new Set([list.metadata['hv:version']]));
        } else {
          expect(await store.publisher.listImages()).toEqual([]);
        }
      } finally {
        await store.close();
      }
    } finally {
      await db.dispose();
    }
  });
});
