// `vmcatcher <subcommand> [options]`: the four legacy tools under one command, with the same options, and the
// migration of an original database (import-legacy).
import { CACHE_TOOL, runCacheCommand } from '../cache/command.js';
import { type CliIo, processIo, type ToolDefinition, VERSION } from '../common/context.js';
import { ENDORSER_TOOL, runEndorserCommand } from './endorser.js';
import { runHistoryCommand } from './history.js';
import { IMAGE_TOOL, runImageCommand } from './image.js';
import { IMPORT_LEGACY_TOOL, runImportLegacyCommand } from './import-legacy.js';
import { INSTALL_UNITS_TOOL, runInstallUnitsCommand } from './install-units.js';
import { runStatusCommand } from './status.js';
import { runSubscribeCommand, SUBSCRIBE_TOOL } from './subscribe.js';

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

/** A subcommand; `tool` (its options, examples, exit statuses) feeds the manual and the shell completion. */
export interface Subcommand {
  run: Runner;
  help: string;
  tool?: ToolDefinition;
}

// Loaded when used: they render every tool's tables (and would make an import cycle if loaded eagerly).
const runCompletion: Runner = async (argv, env, io) =>
  (await import('../docs/docs.js')).runCompletionCommand(argv, env, io);

export const SUBCOMMANDS: Record<string, Subcommand> = {
  endorser: {
    run: runEndorserCommand,
    help: 'endorsers allowed to sign subscriptions (vmcatcher_endorser)',
    tool: ENDORSER_TOOL,
  },
  subscribe: {
    run: runSubscribeCommand,
    help: 'subscriptions and their updates (vmcatcher_subscribe)',
    tool: SUBSCRIBE_TOOL,
  },
  image: { run: runImageCommand, help: 'images and their state (vmcatcher_image)', tool: IMAGE_TOOL },
  cache: {
    run: runCacheCommand,
    help: 'download, verify and expire images, with events (vmcatcher_cache)',
    tool: CACHE_TOOL,
  },
  policy: {
    run: runPolicyCommand,
    help: 'the site policy: check UUID [options] (vmcatcher_image --policy-check -u UUID)',
  },
  'import-legacy': {
    run: runImportLegacyCommand,
    help: 'migrate an original vmcatcher (or vmcaster) database: --from URL [--force]',
    tool: IMPORT_LEGACY_TOOL,
  },
  completion: { run: runCompletion, help: 'print the shell completion script: completion bash|zsh' },
  'install-units': {
    run: runInstallUnitsCommand,
    help: 'install the systemd units, cron, logrotate and tmpfiles.d files: [--prefix DIR]',
    tool: INSTALL_UNITS_TOOL,
  },
  history: { run: runHistoryCommand, help: 'the recorded runs of -U and the cache: [--limit N] [--json]' },
  status: {
    run: runStatusCommand,
    help: 'monitoring probe, exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN: [--warn-expiry=DAYS] [--json]',
  },
};

/** Registers another subcommand (for tools built on this package). */
export function registerSubcommand(name: string, run: Runner, help: string, tool?: ToolDefinition): void {
  SUBCOMMANDS[name] = { run, help, ...(tool ? { tool } : {}) };
}

export const VMCATCHER_EXAMPLES = [
  {
    command: 'vmcatcher subscribe -s https://cernvm.cern.ch/releases/image.list -e',
    text: 'subscribe to a list',
  },
  { command: 'vmcatcher subscribe -U && vmcatcher cache', text: 'update the lists, then the image cache' },
  { command: 'vmcatcher cache --help', text: 'the options of one command' },
  { command: 'source <(vmcatcher completion bash)', text: 'complete the commands and options in bash' },
  { command: 'vmcatcher install-units', text: 'install the systemd timer and the other production files' },
] as const;

export const VMCATCHER_EXIT_STATUSES = [
  [0, 'success'],
  [2, 'usage error: no or an unknown command'],
  ['other', "the command's own statuses (vmcatcher COMMAND --help)"],
] as const;

function usage(): string {
  const lines = ['Usage: vmcatcher <command> [options]', '', 'Commands:'];
  for (const [name, { help }] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(13)} ${help}`);
  lines.push('', "Run 'vmcatcher <command> --help' for the options of a command.", '', 'Examples:');
  for (const e of VMCATCHER_EXAMPLES) lines.push(`  ${e.command}`, `      ${e.text}`);
  lines.push('', 'Exit status:');
  for (const [status, meaning] of VMCATCHER_EXIT_STATUSES)
    lines.push(`  ${String(status).padStart(5)} ${meaning}`);
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
