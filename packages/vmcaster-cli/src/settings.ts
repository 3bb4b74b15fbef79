// Where vmcaster finds its database, configuration file, certificate and key: command line first, then the
// VMCASTER_* variables, then the DISH_* variables of the releases up to 0.0.13, then the documented defaults.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.js';

export interface SettingsInput {
  database?: string;
  configFile?: string;
  x509Dir?: string;
  x509Cert?: string;
  x509Key?: string;
  /** A PKCS#12 file instead of the PEM pair (`--p12-cert`). */
  p12Cert?: string;
  lifetimeDays?: string | number;
  caDir?: string;
}

export interface Settings {
  /** Store URL, e.g. `sqlite:///vmcaster.db` (relative to the working directory). */
  database: string;
  /** The configuration file to read; `configFileCandidates` when none was named. */
  configFile?: string;
  configFileCandidates: string[];
  /** The signing certificate: PEM, or PKCS#12 (`--p12-cert`, or a `.p12`/`.pfx` name in the variables). */
  x509Cert: string;
  x509Key: string;
  /** True when `x509Cert` was given as PKCS#12 with `--p12-cert`. */
  pkcs12: boolean;
  lifetimeDays: number;
  /** Trust directory used to verify imported and downloaded lists. */
  caDir: string;
}

export const DEFAULT_DATABASE = 'sqlite:///vmcaster.db';
export const DEFAULT_LIFETIME_DAYS = 28;
export const DEFAULT_CA_DIR = '/etc/grid-security/certificates';
export const SYSTEM_CONFIG_FILE = '/etc/vmcaster/vmcaster.cfg';

type Env = Record<string, string | undefined>;

function first(...values: (string | undefined)[]): string | undefined {
  for (const v of values) if (v !== undefined && v !== '') return v;
  return undefined;
}

/** Resolves the settings from options and the environment (`env` defaults to `process.env`). */
export function resolveSettings(input: SettingsInput = {}, env: Env = process.env): Settings {
  const home = first(env.HOME) ?? homedir();
  const database = first(input.database, env.VMCASTER_RDBMS, env.DISH_RDBMS) ?? DEFAULT_DATABASE;
  const configFile = first(input.configFile, env.VMCASTER_CFG, env.DISH_CFG);
  const x509Dir = first(input.x509Dir, env.VMCASTER_X509_DIR, env.DISH_X509_DIR) ?? join(home, '.globus');
  const x509Cert =
    first(
      input.p12Cert,
      input.x509Cert,
      env.VMCASTER_X509_CERT,
      env.VMCASTER_CERT,
      env.DISH_X509_CERT,
      env.DISH_CERT,
    ) ?? join(x509Dir, 'usercert.pem');
  const x509Key =
    first(input.x509Key, env.VMCASTER_X509_KEY, env.VMCASTER_KEY, env.DISH_X509_KEY, env.DISH_KEY) ??
    join(x509Dir, 'userkey.pem');
  const lifetimeRaw = first(
    input.lifetimeDays === undefined ? undefined : String(input.lifetimeDays),
    env.VMCASTER_IMAGELIST_LIFETIME,
  );
  const lifetimeDays = lifetimeRaw === undefined ? DEFAULT_LIFETIME_DAYS : parseLifetime(lifetimeRaw);
  const caDir = first(input.caDir, env.VMCASTER_CA_DIR, env.X509_CERT_DIR) ?? DEFAULT_CA_DIR;
  return {
    database,
    configFile,
    configFileCandidates: [join(home, '.vmcaster.cfg'), SYSTEM_CONFIG_FILE],
    x509Cert,
    x509Key,
    pkcs12: first(input.p12Cert) !== undefined,
    lifetimeDays,
    caDir,
  };
}

/** Lifetime in whole days, at least 1. */
export function parseLifetime(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError('ERR_CLI_USAGE', `lifetime must be a whole number of days >= 1, got '${value}'`);
  return n;
}

/** The configuration file to use: the named one, else `~/.vmcaster.cfg`, else `/etc/vmcaster/vmcaster.cfg`. */
export function findConfigFile(
  settings: Settings,
  exists: (p: string) => boolean = existsSync,
): string | undefined {
  if (settings.configFile) return settings.configFile;
  return settings.configFileCandidates.find((p) => exists(p));
}
