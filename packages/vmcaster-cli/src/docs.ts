// The manual page and the shell completion of vmcaster, generated from what the parsers use: the subcommand tree
// (citty definitions), the flag-style table (legacy.ts), the global options, examples and exit statuses of --help.
import {
  type CompletionCommand,
  type CompletionOption,
  renderBashCompletion,
  renderManPage,
  renderZshCompletion,
} from '@hepix/common';
import type { ArgsDef, CommandDef } from 'citty';
import { CliError } from './errors.js';
import { STATUS_MEANINGS } from './exit.js';
import { flagTakesValue, legacyFlags } from './legacy.js';
import { EXAMPLES, GLOBAL_OPTIONS, HELP, packageVersion } from './main.js';
import { buildModernCommand } from './modern.js';

type Def = CommandDef<ArgsDef>;

const subcommandsOf = (c: Def) => (c.subCommands ?? {}) as Record<string, Def>;

function argOptions(c: Def): CompletionOption[] {
  const out: CompletionOption[] = [];
  for (const [name, a] of Object.entries(
    (c.args ?? {}) as Record<string, { type?: string; alias?: string | string[] }>,
  )) {
    if (a.type === 'positional') continue;
    const aliases = a.alias === undefined ? [] : Array.isArray(a.alias) ? a.alias : [a.alias];
    out.push({
      names: [`--${name}`, ...aliases.map((x) => `-${x}`)],
      takesValue: a.type === 'string',
      ...(name === 'log-format' ? { choices: ['text', 'json'] } : {}),
    });
  }
  return out;
}

function tree(c: Def): CompletionCommand {
  const subs = subcommandsOf(c);
  const names = Object.keys(subs);
  return {
    options: argOptions(c),
    ...(names.length ? { subcommands: Object.fromEntries(names.map((n) => [n, tree(subs[n])])) } : {}),
  };
}

function completionPrograms(): Record<string, CompletionCommand> {
  const root = tree(buildModernCommand({ rawArgs: [] }));
  const global = new Map(GLOBAL_OPTIONS.map((o) => [o.names[o.names.length - 1], o]));
  const flags: CompletionOption[] = legacyFlags().map((f) => ({
    names: [f],
    takesValue: flagTakesValue(f) === true,
    ...(global.get(f)?.choices ? { choices: global.get(f)?.choices } : {}),
  }));
  return {
    vmcaster: {
      options: flags,
      subcommands: {
        ...root.subcommands,
        completion: { options: [], subcommands: { bash: { options: [] }, zsh: { options: [] } } },
      },
    },
  };
}

/** `vmcaster completion bash|zsh`. */
export function completionScript(shell: string | undefined): string {
  if (shell !== 'bash' && shell !== 'zsh')
    throw new CliError('ERR_CLI_USAGE', 'usage: vmcaster completion bash|zsh');
  return (shell === 'zsh' ? renderZshCompletion : renderBashCompletion)('_vmcaster', completionPrograms());
}

function commandList(c: Def, path: string[]): { name: string; help: string }[] {
  const out: { name: string; help: string }[] = [];
  for (const [name, sub] of Object.entries(subcommandsOf(c))) {
    const p = [...path, name];
    const subs = subcommandsOf(sub);
    if (Object.keys(subs).length) out.push(...commandList(sub, p));
    else {
      const positionals = Object.entries((sub.args ?? {}) as Record<string, { type?: string }>)
        .filter(([, a]) => a.type === 'positional')
        .map(([n]) => n.toUpperCase());
      out.push({
        name: ['vmcaster', ...p, ...positionals].join(' '),
        help: String((sub.meta as { description?: string } | undefined)?.description ?? ''),
      });
    }
  }
  return out;
}

/** The manual page vmcaster(1). */
export function manPage(): string {
  const flagStyle = HELP.slice(HELP.indexOf('Flag style'), HELP.indexOf('\nOptions (both'))
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
  return renderManPage({
    name: 'vmcaster',
    summary: 'publish signed HEPiX image lists and their images',
    source: `vmcaster ${packageVersion()}`,
    synopsis: [
      'vmcaster [options] NOUN VERB [ARGUMENTS] [options]',
      'vmcaster [options] --ACTION [--select-imagelist UUID | --select-image UUID | --select-endorser DN]',
      'vmcaster completion bash|zsh',
    ],
    description: [
      'vmcaster keeps endorsers, image lists and images in a store (SQLite or PostgreSQL), signs image lists with the endorser\u2019s certificate (S/MIME) and uploads lists and images through the uploaders of its configuration file. It accepts the subcommands below and the flag style of vmcaster 0.0.x (exactly one action per run). Global options may come before a subcommand.',
    ],
    commands: commandList(buildModernCommand({ rawArgs: [] }), []),
    options: GLOBAL_OPTIONS.map((o) => ({
      names: o.names,
      ...(o.metavar ? { metavar: o.metavar } : {}),
      help: o.help,
    })),
    examples: EXAMPLES,
    exitStatus: Object.entries(STATUS_MEANINGS).map(([code, meaning]) => [code, meaning] as const),
    sections: [{ title: 'Flag style', paragraphs: flagStyle }],
    seeAlso: ['vmcatcher'],
  });
}
