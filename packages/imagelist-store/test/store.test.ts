import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, StoreError, usingStore } from '../src/index.js';
import type { InternalOpenOptions } from '../src/store.js';
import { createTestDatabase, dialects, expectCode, postgresUrl, tempDir, withRawDb } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface ChildRun {
  lines: Record<string, unknown>[];
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs child.mjs; `onLine` sees each JSON line as it arrives. */
function runChild(
  args: string[],
  onLine?: (line: Record<string, unknown>) => void,
  env: Record<string, string> = {},
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        lines.push(line);
        onLine?.(line);
        i = buf.indexOf('\n');
      }
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ lines, code, signal }));
  });
}

async function database(dialect: 'sqlite' | 'postgres') {
  const db = await createTestDatabase(dialect);
  cleanups.push(() => db.dispose());
  return db.url;
}

describe('openStore errors', () => {
  it('rejects bad URLs with ERR_STORE_URL', async () => {
    await expectCode(openStore('mysql://u:p@h/d'), 'ERR_STORE_URL');
    await expectCode(openStore('vmcatcher.db'), 'ERR_STORE_URL');
  });

  it('names a missing database directory', async () => {
    const t = tempDir();
    cleanups.push(() => t.dispose());
    const err = await expectCode(openStore(`sqlite:///${t.dir}/no/such/dir/store.db`), 'ERR_STORE_OPEN');
    expect(err.message).toContain(`${t.dir}/no/such/dir does not exist`);
    expect(existsSync(join(t.dir, 'no'))).toBe(false);
  });

  it('refuses to create a database with mustExist', async () => {
    const t = tempDir();
    cleanups.push(() => t.dispose());
    const err = await expectCode(
      openStore(`sqlite:///${t.dir}/store.db`, { mustExist: true }),
      'ERR_STORE_OPEN',
    );
    expect(err.message).toContain('does not exist');
    expect(existsSync(join(t.dir, 'store.db'))).toBe(false);
    await usingStore(`sqlite:///${t.dir}/store.db`, async () => {});
    await usingStore(`sqlite:///${t.dir}/store.db`, async (s) => expect(s.dialect).toBe('sqlite'), {
      mustExist: true,
    });
  });

  it('creates a new SQLite database private (0600, its WAL files too) and leaves an existing one and the directory as they are', async () => {
    const t = tempDir();
    cleanups.push(() => t.dispose());
    chmodSync(t.dir, 0o755);
    const old = process.umask(0o002);
    try {
      const path = join(t.dir, 'vmcatcher.db');
      await usingStore(`sqlite:///${path}`, async (s) => {
        await s.subscriber.createEndorser('e', [{ subject: '/CN=a', issuer: '/CN=b' }]);
        for (const f of [path, `${path}-wal`, `${path}-shm`]) expect(statSync(f).mode & 0o777).toBe(0o600);
      });
      expect(statSync(t.dir).mode & 0o777).toBe(0o755);
      const shared = join(t.dir, 'shared.db');
      writeFileSync(shared, '');
      chmodSync(shared, 0o640);
      await (await openStore(`sqlite:///${shared}`)).close();
      expect(statSync(shared).mode & 0o777).toBe(0o640);
    } finally {
      process.umask(old);
    }
  });

  it('gives ERR_STORE_OPEN for a read-only database directory or file', async () => {
    const t = tempDir();
    cleanups.push(() => t.dispose());
    const ro = join(t.dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    chmodSync(t.dir, 0o755);
    const roFileDir = join(t.dir, 'rofile');
    mkdirSync(roFileDir, { mode: 0o777 });
    chmodSync(roFileDir, 0o777);
    writeFileSync(join(roFileDir, 'store.db'), '');
    chmodSync(join(roFileDir, 'store.db'), 0o444);
    const script = `
      import { openStore } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const out = [];
      for (const url of process.argv.slice(1)) {
        try { const s = await openStore(url); await s.close(); out.push({ ok: true }); }
        catch (e) { out.push({ code: e.code, message: e.message }); }
      }
      console.log(JSON.stringify(out));`;
    const urls = [`sqlite:///${ro}/store.db`, `sqlite:///${roFileDir}/store.db`];
    // Root writes anywhere, so when the tests run as root the check runs without the capabilities that
    // override file permissions (another user could not read a checkout inside a private directory).
    const argv = ['--input-type=module', '-e', script, ...urls];
    const out =
      process.getuid?.() === 0
        ? execFileSync(
            'setpriv',
            ['--bounding-set', '-dac_override,-dac_read_search,-fowner', '--', process.execPath, ...argv],
            { encoding: 'utf8' },
          )
        : execFileSync(process.execPath, argv, { encoding: 'utf8' });
    const results = JSON.parse(out) as { code?: string; message?: string }[];
    expect(results.map((r) => r.code)).toEqual(['ERR_STORE_OPEN', 'ERR_STORE_OPEN']);
    expect(results[0].message).toMatch(/read-only|writable/);
    expect(existsSync(join(ro, 'store.db'))).toBe(false);
  });

  it('gives ERR_STORE_OPEN for an unreachable PostgreSQL server or a missing database', async () => {
    const err = await expectCode(openStore('postgresql://nobody:pw@127.0.0.1:1/none'), 'ERR_STORE_OPEN');
    expect(err.message).not.toContain('pw@');
    expect(err.url).toBe('postgresql://nobody:***@127.0.0.1:1/none');
    const url = new URL(postgresUrl());
    url.pathname = '/no_such_database_here';
    await expectCode(openStore(url.toString()), 'ERR_STORE_OPEN');
  });

  it('resolves sqlite:///relative.db against the working directory, sqlite://// as absolute', async () => {
    const t = tempDir();
    cleanups.push(() => t.dispose());
    mkdirSync(join(t.dir, 'var', 'lib'), { recursive: true });
    const script = `
      import { usingStore } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      for (const url of process.argv.slice(1)) await usingStore(url, (s) => s.publisher.addImage('x'));`;
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        script,
        'sqlite:///vmcatcher.db',
        'sqlite:///var/lib/rel.db',
        `sqlite:///${t.dir}/abs.db`,
      ],
      { cwd: t.dir },
    );
    for (const f of ['vmcatcher.db', 'var/lib/rel.db', 'abs.db'])
      expect(existsSync(join(t.dir, f)), f).toBe(true);
  });

  it('opens an in-memory SQLite store', async () => {
    await usingStore('sqlite://', async (s) => {
      await s.publisher.addImage('x');
      expect(await s.publisher.listImages()).toEqual(['x']);
    });
  });
});

