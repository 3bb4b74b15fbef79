// The global install as an operator does it: every package packed with `pnpm -r pack`, the tarballs installed
// with `npm i -g --prefix P` (npm then lays each package out with its own dependencies beside it, not hoisted),
// and the vmcatcher manual's sequence run with the installed commands on SQLite and on PostgreSQL, a vmcaster
// publication to sftp (ssh2 loads from the installed tree), and the other bins' --help. Nothing here falls
// back to the workspace: the commands run from P/bin in a directory outside the repository.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeListJson,
  makePki,
  makeTempDir,
  opensslVerify,
  removeDir,
  signList,
  startHttpServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const work = makeTempDir('hepix-install-');
const prefix = join(work, 'prefix');
const DAY = 86_400_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an installed command (found on PATH=prefix/bin) with argv, never through a shell. */
function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: options.cwd ?? work,
        env: {
          PATH: `${join(prefix, 'bin')}:${process.env.PATH}`,
          HOME: join(work, 'home'),
          ...options.env,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

async function ok(cmd: string, args: string[], options?: Parameters<typeof run>[2]): Promise<Run> {
  const r = await run(cmd, args, options);
  expect(r.code, `${cmd} ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

/** The workspace packages that are published (private ones are never packed for users). */
function publishedPackages(): string[] {
  return readdirSync(join(root, 'packages'))
    .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
    .map((d) => JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')))
    .filter((p) => !p.private)
    .map((p) => p.name as string);
}

let pki: TestPki;
let server: TestServer;
mkdirSync(join(work, 'home'), { recursive: true });

beforeAll(() => {
  pki = makePki(join(work, 'pki'));
});

afterAll(async () => {
  await server?.close();
  removeDir(work);
});

describe('global install from packed tarballs', () => {
  it('pnpm -r pack, then npm i -g --prefix P of every published tarball', () => {
    const tgz = join(work, 'tgz');
    mkdirSync(tgz);
    execFileSync('pnpm', ['-r', '--silent', 'pack', '--pack-destination', tgz], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const names = publishedPackages();
    const tarballs = names.map((n) => join(tgz, `${n.replace(/^@/, '').replace('/', '-')}-0.0.0.tgz`));
    for (const t of tarballs) expect(existsSync(t), t).toBe(true);
    // In a packed tarball, workspace:* has become the version: nothing points back at the workspace.
    const manifest = execFileSync(
      'tar',
      ['-xOzf', tarballs[names.indexOf('@hepix/vmcatcher-cli')], 'package/package.json'],
      {
        encoding: 'utf8',
      },
    );
    expect(manifest).not.toContain('workspace:');
    execFileSync(
      'npm',
      ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', ...tarballs],
      {
        cwd: work,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, npm_config_nodedir: '/usr' },
      },
    );
    for (const bin of [
      'vmcaster',
      'vmcatcher',
      'vmcatcher_endorser',
      'vmcatcher_subscribe',
      'vmcatcher_image',
      'vmcatcher_cache',
      'vmcatcher_eventHndlExpl',
      'vmmarketplace',
      'vmcatcher-glance',
    ])
      expect(existsSync(join(prefix, 'bin', bin)), bin).toBe(true);
    // Every package is a top-level global package of its own: the store's drivers must be its own dependencies.
    const store = join(prefix, 'lib', 'node_modules', '@hepix', 'imagelist-store');
    expect(existsSync(join(store, 'package.json'))).toBe(true);
  });

  it('vmmarketplace --help and vmcatcher-glance --help', async () => {
    expect((await ok('vmmarketplace', ['--help'])).stdout).toMatch(/^Usage: vmmarketplace <command>/);
    expect((await ok('vmcatcher-glance', ['--help'])).stdout).toMatch(/vmcatcher-glance sync/);
  });
});

describe.each(['sqlite', 'postgres'] as const)(
  'the vmcatcher manual with the installed commands (%s)',
  (dialect) => {
    const site = join(work, `site-${dialect}`);
    const image = randomUUID();
    const listId = randomUUID();
    let db: string;
    let env: NodeJS.ProcessEnv;
    let bytes: Buffer;

    beforeAll(async () => {
      mkdirSync(join(site, 'cache', 'partial'), { recursive: true });
      mkdirSync(join(site, 'cache', 'expired'), { recursive: true });
      if (dialect === 'sqlite') db = `sqlite:///${join(site, 'vmcatcher.db')}`;
      else {
        const admin = process.env.TEST_POSTGRES_URL!;
        const name = `hepix_install_${randomBytes(6).toString('hex')}`;
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`create database ${name}`);
        await c.end();
        const u = new URL(admin);
        u.pathname = `/${name}`;
        db = u.toString();
      }
      server ??= await startHttpServer();
      bytes = randomBytes(256 * 1024);
      server.serve(`/${dialect}/image.img`, bytes);
      const list = makeListJson({
        identifier: listId,
        version: '1',
        created: new Date(Date.now() - DAY),
        expires: new Date(Date.now() + 30 * DAY),
        uri: `${server.url}/${dialect}/image.list`,
        dn: pki.endorser.subject,
        ca: pki.endorser.issuer,
        images: [
          {
            identifier: image,
            uri: `${server.url}/${dialect}/image.img`,
            size: bytes.length,
            sha512: createHash('sha512').update(bytes).digest('hex'),
          },
        ],
      });
      server.serve(`/${dialect}/image.list`, signList(list, pki.endorser));
      env = {
        VMCATCHER_DIR_CERT: pki.certDir,
        VMCATCHER_CACHE_DIR_CACHE: join(site, 'cache'),
        VMCATCHER_CACHE_DIR_DOWNLOAD: join(site, 'cache', 'partial'),
        VMCATCHER_CACHE_DIR_EXPIRE: join(site, 'cache', 'expired'),
      };
    });

    it('endorser --create, subscribe -s, image -a, then the cron job: subscribe -U and cache with the example handler', async () => {
      await ok(
        'vmcatcher_endorser',
        [
          '-d',
          db,
          '--create',
          '--endorser_uuid=Owen Synge',
          `--subject=${pki.endorser.subject}`,
          `--issuer=${pki.endorser.issuer}`,
        ],
        { env },
      );
      await ok('vmcatcher_subscribe', ['-s', `${server.url}/${dialect}/image.list`, '-d', db], { env });
      await ok('vmcatcher_image', ['-d', db, '-a', '-u', image], { env });

      const events = join(site, 'events.log');
      const cron = {
        ...env,
        VMCATCHER_RDBMS: db,
        VMCATCHER_CACHE_EVENT: `vmcatcher_eventHndlExpl --output_file=${events} --datetime`,
      };
      await ok('vmcatcher_subscribe', ['-U'], { env: cron });
      await ok('vmcatcher_cache', [], { env: cron });

      expect(readFileSync(join(site, 'cache', image)).equals(bytes)).toBe(true);
      const fired = readFileSync(events, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, string>);
      expect(fired.map((e) => e.VMCATCHER_EVENT_TYPE)).toEqual([
        'ProcessPrefix',
        'AvailablePrefix',
        'AvailablePostfix',
        'ProcessPostfix',
      ]);
      expect(fired[2].VMCATCHER_EVENT_DC_IDENTIFIER).toBe(image);
      const listed = await ok('vmcatcher_image', ['-l'], { env: cron });
      expect(listed.stdout).toContain(image);
    });
  },
);

