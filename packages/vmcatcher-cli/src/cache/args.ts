/** A small getopt for the original tools' option style: `-v -vv`, `-x CMD`, `-xCMD`, `--opt V`, `--opt=V`. */
export interface OptionSpec {
  short?: string;
  long: string;
  /** Takes a value. */
  value?: boolean;
  /** Counted flag (`-vv` → 2). */
  count?: boolean;
}

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export function parseArgs(
  argv: string[],
  specs: OptionSpec[],
): { values: Record<string, string>; flags: Record<string, number>; rest: string[] } {
  const values: Record<string, string> = {};
  const flags: Record<string, number> = {};
  const rest: string[] = [];
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const byLong = new Map(specs.map((s) => [s.long, s]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown option --${name}`);
      if (spec.value) {
        const v = eq === -1 ? argv[++i] : arg.slice(eq + 1);
        if (v === undefined) throw new UsageError(`option --${name} needs a value`);
        values[spec.long] = v;
      } else {
        if (eq !== -1) throw new UsageError(`option --${name} takes no value`);
        flags[spec.long] = (flags[spec.long] ?? 0) + 1;
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const spec = byShort.get(arg[j]);
        if (!spec) throw new UsageError(`unknown option -${arg[j]}`);
        if (spec.value) {
          const v = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
          if (v === undefined) throw new UsageError(`option -${arg[j]} needs a value`);
          values[spec.long] = v;
          break;
        }
        flags[spec.long] = (flags[spec.long] ?? 0) + 1;
      }
      continue;
    }
    rest.push(arg);
  }
  return { values, flags, rest };
}
