// `vmcatcher install-units [--prefix DIR]`: installs the production files shipped in the package's share/ (the
// systemd service and timer, the sysusers.d and tmpfiles.d entries, the logrotate file, and with --cron the cron
// file instead of the timer). An existing file that differs is left alone unless --force.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atomicWriteFile } from '@hepix/common';
import { CliError, type CliIo, processIo, type ToolDefinition } from '../common/context.js';
import { flag, formatHelp, type OptionSpec, parseOptions, str, UsageError } from '../common/options.js';

const OPTIONS: OptionSpec[] = [
  {
    dest: 'prefix',
    long: ['prefix'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Install below DIR instead of / (a package build root, a test root).',
  },
  {
    dest: 'bindir',
    long: ['bindir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Where the vmcatcher tools are, for ExecStart= (default: the first PATH directory holding vmcatcher_subscribe, else /usr/bin).',
  },
  {
    dest: 'cron',
    long: ['cron'],
    kind: 'flag',
    help: 'Install the cron file instead of the systemd service and timer (hosts without systemd).',
  },
  { dest: 'force', long: ['force'], kind: 'flag', help: 'Replace installed files that differ.' },
  { dest: 'help', short: 'h', long: ['help'], kind: 'flag', help: 'Show this help message and exit.' },
];

export const INSTALL_UNITS_TOOL: ToolDefinition = {
  name: 'vmcatcher install-units',
  usage: 'vmcatcher install-units [--prefix DIR] [--bindir DIR] [--cron] [--force]',
  description:
    'Installs the production files of vmcatcher: /etc/systemd/system/vmcatcher.service and vmcatcher.timer (state, cache and log directories created by systemd, sandboxed, the cache run going ahead when a subscription fails), /etc/sysusers.d/vmcatcher.conf (the service user), /etc/tmpfiles.d/vmcatcher.conf (the directories and the events log owned by the service user) and /etc/logrotate.d/vmcatcher, and vmcatcher-cache-worker.service (installed, not enabled: `vmcatcher_cache --worker` for several hosts on one PostgreSQL store); with --cron, /etc/cron.d/vmcatcher instead of the service and timer.',
  options: OPTIONS,
  standalone: true,
  examples: [
    {
      command:
        'vmcatcher install-units && systemd-sysusers && systemd-tmpfiles --create vmcatcher.conf && systemctl daemon-reload && systemctl enable --now vmcatcher.timer',
      text: 'install and start the timer',
    },
    {
      command: 'vmcatcher install-units --prefix "$DESTDIR" --bindir /usr/bin',
      text: 'install into a package build root',
    },
  ],
  exitStatus: [
    [0, 'installed (or already installed as they are)'],
    [1, 'an installed file differs (use --force), or a file cannot be written'],
    [2, 'usage error'],
  ],
};

/** share/ of the package, from src/commands (tests) or from dist/ and dist/bin (the built bins). */
function shareDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'share', 'systemd', 'vmcatcher.service'))) return join(dir, 'share');
    dir = dirname(dir);
  }
  throw new CliError('ERR_CLI_INTERNAL', 'the share/ directory of @hepix/vmcatcher-cli is missing');
}

function defaultBindir(env: NodeJS.ProcessEnv): string {
  for (const d of (env.PATH ?? '').split(delimiter))
    if (d && existsSync(join(d, 'vmcatcher_subscribe'))) return d;
  return '/usr/bin';
}

/** [file in share/, installed path below the prefix]. */
function plan(cron: boolean): [string, string][] {
  const common: [string, string][] = [
    ['sysusers.d/vmcatcher.conf', 'etc/sysusers.d/vmcatcher.conf'],
    ['tmpfiles.d/vmcatcher.conf', 'etc/tmpfiles.d/vmcatcher.conf'],
    ['logrotate.d/vmcatcher', 'etc/logrotate.d/vmcatcher'],
  ];
  return cron
    ? [['cron.d/vmcatcher', 'etc/cron.d/vmcatcher'], ...common]
    : [
        ['systemd/vmcatcher.service', 'etc/systemd/system/vmcatcher.service'],
        ['systemd/vmcatcher.timer', 'etc/systemd/system/vmcatcher.timer'],
        ['systemd/vmcatcher-cache-worker.service', 'etc/systemd/system/vmcatcher-cache-worker.service'],
        ...common,
      ];
}

export async function runInstallUnitsCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  let o: ReturnType<typeof parseOptions>['options'];
  try {
    const parsed = parseOptions(argv, OPTIONS);
    if (parsed.positionals.length) throw new UsageError(`unexpected argument ${parsed.positionals[0]}`);
    o = parsed.options;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`Usage: ${INSTALL_UNITS_TOOL.usage}\n\nvmcatcher install-units: error: ${err.message}\n`);
    return 2;
  }
  if (flag(o, 'help')) {
    io.stdout(
      formatHelp(INSTALL_UNITS_TOOL.usage, INSTALL_UNITS_TOOL.description, OPTIONS, INSTALL_UNITS_TOOL),
    );
    return 0;
  }
  const prefix = str(o, 'prefix') ?? '/';
  const bindir = str(o, 'bindir') ?? defaultBindir(env);
  const share = shareDirectory();
  const files = plan(flag(o, 'cron')).map(([from, to]) => {
    let text = readFileSync(join(share, from), 'utf8');
    if (from.endsWith('.service')) text = text.replace(/^(ExecStart=-?)\/usr\/bin\//gm, `$1${bindir}/`);
    return { to: join(prefix, to), text };
  });
  // Every file is checked before any is written: a refusal leaves the installation as it was.
  const differing = files.filter((f) => existsSync(f.to) && readFileSync(f.to, 'utf8') !== f.text);
  if (differing.length && !flag(o, 'force')) {
    io.stderr(
      `vmcatcher install-units: ${differing.map((f) => f.to).join(', ')} differ from this version's; nothing was installed (--force replaces them)\n`,
    );
    return 1;
  }
  try {
    for (const f of files) {
      await mkdir(dirname(f.to), { recursive: true });
      await atomicWriteFile(f.to, f.text, { mode: 0o644 });
      io.stdout(`${f.to}\n`);
    }
  } catch (err) {
    io.stderr(`vmcatcher install-units: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