describe('vmcaster with the installed command: a publication to sftp', () => {
  it('uploads an image and publishes the signed list to the test sshd (ssh2 loads)', async () => {
    const home = join(work, 'publisher');
    mkdirSync(join(home, '.globus'), { recursive: true });
    copyFileSync(pki.endorser.cert, join(home, '.globus', 'usercert.pem'));
    copyFileSync(pki.endorser.key, join(home, '.globus', 'userkey.pem'));
    const target = join(process.env.TEST_SSH_ROOT!, `install-${randomUUID()}`);
    const publicBase = 'https://images.example.org/';
    writeFileSync(
      join(home, '.vmcaster.cfg'),
      [
        '[sshd]',
        'server = "images.example.org"',
        'protocol = "sftp"',
        `uriMatch = "${publicBase}"`,
        `uriReplace = "${process.env.TEST_SSH_USER}@${process.env.TEST_SSH_HOST}:${target}/"`,
        `port = ${Number(process.env.TEST_SSH_PORT)}`,
        `identityFile = "${process.env.TEST_SSH_KEY}"`,
        `knownHosts = "${process.env.TEST_SSH_KNOWN_HOSTS}"`,
        '',
      ].join('\n'),
    );
    const dn = pki.endorser.subject;
    const list = randomUUID();
    const img = randomUUID();
    const vmcaster = (args: string[]) => ok('vmcaster', args, { cwd: home, env: { HOME: home } });
    await vmcaster(['--add-endorser', dn]);
    await vmcaster([
      '--select-endorser',
      dn,
      '--endorser-key-set',
      'hv:ca',
      '--endorser-value',
      pki.endorser.issuer,
    ]);
    await vmcaster([
      '--select-endorser',
      dn,
      '--endorser-key-set',
      'hv:email',
      '--endorser-value',
      'owen@example.org',
    ]);
    await vmcaster([
      '--select-endorser',
      dn,
      '--endorser-key-set',
      'dc:creator',
      '--endorser-value',
      'Owen Synge',
    ]);
    await vmcaster(['--imagelist-add', list]);
    await vmcaster([
      '--select-imagelist',
      list,
      '--key-set-imagelist',
      'dc:title',
      '--key-value-imagelist',
      'Install test',
    ]);
    await vmcaster([
      '--select-imagelist',
      list,
      '--key-set-imagelist',
      'dc:description',
      '--key-value-imagelist',
      'Published by the install test',
    ]);
    await vmcaster([
      '--select-imagelist',
      list,
      '--key-set-imagelist',
      'hv:uri',
      '--key-value-imagelist',
      `${publicBase}lists/install.list`,
    ]);
    await vmcaster(['--imagelist-add-endorser', '--select-endorser', dn, '--select-imagelist', list]);
    await vmcaster(['--select-image', img, '--add-image']);
    await vmcaster(['--select-imagelist', list, '--select-image', img, '--imagelist-add-image']);
    for (const [k, v] of [
      ['dc:title', 'Install test image'],
      ['dc:description', 'uploaded over sftp'],
      ['sl:arch', 'x86_64'],
      ['sl:os', 'Linux'],
      ['sl:osversion', '1'],
      ['sl:comments', 'install test'],
      ['hv:hypervisor', 'kvm'],
      ['hv:format', 'raw'],
      ['hv:uri', `${publicBase}images/install.raw`],
    ])
      await vmcaster(['--select-image', img, '--key-set-image', k, '--key-value-image', v]);
    const file = join(home, 'install.raw');
    const data = randomBytes(128 * 1024);
    writeFileSync(file, data);
    await vmcaster(['--upload-image', file, '--select-image', img]);
    await vmcaster(['--select-imagelist', list, '--upload-imagelist']);

    try {
      const content = JSON.parse(opensslVerify(join(target, 'lists', 'install.list'), pki.certDir));
      const entry = content['hv:imagelist']['hv:images'][0]['hv:image'];
      expect(entry['dc:identifier']).toBe(img);
      expect(entry['sl:checksum:sha512']).toBe(createHash('sha512').update(data).digest('hex'));
      // vmcaster names each upload by image and time; hv:uri says where it went.
      expect(entry['hv:uri']).toMatch(new RegExp(`^${publicBase}images/${img}_[-0-9_]+\\.raw$`));
      const uploaded = join(target, (entry['hv:uri'] as string).slice(publicBase.length));
      expect(readFileSync(uploaded).equals(data)).toBe(true);
    } finally {
      removeDir(target);
    }
  });
});
