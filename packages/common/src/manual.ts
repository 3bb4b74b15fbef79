// Manual pages (roff, man(7) macros) and bash completion scripts, rendered from plain descriptions of commands.
// Both CLIs describe their commands once, in the option tables their parsers and --help use, and hand them here,
// so that the manual, the completion and --help cannot disagree.

export interface ManOption {
  /** `-c`, `--cert-dir` … */
  names: string[];
  metavar?: string;
  help: string;
}

export interface ManPage {
  name: string;
  /** One line for NAME: `name \- summary`. */
  summary: string;
  /** The page footer's source, e.g. `vmcatcher 1.2.0`. */
  source: string;
  section?: string;
  synopsis: string[];
  description: string[];
  options?: ManOption[];
  /** Subcommands (`vmcatcher cache`, `vmcaster imagelist publish`). */
  commands?: { name: string; help: string }[];
  examples?: readonly { command: string; text: string }[];
  exitStatus?: readonly (readonly [number | string, string])[];
  /** Further sections: FILES, ENVIRONMENT, NOTES … */
  sections?: { title: string; paragraphs: string[] }[];
  seeAlso?: string[];
}

/** Text for roff: backslashes and lines starting with a control character cannot be misread as requests. */
export function roffText(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** Command-line text (option names, commands): hyphens as `\-` so that they copy as ASCII minus signs. */
function roffCode(text: string): string {
  return roffText(text).replace(/-/g, '\\-');
}

function optionTerm(o: ManOption): string {
  return o.names
    .map((n) => {
      const value = o.metavar
        ? n.startsWith('--')
          ? `=\\fI${roffCode(o.metavar)}\\fR`
          : ` \\fI${roffCode(o.metavar)}\\fR`
        : '';
      return `\\fB${roffCode(n)}\\fR${value}`;
    })
    .join(', ');
}

export function renderManPage(page: ManPage): string {
  const out: string[] = [];
  const section = page.section ?? '1';
  out.push(
    `.TH "${page.name.toUpperCase().replace(/"/g, '')}" "${section}" "" "${roffText(page.source)}" "User Commands"`,
  );
  out.push('.SH NAME', `${roffCode(page.name)} \\- ${roffText(page.summary)}`);
  out.push('.SH SYNOPSIS');
  page.synopsis.forEach((s, i) => {
    if (i) out.push('.br');
    out.push(roffCode(s));
  });
  out.push('.SH DESCRIPTION');
  page.description.forEach((p, i) => {
    if (i) out.push('.PP');
    out.push(roffText(p));
  });
  if (page.commands?.length) {
    out.push('.SH COMMANDS');
    for (const c of page.commands) out.push('.TP', `\\fB${roffCode(c.name)}\\fR`, roffText(c.help));
  }
  if (page.options?.length) {
    out.push('.SH OPTIONS');
    for (const o of page.options) out.push('.TP', optionTerm(o), roffText(o.help));
  }
  if (page.examples?.length) {
    out.push('.SH EXAMPLES');
    for (const e of page.examples) out.push('.TP', `\\fB${roffCode(e.command)}\\fR`, roffText(e.text));
  }
  if (page.exitStatus?.length) {
    out.push('.SH "EXIT STATUS"');
    for (const [status, meaning] of page.exitStatus)
      out.push('.TP', `\\fB${roffCode(String(status))}\\fR`, roffText(meaning));
  }
  for (const s of page.sections ?? []) {
    out.push(`.SH "${s.title.toUpperCase().replace(/"/g, '')}"`);
    s.paragraphs.forEach((p, i) => {
      if (i) out.push('.PP');
      out.push(roffText(p));
    });
  }
  if (page.seeAlso?.length) {
    out.push('.SH "SEE ALSO"', page.seeAlso.map((n) => `\\fB${roffCode(n)}\\fR(1)`).join(', '));
  }
  return `${out.join('\n')}\n`;
}

export interface CompletionOption {
  names: string[];
  /** The option takes a value: completed from `choices`, else as a file name. */
  takesValue: boolean;
  choices?: readonly string[];
}

export interface CompletionCommand {
  options: CompletionOption[];
  subcommands?: Record<string, CompletionCommand>;
}

/** Bash quoting of a word list inside single quotes. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A bash completion script for `programs` (each a command with options and nested subcommands): one function,
 * registered with `complete -F` for every program. zsh loads it through bashcompinit.
 */
export function renderBashCompletion(fn: string, programs: Record<string, CompletionCommand>): string {
  const paths: [string, CompletionCommand][] = [];
  const walk = (path: string, c: CompletionCommand) => {
    paths.push([path, c]);
    for (const [name, sub] of Object.entries(c.subcommands ?? {})) walk(`${path} ${name}`, sub);
  };
  for (const [name, c] of Object.entries(programs)) walk(name, c);
  const lines: string[] = [];
  lines.push(`# bash completion for ${Object.keys(programs).join(', ')} (generated from the option tables)`);
  lines.push(`${fn}_words() {`, '  case "$1" in');
  for (const [path, c] of paths) {
    const words = [...Object.keys(c.subcommands ?? {}), ...c.options.flatMap((o) => o.names)];
    lines.push(`    ${sq(path)}) echo ${sq(words.join(' '))} ;;`);
  }
  lines.push('  esac', '}');
  lines.push(`${fn}_subcommands() {`, '  case "$1" in');
  for (const [path, c] of paths) {
    if (c.subcommands && Object.keys(c.subcommands).length)
      lines.push(`    ${sq(path)}) echo ${sq(Object.keys(c.subcommands).join(' '))} ;;`);
  }
  lines.push('  esac', '}');
  // Status 0 when $2 takes a value (its choices on stdout, none: a file name), 1 otherwise.
  lines.push(`${fn}_values() {`, '  case "$1" in');
  for (const [path, c] of paths) {
    const valued = c.options.filter((o) => o.takesValue);
    if (!valued.length) continue;
    lines.push(`    ${sq(path)})`, '      case "$2" in');
    for (const o of valued)
      lines.push(`        ${o.names.map(sq).join('|')}) echo ${sq((o.choices ?? []).join(' '))} ;;`);
    lines.push('        *) return 1 ;;', '      esac ;;');
  }
  lines.push('    *) return 1 ;;', '  esac', '}');
  lines.push(
    `${fn}() {`,
    `  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}`,
    `  local path=\${COMP_WORDS[0]##*/} i w values`,
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    `    w=\${COMP_WORDS[i]}`,
    `    if [[ " $(${fn}_subcommands "$path") " == *" $w "* ]]; then path="$path $w"; fi`,
    '  done',
    `  if values=$(${fn}_values "$path" "$prev"); then`,
    '    if [[ -n $values ]]; then',
    '      COMPREPLY=($(compgen -W "$values" -- "$cur"))',
    '    else',
    '      COMPREPLY=($(compgen -f -- "$cur"))',
    '    fi',
    '    return 0',
    '  fi',
    `  COMPREPLY=($(compgen -W "$(${fn}_words "$path")" -- "$cur"))`,
    '}',
    `complete -F ${fn} ${Object.keys(programs).join(' ')}`,
  );
  return `${lines.join('\n')}\n`;
}

/** The zsh form: the bash script through zsh's bashcompinit (`source <(… completion zsh)` in ~/.zshrc). */
export function renderZshCompletion(fn: string, programs: Record<string, CompletionCommand>): string {
  return `# zsh completion: bash completion through bashcompinit\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${renderBashCompletion(fn, programs)}`;
}
