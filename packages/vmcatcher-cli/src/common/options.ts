// A small optparse-compatible parser: the legacy tools are Python optparse programs, so scripts written for
// them use its conventions: `-x V`, `-xV`, `--long V`, `--long=V`, clustered short flags (`-vv`), repeated
// (append) options, counters, and unambiguous abbreviations of long options (`--uuid` as `--uu`).

import { CliError } from './exit.js';

type OptionKind = 'flag' | 'count' | 'value' | 'append';

export interface OptionSpec {
  /** Key in the parsed result. */
  dest: string;
  short?: string;
  long: string[];
  kind: OptionKind;
  help: string;
  metavar?: string;
  /** The values a shell completion offers (a metavar like `none|browser|igtf` offers its words too). */
  choices?: readonly string[];
}

export type ParsedOptions = Record<string, boolean | number | string | string[] | undefined>;

/** Bad options or arguments: the tools print their usage and exit 2, as optparse does. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('ERR_CLI_USAGE', message);
  }
}

export interface ParseResult {
  options: ParsedOptions;
  positionals: string[];
}

export function parseOptions(argv: string[], specs: OptionSpec[]): ParseResult {
  const options: ParsedOptions = {};
  const positionals: string[] = [];
  const byShort = new Map<string, OptionSpec>();
  const byLong = new Map<string, OptionSpec>();
  for (const s of specs) {
    if (s.short) byShort.set(s.short, s);
    for (const l of s.long) byLong.set(l, s);
  }
  const store = (spec: OptionSpec, value?: string) => {
    switch (spec.kind) {
      case 'flag':
        options[spec.dest] = true;
        break;
      case 'count':
        options[spec.dest] = ((options[spec.dest] as number | undefined) ?? 0) + 1;
        break;
      case 'value':
        options[spec.dest] = value;
        break;
      case 'append': {
        const list = (options[spec.dest] as string[] | undefined) ?? [];
        list.push(value as string);
        options[spec.dest] = list;
        break;
      }
    }
  };
  const resolvePrefix = (name: string): OptionSpec => {
    const candidates = [...byLong.keys()].filter((l) => l.startsWith(name));
    const distinct = new Set(candidates.map((c) => byLong.get(c)));
    if (distinct.size > 1) {
      throw new UsageError(`ambiguous option: --${name} (${candidates.map((c) => `--${c}`).join(', ')}?)`);
    }
    const found = candidates.length ? byLong.get(candidates[0]) : undefined;
    if (!found) throw new UsageError(`no such option: --${name}`);
    return found;
  };
  const takesValue = (s: OptionSpec) => s.kind === 'value' || s.kind === 'append';

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name) ?? resolvePrefix(name);
      if (takesValue(spec)) {
        let value: string | undefined;
        if (eq !== -1) value = arg.slice(eq + 1);
        else {
          if (i + 1 >= argv.length) throw new UsageError(`--${name} option requires an argument`);
          value = argv[++i];
        }
        store(spec, value);
      } else {
        if (eq !== -1) throw new UsageError(`--${name} option does not take a value`);
        store(spec);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const spec = byShort.get(arg[j]);
        if (!spec) throw new UsageError(`no such option: -${arg[j]}`);
        if (takesValue(spec)) {
          let value = arg.slice(j + 1);
          if (!value) {
            if (i + 1 >= argv.length) throw new UsageError(`-${arg[j]} option requires an argument`);
            value = argv[++i];
          }
          store(spec, value);
          break;
        }
        store(spec);
      }
      continue;
    }
    positionals.push(arg);
  }
  return { options, positionals };
}

/** A command line shown in --help and the manual, with what it does. */
interface Example {
  command: string;
  text: string;
}

/** Everything --help, the manual page and the shell completion of one tool are made of. */
export interface HelpSections {
  examples?: readonly Example[];
  /** Exit statuses: [status or range, meaning]. */
  exitStatus?: readonly (readonly [number | string, string])[];
}

/** The names of an option as its help lists them: `-c DIR, --cert-dir=DIR`. */
function optionNames(s: OptionSpec): string {
  return [
    ...(s.short ? [`-${s.short}${s.metavar ? ` ${s.metavar}` : ''}`] : []),
    ...s.long.map((l) => `--${l}${s.metavar ? `=${s.metavar}` : ''}`),
  ].join(', ');
}

export function formatHelp(
  usage: string,
  description: string,
  specs: OptionSpec[],
  sections: HelpSections = {},
): string {
  const lines = [`Usage: ${usage}`, '', description, '', 'Options:'];
  for (const s of specs) {
    lines.push(`  ${optionNames(s)}`);
    lines.push(`      ${s.help}`);
  }
  if (sections.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of sections.examples) lines.push(`  ${e.command}`, `      ${e.text}`);
  }
  if (sections.exitStatus?.length) {
    lines.push('', 'Exit status:');
    for (const [status, meaning] of sections.exitStatus)
      lines.push(`  ${String(status).padStart(5)} ${meaning}`);
  }
  return `${lines.join('\n')}\n`;
}

export const str = (o: ParsedOptions, k: string): string | undefined => o[k] as string | undefined;
export const list = (o: ParsedOptions, k: string): string[] => (o[k] as string[] | undefined) ?? [];
export const flag = (o: ParsedOptions, k: string): boolean => o[k] === true;
export const count = (o: ParsedOptions, k: string): number => (o[k] as number | undefined) ?? 0;
