import { appendFile } from 'node:fs/promises';
import { CONFIG_VARIABLE_NAMES, EVENT_VARIABLE_NAMES } from '@hepix/image-cache';
import { flag, parseOptions, str, UsageError } from '../common/options.js';

const HELP = `Usage: vmcatcher_eventHndlExpl [--output_file FILE] [--generator minium] [--datetime]

The example event handler of vmcatcher: appends one JSON line per event, with every VMCATCHER_* variable
(padded with "" unless --generator minium), to FILE (standard output without one).
`;

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
    parsed = parseOptions(argv, [
      { dest: 'outputFile', short: 'o', long: ['output_file'], kind: 'value', help: '' },
      { dest: 'generator', short: 'g', long: ['generator'], kind: 'value', help: '' },
      { dest: 'datetime', long: ['datetime'], kind: 'flag', help: '' },
      { dest: 'logConfig', long: ['log-config'], kind: 'value', help: '' },
      { dest: 'help', short: 'h', long: ['help'], kind: 'flag', help: '' },
    ]);
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
  if (outputFile) await appendFile(outputFile, line);
  else process.stdout.write(line);
  return 0;
}
