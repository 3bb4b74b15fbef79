// `vmcatcher <subcommand> [options]`: the four legacy tools under one command, with the same options, and the
// migration of an original database (import-legacy).
import { runCacheCommand } from '../cache/command.js';
import { type CliIo, processIo, VERSION } from '../common/context.js';
import { runEndorserCommand } from './endorser.js';
import { runHistoryCommand } from './history.js';
import { runImageCommand } from './image.js';
import { runImportLegacyCommand } from './import-legacy.js';
import { runStatusCommand } from './status.js';
import { runSubscribeCommand } from './subscribe.js';

type Runner = (argv: string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>;

/** `vmcatcher policy check UUID [options]`: vmcatcher_image --policy-check -u UUID [options]. */
function runPolicyCommand(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const [verb, uuid, ...rest] = argv;
  if (verb === 'check') {
    const args = uuid !== undefined && !uuid.startsWith('-') ? ['-u', uuid, ...rest] : argv.slice(1);
    return runImageCommand(['--policy-check', ...args], env, io);
  }
  if (verb === '-h' || verb === '--help') return runImageCommand(['--help'], env, io);
  io.stderr(`vmcatcher policy: unknown action '${verb}'; use: vmcatcher policy check UUID [options]\n`);
  return Promise.resolve(2);
}

const SUBCOMMANDS: Record<string, { run: Runner; help: string }> = {
  endorser: { run: runEndorserCommand, help: 'endorsers allowed to sign subscriptions (vmcatcher_endorser)' },
  subscribe: { run: runSubscribeCommand, help: 'subscriptions and their updates (vmcatcher_subscribe)' },
  image: { run: runImageCommand, help: 'images and their state (vmcatcher_image)' },
  cache: { run: runCacheCommand, help: 'download, verify and expire images, with events (vmcatcher_cache)' },
  policy: {
    run: runPolicyCommand,
    help: 'the site policy: check UUID [options] (vmcatcher_image --policy-check -u UUID)',
  },
  'import-legacy': {
    run: runImportLegacyCommand,
    help: 'migrate an original vmcatcher (or vmcaster) database: --from URL [--force]',
  },
  history: { run: runHistoryCommand, help: 'the recorded runs of -U and the cache: [--limit N] [--json]' },
  status: {
    run: runStatusCommand,
    help: 'monitoring probe, exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN: [--warn-expiry=DAYS] [--json]',
  },
};

/** Registers another subcommand (for tools built on this package). */
export function registerSubcommand(name: string, run: Runner, help: string): void {
  SUBCOMMANDS[name] = { run, help };
}

function usage(): string {
  const lines = ['Usage: vmcatcher <command> [options]', '', 'Commands:'];
  for (const [name, { help }] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(13)} ${help}`);
  lines.push('', "Run 'vmcatcher <command> --help' for the options of a command.");
  return `${lines.join('\n')}\n`;
}

export async function runVmcatcher(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    io.stdout(usage());
    return name ? 0 : 2;
  }
  if (name === '--version') {
    io.stdout(`vmcatcher ${VERSION}\n`);
    return 0;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) {
    io.stderr(`vmcatcher: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  return sub.run(rest, env, io);
}