describe.each(dialects())('store lifecycle on %s', (dialect) => {
  it('usingStore closes the store when the callback throws', async () => {
    const url = await database(dialect);
    let seen: import('../src/index.js').Store | undefined;
    await expect(
      usingStore(url, async (s) => {
        seen = s;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    // A closed kysely instance refuses queries.
    await expect(seen!.publisher.listImages()).rejects.toThrow();
  });

  it('upgrades a store made by an older version, keeping its data', async () => {
    const url = await database(dialect);
    const old = await openStore(url, { migrateUpTo: '0001_initial' } as InternalOpenOptions);
    await old.subscriber.createEndorser('e', [{ subject: '/CN=a', issuer: '/CN=b' }]);
    await withRawDb(url, (db) => expect(sql`select * from sub_failed_event`.execute(db)).rejects.toThrow());
    await old.close();
    const messages: string[] = [];
    const store = await openStore(url, { log: (_l, m) => messages.push(m) });
    try {
      expect(messages).toEqual([
        'migration 0002_failed_events_and_checksums: Success',
        'migration 0003_canonical_dns: Success',
        'migration 0004_leases: Success',
        'migration 0005_list_withdrawal: Success',
        'migration 0006_failed_event_dead_letters: Success',
        'migration 0007_run_history: Success',
        'migration 0008_work_claims: Success',
      ]);
      expect((await store.subscriber.listEndorsers()).map((e) => e.identifier)).toEqual(['e']);
      expect(
        await store.subscriber.recordFailedEvent({ type: 't', payload: {}, error: 'e' }),
      ).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('refuses a store made by a newer version with ERR_STORE_MIGRATION', async () => {
    const url = await database(dialect);
    await (await openStore(url)).close();
    await withRawDb(url, (db) =>
      sql`insert into store_migration (name, timestamp) values ('9999_from_the_future', '2030-01-01')`.execute(
        db,
      ),
    );
    const err = await expectCode(openStore(url), 'ERR_STORE_MIGRATION');
    expect(err.message).toContain('newer version');
  });

  it('hides the password in store.url', async () => {
    const url = await database(dialect);
    await usingStore(url, async (s) => {
      expect(s.url).not.toMatch(/:[^:/@*]+@/);
      expect(s.dialect).toBe(dialect);
    });
  });

  it('migrates safely when several processes open a new store at once', async () => {
    const url = await database(dialect);
    const at = String(Date.now() + 700);
    const runs = await Promise.all([1, 2, 3, 4].map(() => runChild(['open', url, at])));
    for (const r of runs) expect(r.lines).toEqual([{ ok: true, migrated: false }]);
    await withRawDb(url, async (db) => {
      const rows = await sql<{ name: string }>`select name from store_migration order by name`.execute(db);
      expect(rows.rows.map((r) => r.name)).toEqual([
        '0001_initial',
        '0002_failed_events_and_checksums',
        '0003_canonical_dns',
        '0004_leases',
        '0005_list_withdrawal',
        '0006_failed_event_dead_letters',
        '0007_run_history',
        '0008_work_claims',
      ]);
    });
  });

  it('withLock serialises callers in one process and times out with ERR_STORE_LOCKED', async () => {
    const url = await database(dialect);
    await usingStore(url, async (s) => {
      const events: string[] = [];
      const job = (tag: string) =>
        s.withLock('cron', async () => {
          events.push(`${tag}+`);
          await new Promise((r) => setTimeout(r, 60));
          events.push(`${tag}-`);
          return tag;
        });
      expect(await Promise.all([job('a'), job('b'), job('c')])).toEqual(['a', 'b', 'c']);
      for (let i = 0; i < events.length; i += 2)
        expect(events[i].slice(0, -1)).toBe(events[i + 1].slice(0, -1));

      // Other names do not wait.
      let inner = '';
      await s.withLock('one', () =>
        s.withLock('two', async () => {
          inner = 'ran';
        }),
      );
      expect(inner).toBe('ran');

      let release!: () => void;
      const held = s.withLock('busy', () => new Promise<void>((r) => (release = r)));
      await new Promise((r) => setTimeout(r, 50));
      const err = await expectCode(
        s.withLock('busy', async () => 'never', { waitMs: 150 }),
        'ERR_STORE_LOCKED',
      );
      expect(err.lock).toBe('busy');
      release();
      await held;
      expect(await s.withLock('busy', async () => 'free now', { waitMs: 150 })).toBe('free now');
      // The lock is released when the callback throws.
      await expect(s.withLock('busy', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
      expect(await s.withLock('busy', async () => 1, { waitMs: 100 })).toBe(1);
    });
  });

  it('withLock excludes another process, and a crashed holder does not block forever', async () => {
    const url = await database(dialect);
    await usingStore(url, async (s) => {
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = runChild(['hold-lock', url, 'cron', '1500'], (l) => l.locked && locked());
      await isLocked;
      await expectCode(
        s.withLock('cron', async () => 0, { waitMs: 200 }),
        'ERR_STORE_LOCKED',
      );
      expect(await s.withLock('cron', async () => 'mine', { waitMs: 20_000 })).toBe('mine');
      expect((await holder).lines).toEqual([{ locked: true }, { released: true }]);

      // A short lease, so that the crashed holder's goes stale quickly.
      const crashed = await runChild(['crash-in-lock', url, 'cron2'], undefined, { LEASE_MS: '1000' });
      expect(crashed.signal).toBe('SIGKILL');
      expect(crashed.lines).toEqual([{ locked: true }]);
      expect(await s.withLock('cron2', async () => 'taken over', { waitMs: 10_000 })).toBe('taken over');
    });
  });

  it('two processes running the same job under withLock never interleave (no lost updates)', async () => {
    const url = await database(dialect);
    await usingStore(url, (s) => s.publisher.addImageList('counter', { n: '0' }));
    const runs = await Promise.all([
      runChild(['counter', url, 'job', '15', 'lock']),
      runChild(['counter', url, 'job', '15', 'lock']),
    ]);
    for (const r of runs) expect(r.lines).toEqual([{ done: true }]);
    await usingStore(url, async (s) =>
      expect((await s.publisher.getImageList('counter'))?.metadata.n).toBe('30'),
    );
  });
});

describe('StoreError', () => {
  it('carries code, context and cause', () => {
    const cause = new Error('inner');
    const e = new StoreError('ERR_STORE_NOT_FOUND', 'msg', { entity: 'image', key: 'k' }, { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('StoreError');
    expect(e.code).toBe('ERR_STORE_NOT_FOUND');
    expect(e.entity).toBe('image');
    expect(e.key).toBe('k');
    expect(e.cause).toBe(cause);
  });
});
