import { appendFile } from 'node:fs/promises';
import { CONFIG_VARIABLE_NAMES, EVENT_VARIABLE_NAMES } from '@hepix/image-cache';
import pkg from '../../package.json' with { type: 'json' };
import type { ToolDefinition } from '../common/context.js';
import { flag, formatHelp, type OptionSpec, parseOptions, str, UsageError } from '../common/options.js';

const OPTIONS: OptionSpec[] = [
  {
    dest: 'outputFile',
    short: 'o',
    long: ['output_file'],
    kind: 'value',
    metavar: 'FILE',
    help: 'Append the JSON line to FILE (default: standard output).',
  },
  {
    dest: 'generator',
    short: 'g',
    long: ['generator'],
    kind: 'value',
    metavar: 'minium',
    help: 'minium: only the variables that are set (default: every variable, padded with "").',
  },
  { dest: 'datetime', long: ['datetime'], kind: 'flag', help: 'Add DATETIME, the local time of the event.' },
  {
    dest: 'logConfig',
    long: ['log-config'],
    kind: 'value',
    metavar: 'FILE',
    help: 'Accepted for compatibility with the original; ignored.',
  },
  { dest: 'version', long: ['version'], kind: 'flag', help: "Show the program's version number and exit." },
  { dest: 'help', short: 'h', long: ['help'], kind: 'flag', help: 'Show this help message and exit.' },
];

export const EVENT_HANDLER_TOOL: ToolDefinition = {
  name: 'vmcatcher_eventHndlExpl',
  usage: 'vmcatcher_eventHndlExpl [--output_file FILE] [--generator minium] [--datetime]',
  description:
    'The example event handler of vmcatcher: appends one JSON line per event, with every VMCATCHER_* variable (padded with "" unless --generator minium), to FILE (standard output without one).',
  options: OPTIONS,
  standalone: true,
  examples: [
    {
      command:
        'vmcatcher_cache -x "vmcatcher_eventHndlExpl --output_file=/var/log/vmcatcher/events.jsonl --datetime"',
      text: 'record every event of a cache run',
    },
  ],
  exitStatus: [
    [0, 'the event was written'],
    [1, 'the output file cannot be written'],
    [2, 'usage error'],
  ],
};

const HELP = formatHelp(
  EVENT_HANDLER_TOOL.usage,
  EVENT_HANDLER_TOOL.description,
  OPTIONS,
  EVENT_HANDLER_TOOL,
);

function localIsoZ(d: Date): string {
  // The original wrote local time followed by a literal Z; kept as is so existing parsers keep working.
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}Z`
  );
}

/** The example event handler (`vmcatcher_eventHndlExpl`); returns the exit code. */
export async function runEventHandlerExample(
  argv: string[],
  env: NodeJS.ProcessEnv,
  now: () => Date = () => new Date(),
): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv, OPTIONS);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`vmcatcher_eventHndlExpl: ${err.message}\n${HELP}`);
      return 2;
    }
    throw err;
  }
  const o = parsed.options;
  if (flag(o, 'help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (flag(o, 'version')) {
    process.stdout.write(`vmcatcher_eventHndlExpl ${pkg.version}\n`);
    return 0;
  }
  const generator = str(o, 'generator');
  const minimum = generator === 'minium' || generator === 'minimum';
  const record: Record<string, string> = {};
  const names = new Set([...CONFIG_VARIABLE_NAMES, ...EVENT_VARIABLE_NAMES]);
  for (const name of Object.keys(env)) if (name.startsWith('VMCATCHER_')) names.add(name);
  for (const name of [...names].sort()) {
    const value = env[name];
    if (value !== undefined && value !== '') record[name] = value;
    else if (!minimum) record[name] = '';
  }
  if (flag(o, 'datetime')) record.DATETIME = localIsoZ(now());
  const line = `${JSON.stringify(record)}\n`;
  const outputFile = str(o, 'outputFile');
  if (!outputFile) {
    process.stdout.write(line);
    return 0;
  }
  try {
    await appendFile(outputFile, line);
    return 0;
  } catch (err) {
    // EACCES here is the documented set-up bug: the events log must belong to the service user (tmpfiles.d).
    process.stderr.write(`vmcatcher_eventHndlExpl: cannot write ${outputFile}: ${(err as Error).message}\n`);
    return 1;
  }
}
