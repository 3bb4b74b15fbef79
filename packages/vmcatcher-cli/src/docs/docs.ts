// The manual pages and the shell completion of every vmcatcher bin, generated from the same tool definitions
// (option tables, examples, exit statuses) that the parsers and --help use: a subcommand registered with a tool
// (SUBCOMMANDS) gets its page and its completion without anything written here.
import {
  type CompletionCommand,
  type ManPage,
  renderBashCompletion,
  renderManPage,
  renderZshCompletion,
} from '@hepix/common';
import { EVENT_HANDLER_TOOL } from '../cache/event-handler-example.js';
import { SUBCOMMANDS, VMCATCHER_EXAMPLES, VMCATCHER_EXIT_STATUSES } from '../commands/dispatch.js';
import { type CliIo, processIo, type ToolDefinition, toolOptions, VERSION } from '../common/context.js';
import type { OptionSpec } from '../common/options.js';

const ENVIRONMENT = [
  'VMCATCHER_RDBMS: the database URL (-d). sqlite:///rel.db is relative to the working directory, sqlite:////abs.db absolute; postgres://user@host/db.',
  'VMCATCHER_DIR_CERT: the grid CA directory (-c, --cert-dir), default /etc/grid-security/certificates.',
  'VMCATCHER_LOG_CONF: a Python logging.config file (--log-config): the root level, a FileHandler or StreamHandler and its formatter (%(asctime)s in UTC, %(levelname)s, %(name)s, %(message)s, %(context)s).',
  'VMCATCHER_LOG_FORMAT: text or json (--log-format).',
  'VMCATCHER_OUTPUT_FORMAT: lines, json, SMIME or message (-f).',
];

const FILES = [
  'share/ of the package: the systemd service and timer, sysusers.d, tmpfiles.d, logrotate and cron files that vmcatcher install-units installs.',
];

/** The bins of the package with their tools (the dispatcher's subcommands with a tool, under their bin name). */
function tools(): ToolDefinition[] {
  const seen = new Set<string>();
  const out: ToolDefinition[] = [];
  for (const { tool } of Object.values(SUBCOMMANDS)) {
    if (tool && !seen.has(tool.name)) {
      seen.add(tool.name);
      out.push(tool);
    }
  }
  out.push(EVENT_HANDLER_TOOL);
  return out;
}

/** `vmcatcher import-legacy` has no bin of its own: its page is vmcatcher-import-legacy(1), as git does it. */
const pageName = (tool: ToolDefinition) => tool.name.replace(/ /g, '-');

function manOptions(specs: OptionSpec[]) {
  return specs.map((s) => ({
    names: [...(s.short ? [`-${s.short}`] : []), ...s.long.map((l) => `--${l}`)],
    ...(s.metavar ? { metavar: s.metavar } : {}),
    help: s.help,
  }));
}

/** NAME's line: the dispatcher's one-line help of the tool, else the first sentence of its description. */
function summaryOf(tool: ToolDefinition): string {
  const sub = Object.values(SUBCOMMANDS).find((s) => s.tool === tool);
  if (sub) return sub.help.replace(/ \(vmcatcher_\w+\)$/, '');
  const [first] = tool.description.split(/(?<=\.) /);
  return first.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase());
}

function toolPage(tool: ToolDefinition, all: ToolDefinition[]): ManPage {
  return {
    name: pageName(tool),
    summary: summaryOf(tool),
    source: `vmcatcher ${VERSION}`,
    synopsis: [tool.usage],
    description: [tool.description],
    options: manOptions(toolOptions(tool)),
    ...(tool.examples ? { examples: tool.examples } : {}),
    ...(tool.exitStatus ? { exitStatus: tool.exitStatus } : {}),
    sections: tool.standalone ? [] : [{ title: 'Environment', paragraphs: ENVIRONMENT }],
    seeAlso: ['vmcatcher', ...all.map(pageName).filter((n) => n !== pageName(tool))],
  };
}

