// What an operator meets first, through the built bins: --version and --help of every bin, the manual pages
// (rendered by man without warnings), the bash completion (loaded in bash and asked through its function), the
// hints after errors, and the production files (systemd-analyze verify, systemd-sysusers and systemd-tmpfiles in
// a scratch root, the example event handler writing the events log as the service user).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_OPTIONS } from '../src/cache/command.js';
import { SUBSCRIBE_OPTIONS } from '../src/commands/subscribe.js';
import { manPages } from '../src/docs/docs.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  man: string[];
  files: string[];
};
const work = mkdtempSync(join(tmpdir(), 'vmcatcher-operator-'));
// The service user of the production test walks through it.
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

function bin(name: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = work) {
  return spawnSync(process.execPath, [join(pkgDir, pkg.bin[name]), ...args], {
    encoding: 'utf8',
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

describe('--version and --help', () => {
  it('every bin prints NAME VERSION', () => {
    for (const name of Object.keys(pkg.bin)) {
      const r = bin(name, ['--version']);
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe(`${name} ${pkg.version}\n`);
    }
  });

  it('every bin and subcommand shows examples and exit statuses', () => {
    const runs: [string, string[]][] = [
      ...Object.keys(pkg.bin).map((n) => [n, ['--help']] as [string, string[]]),
      ['vmcatcher', ['import-legacy', '--help']],
      ['vmcatcher', ['install-units', '--help']],
      ['vmcatcher', ['completion', '--help']],
    ];
    for (const [name, args] of runs) {
      const r = bin(name, args);
      expect(r.status, `${name} ${args.join(' ')}`).toBe(0);
      expect(r.stdout, `${name} ${args.join(' ')}`).toMatch(/\nExamples:\n {2}\S/);
      expect(r.stdout, `${name} ${args.join(' ')}`).toMatch(/\nExit status:\n +0 /);
    }
  });

  it('vmcatcher_cache offers and accepts only its own options', () => {
    const help = bin('vmcatcher_cache', ['--help']).stdout;
    for (const o of CACHE_OPTIONS) expect(help).toContain(`--${o.long[0]}`);
    expect(help).not.toContain('--format=FORMAT');
    expect(help).not.toContain('SMIME');
    expect(help).toContain('--json');
    const r = bin('vmcatcher_cache', ['-f', 'SMIME']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no such option: -f');
  });
});

describe('manual pages', () => {
  it('are generated for every bin and listed in the package', () => {
    const generated = Object.keys(manPages()).sort();
    expect(pkg.man.map((m) => m.replace('./man/', '')).sort()).toEqual(generated);
    for (const name of Object.keys(pkg.bin)) expect(generated).toContain(`${name}.1`);
    expect(pkg.files).toContain('man');
    for (const m of pkg.man) expect(existsSync(join(pkgDir, m)), m).toBe(true);
    // The build wrote what the tables give now.
    for (const [name, text] of Object.entries(manPages()))
      expect(readFileSync(join(pkgDir, 'man', name), 'utf8')).toBe(text);
  });

  it('render with man -l without a warning, with every option of the tables', () => {
    for (const m of pkg.man) {
      const r = spawnSync('man', ['--warnings', '-l', join(pkgDir, m)], {
        encoding: 'utf8',
        env: { ...process.env, MANWIDTH: '200', MAN_KEEP_FORMATTING: '0', LC_ALL: 'C.UTF-8' },
      });
      expect(r.status, m).toBe(0);
      expect(r.stderr, m).toBe('');
      // Bold and underline as overstrikes: keep the letters.
      const text = r.stdout.replace(/.\x08/g, '');
      expect(text, m).toMatch(/^NAME$/m);
      expect(text, m).toMatch(/^EXIT STATUS$/m);
      if (m.endsWith('/vmcatcher_subscribe.1'))
        for (const o of SUBSCRIBE_OPTIONS) expect(text).toContain(`--${o.long[0]}`);
    }
  });
});

describe('shell completion', () => {
  const complete = (script: string, words: string[]) => {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _vmcatcher; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'complete-test',
        script,
        ...words,
      ],
      { encoding: 'utf8', cwd: work },
    );
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).sort();
  };

  it('bash: registered for every bin, completing subcommands, options and their values', () => {
    const r = bin('vmcatcher', ['completion', 'bash']);
    expect(r.status).toBe(0);
    const script = join(work, 'vmcatcher.bash');
    writeFileSync(script, r.stdout);
    const registered = spawnSync('bash', ['-c', `source "$1"; complete -p`, 'x', script], {
      encoding: 'utf8',
    });
    for (const name of Object.keys(pkg.bin))
      expect(registered.stdout).toMatch(new RegExp(`^complete -F _vmcatcher .*\\b${name}\\b`, 'm'));
    expect(complete(script, ['vmcatcher', 'ca'])).toEqual(['cache']);
    expect(complete(script, ['vmcatcher', 'cache', '--no-pr'])).toEqual(['--no-progress']);
    expect(complete(script, ['vmcatcher_cache', '--exp'])).toEqual([
      '--expire',
      '--expired-dir',
      '--expired-keep',
    ]);
    expect(complete(script, ['vmcatcher_subscribe', '--uri-trustanchor-set', ''])).toEqual([
      'browser',
      'igtf',
      'none',
    ]);
    expect(complete(script, ['vmcatcher', 'subscribe', '--log-format', ''])).toEqual(['json', 'text']);
    expect(complete(script, ['vmcatcher', 'completion', ''])).toEqual(['bash', 'zsh']);
    // An option taking a path completes file names.
    writeFileSync(join(work, 'logging-x.conf'), '');
    expect(complete(script, ['vmcatcher_image', '--log-config', 'logging-'])).toEqual(['logging-x.conf']);
    // vmcatcher_cache never offers what it does not accept.
    expect(complete(script, ['vmcatcher_cache', '--form'])).toEqual([]);
  });

  it('zsh: the same script behind bashcompinit; a wrong shell is a usage error', () => {
    const r = bin('vmcatcher', ['completion', 'zsh']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('bashcompinit');
    expect(r.stdout).toContain('complete -F _vmcatcher vmcatcher ');
    expect(bin('vmcatcher', ['completion', 'fish']).status).toBe(2);
  });
});

describe('hints', () => {
  it('a missing trust directory names -c and VMCATCHER_DIR_CERT', () => {
    const r = bin('vmcatcher_subscribe', [
      '-d',
      'sqlite:///hint.db',
      '-U',
      '-c',
      join(work, 'no-such-ca-dir'),
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERROR:main:Certificate directory '.*no-such-ca-dir' does not exist\./);
    expect(r.stderr).toMatch(/ERROR:hint:give the grid CA directory with -c DIR or VMCATCHER_DIR_CERT/);
    const c = bin('vmcatcher_cache', ['-d', 'sqlite:///hint.db', '--cert-dir', join(work, 'none')], {
      VMCATCHER_CACHE_DIR_CACHE: join(work, 'cache'),
    });
    // The cache reaches the missing directory only for an igtf subscription: no hint without one.
    expect(c.stderr).not.toContain('ERROR:hint');
  });

  it('sqlite:///var/… that is relative and missing suggests the four-slash URL', () => {
    // `tmp/…` below the working directory does not exist; /tmp does.
    const url = `sqlite:///tmp/vmcatcher-hint-${process.pid}.db`;
    const r = bin('vmcatcher_subscribe', ['-d', url, '-l']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ERROR:hint:'${url}' is relative to the working directory ${work}`);
    expect(r.stderr).toContain(`use four slashes: sqlite:////tmp/vmcatcher-hint-${process.pid}.db`);
    expect(existsSync(join(work, 'tmp'))).toBe(false);
    // The default, a relative file in the working directory, is no mistake.
    expect(bin('vmcatcher_image', ['-l']).stderr).toBe('');
  });

  it('warns before creating a relative database beside an existing absolute one', async () => {
    const name = `vmcatcher-hint-${process.pid}-exists.db`;
    writeFileSync(join('/tmp', name), '');
    await mkdir(join(work, 'tmp'), { recursive: true });
    try {
      const r = bin('vmcatcher_image', ['-d', `sqlite:///tmp/${name}`, '-l']);
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(
          `WARNING:db:'sqlite:///tmp/${name}' is relative to the working directory .* use four slashes: sqlite:////tmp/${name}`,
        ),
      );
    } finally {
      rmSync(join('/tmp', name), { force: true });
      rmSync(join(work, 'tmp'), { recursive: true, force: true });
    }
  });

  it('--log-format json carries the hint as a record of its own', () => {
    const r = bin('vmcatcher_image', [
      '--log-format',
      'json',
      '-l',
      '--log-config',
      join(work, 'absent.conf'),
    ]);
    const records = r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((x) => x.name)).toEqual(['main', 'hint']);
    expect(records[1]).toMatchObject({ level: 'error', code: 'ERR_CLI_LOG_CONFIG' });
  });
});

describe('production files', () => {
  const root = join(work, 'root');
  const uid = () => {
    const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('vmcatcher:')) as string;
    const [, , u, g] = line.split(':');
    return { uid: Number(u), gid: Number(g) };
  };

  beforeAll(async () => {
    // A scratch root with the system's units (sysinit.target, …) and the tools where ExecStart= names them.
    await mkdir(join(root, 'usr/lib/systemd'), { recursive: true });
    await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    for (const name of Object.keys(pkg.bin))
      writeFileSync(
        join(root, 'usr/bin', name),
        `#!/bin/sh\nexec node ${join(pkgDir, pkg.bin[name])} "$@"\n`,
        {
          mode: 0o755,
        },
      );
    await mkdir(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  });

  it('install-units installs the units; systemd-analyze verify accepts them', () => {
    const r = bin('vmcatcher', ['install-units', '--prefix', root, '--bindir', '/usr/bin']);
    expect(r.status, r.stderr).toBe(0);
    const service = join(root, 'etc/systemd/system/vmcatcher.service');
    const timer = join(root, 'etc/systemd/system/vmcatcher.timer');
    const worker = join(root, 'etc/systemd/system/vmcatcher-cache-worker.service');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      service,
      timer,
      worker,
      join(root, 'etc/sysusers.d/vmcatcher.conf'),
      join(root, 'etc/tmpfiles.d/vmcatcher.conf'),
      join(root, 'etc/logrotate.d/vmcatcher'),
    ]);
    const v = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, service, timer, worker], {
      encoding: 'utf8',
    });
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    expect(readFileSync(worker, 'utf8')).toMatch(/^ExecStart=\/usr\/bin\/vmcatcher_cache --worker$/m);
    const text = readFileSync(service, 'utf8');
    // The cache step runs even when a subscription fails; both tools exist in the root.
    const execs = [...text.matchAll(/^ExecStart=(-?)(\S+)/gm)].map((m) => [m[1], m[2]]);
    expect(execs).toEqual([
      ['-', '/usr/bin/vmcatcher_subscribe'],
      ['', '/usr/bin/vmcatcher_cache'],
    ]);
    for (const [, path] of execs) expect(statSync(join(root, path)).mode & 0o111).not.toBe(0);
    for (const key of [
      'StateDirectory=',
      'CacheDirectory=',
      'LogsDirectory=',
      'ProtectSystem=strict',
      'NoNewPrivileges=true',
      'PrivateTmp=true',
    ])
      expect(text).toContain(key);
  });

  it('refuses to overwrite a changed file without --force, leaving every file as it was', () => {
    const timer = join(root, 'etc/systemd/system/vmcatcher.timer');
    writeFileSync(timer, '# changed by the site\n');
    const before = readdirSync(join(root, 'etc/systemd/system'));
    const r = bin('vmcatcher', ['install-units', '--prefix', root, '--bindir', '/usr/bin', '--cron']);
    // --cron installs the cron file instead of the units: the changed timer is not in its way.
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'etc/cron.d/vmcatcher'), 'utf8')).toMatch(/^PATH=\/usr\/local\/bin:/m);
    const refused = bin('vmcatcher', ['install-units', '--prefix', root, '--bindir', '/usr/bin']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${timer} differ`);
    expect(readFileSync(timer, 'utf8')).toBe('# changed by the site\n');
    expect(readdirSync(join(root, 'etc/systemd/system'))).toEqual(before);
    expect(
      bin('vmcatcher', ['install-units', '--prefix', root, '--bindir', '/usr/bin', '--force']).status,
    ).toBe(0);
    expect(readFileSync(timer, 'utf8')).toContain('OnCalendar=');
  });

  it('sysusers and tmpfiles create the user and an events log the event handler can write as that user', () => {
    const su = spawnSync(
      'systemd-sysusers',
      [`--root=${root}`, join(root, 'etc/sysusers.d/vmcatcher.conf')],
      {
        encoding: 'utf8',
      },
    );
    expect(su.status, su.stderr).toBe(0);
    const { uid: u, gid: g } = uid();
    expect(u).toBeGreaterThan(0);
    const tf = spawnSync(
      'systemd-tmpfiles',
      ['--create', `--root=${root}`, join(root, 'etc/tmpfiles.d/vmcatcher.conf')],
      { encoding: 'utf8' },
    );
    expect(tf.status, tf.stderr).toBe(0);
    const events = join(root, 'var/log/vmcatcher/events.jsonl');
    expect(statSync(events).uid).toBe(u);
    expect(statSync(join(root, 'var/cache/vmcatcher/partial')).uid).toBe(u);
    // The handler as the service user (the documented set-up failed here with EACCES on every event).
    const h = spawnSync(
      'setpriv',
      [
        `--reuid=${u}`,
        `--regid=${g}`,
        '--clear-groups',
        process.execPath,
        join(pkgDir, pkg.bin.vmcatcher_eventHndlExpl),
        `--output_file=${events}`,
      ],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', VMCATCHER_EVENT_TYPE: 'AvailablePostfix' },
        cwd: '/',
      },
    );
    expect(h.stderr).toBe('');
    expect(h.status).toBe(0);
    expect(JSON.parse(readFileSync(events, 'utf8').trim()).VMCATCHER_EVENT_TYPE).toBe('AvailablePostfix');
    // A log it may not write is exit 1 with a message, not a stack trace.
    const denied = spawnSync(
      'setpriv',
      [
        `--reuid=${u}`,
        `--regid=${g}`,
        '--clear-groups',
        process.execPath,
        join(pkgDir, pkg.bin.vmcatcher_eventHndlExpl),
        `--output_file=${join(root, 'etc/passwd')}`,
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, cwd: '/' },
    );
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/^vmcatcher_eventHndlExpl: cannot write .*EACCES/);
  });
});
