// --fetch-timeout and --min-rate: the overall limits of a transfer (a list fetch of vmcatcher_subscribe -U, an
// image download of vmcatcher_cache), with the defaults of @hepix/image-cache/src/deadlines.ts. Shared by the
// tools so that both spell and check them alike.
import type { TransferLimits } from '@hepix/image-cache';
import { CliError, type CommonContext } from '../common/context.js';
import type { OptionSpec } from '../common/options.js';

export const TRANSFER_LIMIT_OPTIONS: OptionSpec[] = [
  {
    dest: 'fetchTimeout',
    long: ['fetch-timeout'],
    kind: 'value',
    metavar: 'SECONDS',
    help: 'Time allowed for a list download (for an image: plus its size at --min-rate); default 300.',
  },
  {
    dest: 'minRate',
    long: ['min-rate'],
    kind: 'value',
    metavar: 'BYTES_PER_S',
    help: 'A download slower than this over any 60 s is abandoned; default 16384, 0 disables the check.',
  },
];

/** The limits given on the command line (absent ones stay absent: the library's defaults apply). */
export function transferLimitsFrom(ctx: CommonContext): Partial<TransferLimits> {
  const out: Partial<TransferLimits> = {};
  const timeout = ctx.options.fetchTimeout;
  if (typeof timeout === 'string') {
    const n = Number(timeout);
    if (timeout.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new CliError('ERR_CLI_USAGE_VALUE', '--fetch-timeout must be a positive number of seconds.');
    out.fetchTimeoutSeconds = n;
  }
  const rate = ctx.options.minRate;
  if (typeof rate === 'string') {
    const n = Number(rate);
    if (rate.trim() === '' || !Number.isInteger(n) || n < 0)
      throw new CliError(
        'ERR_CLI_USAGE_VALUE',
        '--min-rate must be a whole number of bytes per second (0: off).',
      );
    out.minRate = n;
  }
  return out;
}
