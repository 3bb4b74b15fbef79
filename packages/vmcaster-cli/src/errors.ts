// The CLI's own error class, for what only the command line can get wrong (arguments, the configuration file,
// files named on the command line). Everything else is an error of the libraries, mapped in exit.ts.
import { HepixError } from '@hepix/common';

export const CLI_ERROR_CODES = [
  /** Unknown option, more than one action, a missing selection or value. */
  'ERR_CLI_USAGE',
  /** No upload configuration file could be found. */
  'ERR_CLI_CONFIG',
  /** An endorser, list or image named on the command line, or a file to read, does not exist. */
  'ERR_CLI_NOT_FOUND',
  /** A bug of the CLI itself. */
  'ERR_CLI_INTERNAL',
] as const;

export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

export class CliError extends HepixError<CliErrorCode> {
  override readonly name = 'CliError';
}