function vmcatcherPage(all: ToolDefinition[]): ManPage {
  return {
    name: 'vmcatcher',
    summary: 'subscribe to signed HEPiX image lists and cache their images',
    source: `vmcatcher ${VERSION}`,
    synopsis: ['vmcatcher COMMAND [options]', 'vmcatcher --help | --version'],
    description: [
      'vmcatcher runs the tools of the original vmcatcher (vmcatcher_endorser, vmcatcher_subscribe, vmcatcher_image, vmcatcher_cache) as subcommands, with the same options, and the commands that have no original.',
    ],
    commands: Object.entries(SUBCOMMANDS).map(([name, { help }]) => ({ name, help })),
    options: [
      { names: ['-h', '--help'], help: 'Show the commands and exit.' },
      { names: ['--version'], help: 'Show the version and exit.' },
    ],
    examples: VMCATCHER_EXAMPLES,
    exitStatus: VMCATCHER_EXIT_STATUSES,
    sections: [
      { title: 'Environment', paragraphs: ENVIRONMENT },
      { title: 'Files', paragraphs: FILES },
    ],
    seeAlso: all.map(pageName),
  };
}

/** Every manual page: file name (`vmcatcher_cache.1`) to roff text. */
export function manPages(): Record<string, string> {
  const all = tools();
  const pages: Record<string, string> = { 'vmcatcher.1': renderManPage(vmcatcherPage(all)) };
  for (const tool of all) pages[`${pageName(tool)}.1`] = renderManPage(toolPage(tool, all));
  return pages;
}

function completionOf(specs: OptionSpec[]): CompletionCommand {
  return {
    options: specs.map((s) => {
      const choices = s.choices ?? (s.metavar?.includes('|') ? s.metavar.split('|') : undefined);
      return {
        names: [...(s.short ? [`-${s.short}`] : []), ...s.long.map((l) => `--${l}`)],
        takesValue: s.kind === 'value' || s.kind === 'append',
        ...(choices ? { choices } : {}),
      };
    }),
  };
}

/** The programs and their completion: `vmcatcher` with its subcommands, and each bin of its own. */
function completionPrograms(): Record<string, CompletionCommand> {
  const subcommands: Record<string, CompletionCommand> = {};
  for (const [name, { tool }] of Object.entries(SUBCOMMANDS))
    subcommands[name] = tool ? completionOf(toolOptions(tool)) : { options: [] };
  subcommands.completion = { options: [], subcommands: { bash: { options: [] }, zsh: { options: [] } } };
  const programs: Record<string, CompletionCommand> = {
    vmcatcher: {
      options: [
        { names: ['-h', '--help'], takesValue: false },
        { names: ['--version'], takesValue: false },
      ],
      subcommands,
    },
  };
  for (const tool of tools())
    if (!tool.name.includes(' ')) programs[tool.name] = completionOf(toolOptions(tool));
  return programs;
}

export function completionScript(shell: 'bash' | 'zsh'): string {
  return (shell === 'zsh' ? renderZshCompletion : renderBashCompletion)('_vmcatcher', completionPrograms());
}

/** `vmcatcher completion bash|zsh`. */
export async function runCompletionCommand(
  argv: string[],
  _env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  const [shell, ...rest] = argv;
  if (shell === '-h' || shell === '--help') {
    io.stdout(
      'Usage: vmcatcher completion bash|zsh\n\nPrints the completion script of the vmcatcher tools.\n\nExamples:\n  source <(vmcatcher completion bash)\n      in ~/.bashrc\n  vmcatcher completion bash > /etc/bash_completion.d/vmcatcher\n      for every user\n  source <(vmcatcher completion zsh)\n      in ~/.zshrc\n\nExit status:\n      0 the script was printed\n      2 usage error\n',
    );
    return 0;
  }
  if ((shell !== 'bash' && shell !== 'zsh') || rest.length) {
    io.stderr('Usage: vmcatcher completion bash|zsh\n');
    return 2;
  }
  io.stdout(completionScript(shell));
  return 0;
}
