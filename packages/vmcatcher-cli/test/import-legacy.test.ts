// A site switches from the original vmcatcher with no change: the same VMCATCHER_RDBMS (relative, as in the
// README's cron set-up), the original's database in the working directory. The real bins see the original's
// data after the automatic migration, which copies the file aside first and happens once; a database that
// cannot be migrated safely is refused with the command to run, and `vmcatcher import-legacy` runs it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@hepix/imagelist-store';
import { makeListJson, makePki, makeTempDir, signWithOpenssl, type TestPki } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginalVmcatcherDb, type OriginalDb } from './helpers/original-db.js';

const DAY = 86_400_000;
const LIST = '63175437-7d59-4851-b333-c96cb6545a86';
const IMAGES = ['327016b0-6508-41d2-bce0-c1724cb3d3e2', '858a817e-0ca2-473f-89d3-d5bdfc51968e'];
const bin = (name: string) => fileURLToPath(new URL(`../dist/bin/${name}.js`, import.meta.url));

let tmp: string;
let pki: TestPki;
let original: OriginalDb;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cwd: string, tool: string, args: string[], env: Record<string, string> = {}): Run {
  const clean: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: cwd,
    VMCATCHER_DIR_CERT: pki.certDir,
    ...env,
  };
  const r = spawnSync(process.execPath, [bin(tool), ...args], { cwd, env: clean, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function copies(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('vmcatcher.db.orig-'));
}

/** A working directory with the original's vmcatcher.db in it. */
function site(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  makeOriginalVmcatcherDb(join(dir, 'vmcatcher.db'), original);
  return dir;
}

beforeAll(() => {
  tmp = makeTempDir('hepix-import-legacy-');
  pki = makePki(join(tmp, 'pki'));
  const created = new Date(Date.now() - 2 * DAY);
  const expires = new Date(Date.now() + 28 * DAY);
  const uri = 'https://cernvm.cern.ch/releases/image.list';
  const images = IMAGES.map((identifier, i) => ({
    identifier,
    sha512: createHash('sha512').update(identifier).digest('hex'),
    size: 1024 * (i + 1),
    cache: i === 1,
  }));
  const stored = signWithOpenssl(
    makeListJson({
      identifier: LIST,
      version: '1',
      created,
      expires,
      uri,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: images.map(({ identifier, sha512, size }) => ({ identifier, sha512, size })),
    }),
    pki.endorser,
    tmp,
  );
  original = {
    list: LIST,
    uri,
    endorser: { identifier: 'Owen Synge', subject: pki.endorser.subject, issuer: pki.endorser.issuer },
    images,
    stored,
    created,
    expires,
  };
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const ENV = { VMCATCHER_RDBMS: 'sqlite:///vmcatcher.db' };

describe('an original vmcatcher.db under the same VMCATCHER_RDBMS', () => {
  it('is migrated on the first run, once, after a byte-for-byte copy; the bins show the original data', () => {
    const work = site('auto');
    const before = readFileSync(join(work, 'vmcatcher.db'));

    let r = run(work, 'vmcatcher_subscribe', ['-l'], ENV);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${LIST}\tTrue\tIGTF\t${original.uri}\n`);
    const said = r.stderr.split('\n').filter((l) => l.includes('migrated the original vmcatcher tables'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      /^\S+ \S+ WARNING:db:migrated the original vmcatcher tables of sqlite:\/\/\/vmcatcher\.db /,
    );
    expect(said[0]).toContain('1 endorsers, 1 subscriptions, 1 image lists, 2 images');
    const [copy] = copies(work);
    expect(copies(work)).toHaveLength(1);
    expect(copy).toMatch(/^vmcatcher\.db\.orig-\d{8}T\d{6}Z$/);
    expect(said[0]).toContain(`kept as ${join(work, copy)}`);
    expect(readFileSync(join(work, copy)).equals(before)).toBe(true);

    // The image definitions exactly as the original had them: state 2 = available, 3 = also subscribed.
    r = run(work, 'vmcatcher_image', ['-l'], ENV);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([
      `${IMAGES[0]}\t2\t${LIST}`,
      `${IMAGES[1]}\t3\t${LIST}`,
    ]);
    expect(r.stderr).not.toContain('migrated');
    r = run(work, 'vmcatcher_image', ['-i', '-u', IMAGES[1], '--json'], ENV);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(original.images[1].sha512);
    expect(r.stdout).toContain(String(original.images[1].size));

    r = run(work, 'vmcatcher_endorser', ['-l'], ENV);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`'Owen Synge'\t'${pki.endorser.subject}'\t'${pki.endorser.issuer}'\n`);
    expect(r.stderr).not.toContain('migrated');
    expect(copies(work)).toHaveLength(1);
  });

  it('beside data of the earlier version is refused with the command; import-legacy --force then migrates', async () => {
    const work = site('refused');
    // What the earlier version did: its own tables beside the original's, and the user subscribing again.
    const buggy = await openStore(`sqlite:///${join(work, 'vmcatcher.db')}`, { legacyMigration: 'off' });
    await buggy.subscriber.createSubscription({ identifier: LIST, description: 'again', uri: original.uri });
    await buggy.close();

    let r = run(work, 'vmcatcher_subscribe', ['-l'], ENV);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'ERROR:main:sqlite:///vmcatcher.db holds the endorsers and subscriptions of the original vmcatcher',
    );
    expect(r.stderr).toContain(
      "run: vmcatcher import-legacy -d 'sqlite:///vmcatcher.db' --from 'sqlite:///vmcatcher.db' --force",
    );
    r = run(work, 'vmcatcher_cache', [], ENV);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('vmcatcher import-legacy');
    expect(copies(work)).toEqual([]);

    // Without --force the import adds to what is there, and stops at the conflict.
    r = run(work, 'vmcatcher', ['import-legacy', '--from', 'sqlite:///vmcatcher.db'], ENV);
    expect(r.status).toBe(15);
    expect(r.stderr).toContain(`subscription '${LIST}' already exists; nothing was imported. With --force`);

    r = run(
      work,
      'vmcatcher',
      ['import-legacy', '--from', 'sqlite:///vmcatcher.db', '--force', '--json'],
      ENV,
    );
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      from: 'sqlite:///vmcatcher.db',
      database: 'sqlite:///vmcatcher.db',
      inPlace: true,
      replaced: true,
      tools: ['vmcatcher'],
      vmcatcher: { endorsers: 1, subscriptions: 1, imageDefinitions: 2, imageInstances: 2, warnings: [] },
    });

    r = run(work, 'vmcatcher_subscribe', ['-l'], ENV);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${LIST}\tTrue\tIGTF\t${original.uri}\n`);
    expect(r.stderr).toBe('');
    r = run(work, 'vmcatcher_image', ['-l'], ENV);
    expect(r.stdout.trim().split('\n').sort()).toEqual([
      `${IMAGES[0]}\t2\t${LIST}`,
      `${IMAGES[1]}\t3\t${LIST}`,
    ]);
  });

  it('an original schema this version cannot read is refused, naming the command', async () => {
    const work = join(tmp, 'broken');
    mkdirSync(work);
    const Database = (await import('libsql')).default;
    const db = new Database(join(work, 'vmcatcher.db'));
    db.exec(
      'CREATE TABLE endorser (id INTEGER PRIMARY KEY, identifier VARCHAR(50)); CREATE TABLE "endorserPrincible" (id INTEGER PRIMARY KEY, endorser INTEGER); CREATE TABLE subscription (id INTEGER PRIMARY KEY, identifier VARCHAR(50), uri VARCHAR(200));',
    );
    db.prepare("INSERT INTO endorser VALUES (1, 'x')").run();
    db.close();
    const r = run(work, 'vmcatcher_endorser', ['-l'], ENV);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot read (table 'endorserPrincible' has no column 'hv_dn'");
    expect(r.stderr).toContain(
      "run: vmcatcher import-legacy -d 'sqlite:///vmcatcher.db' --from 'sqlite:///vmcatcher.db'",
    );
    expect(copies(work)).toEqual([]);
  });
});

describe('vmcatcher import-legacy', () => {
  it('imports another database into the -d store and prints what it imported', () => {
    const work = site('other');
    const r = run(work, 'vmcatcher', [
      'import-legacy',
      '-d',
      'sqlite:///new.db',
      '--from',
      'sqlite:///vmcatcher.db',
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      'Imported the original vmcatcher tables into sqlite:///new.db:\n' +
        '  vmcatcher: 1 endorsers, 1 principals, 1 subscriptions, 1 links, 1 image lists, 2 image definitions, 2 image instances\n',
    );
    const l = run(work, 'vmcatcher_subscribe', ['-l', '-d', 'sqlite:///new.db']);
    expect(l.stdout).toBe(`${LIST}\tTrue\tIGTF\t${original.uri}\n`);
    // Imported from elsewhere, the original file was not copied or migrated itself.
    expect(copies(work)).toEqual([]);
  });

  it('has --help, is listed by vmcatcher --help, and needs --from', () => {
    const work = join(tmp, 'help');
    mkdirSync(work);
    let r = run(work, 'vmcatcher', ['import-legacy', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('vmcatcher import-legacy --from URL [--force]');
    expect(r.stdout).toContain('--from');
    expect(r.stdout).toContain('--force');
    r = run(work, 'vmcatcher', ['--help']);
    expect(r.stdout).toMatch(/\n {2}import-legacy +migrate an original vmcatcher/);
    r = run(work, 'vmcatcher', ['import-legacy']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--from URL is required');
    expect(readdirSync(work)).toEqual([]);
    r = run(work, 'vmcatcher', ['import-legacy', '-d', 'sqlite:///new.db', '--from', 'sqlite:///missing.db']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot read legacy database sqlite:///missing.db: the file does not exist');
  });
});
