// What to do about an error: one table keyed by error code, printed as a `hint` line after the error (runTool,
// the per-subscription results of -U, the per-image failures of vmcatcher_cache). A hint never changes the exit
// status; it only names the option, variable or command that fixes the condition.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { VmcatcherCode } from './exit.js';

export interface HintContext {
  /** The database URL the tool used. */
  database?: string;
  /** The tool's name (`vmcatcher_cache` spells the trust directory option `--cert-dir` only). */
  tool?: string;
  cwd?: string;
}

type HintFn = (err: unknown, ctx: HintContext) => string | undefined;

const TRUST_DIR = (ctx: HintContext) =>
  `give the grid CA directory with ${ctx.tool === 'vmcatcher_cache' ? '--cert-dir DIR' : '-c DIR'} or VMCATCHER_DIR_CERT (the IGTF trust anchors, e.g. the ca-policy-egi-core package, install it as /etc/grid-security/certificates)`;
const CRL =
  'run fetch-crl (package fetch-crl) to download the CAs\u2019 CRLs into the trust directory, and keep its cron job or timer enabled';
const TLS =
  'the https server could not be authenticated: choose how per subscription with --uri-trustanchor-set igtf (the grid CA directory, -c/VMCATCHER_DIR_CERT), browser (the system roots) or none';
const LOCKED =
  'another run holds the lock (named above): let it finish, or wait longer with --lock-wait SECONDS; a holder that died is taken over once its lease is stale (60 s)';

/** `@libsql/linux-x64-gnu` and the like: the package that holds libsql's binary for this machine. */
function libsqlPlatformPackage(): string {
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = process.platform === 'linux' ? (report?.header?.glibcVersionRuntime ? '-gnu' : '-musl') : '';
  return `@libsql/${process.platform}-${process.arch}${libc}`;
}

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/**
 * `sqlite:///var/lib/x.db` is relative to the working directory (SQLAlchemy's rule). The four-slash URL was meant
 * when the relative file does not exist and either its absolute twin does, or the relative file cannot be created
 * (its directory is missing) while the absolute one could (a directory other than `/`: `sqlite:///vmcatcher.db`,
 * the default, is a relative file on purpose).
 */
export function fourSlashUrl(database: string | undefined, cwd = process.cwd()): string | undefined {
  if (!database) return undefined;
  const m = /^sqlite:\/\/\/([^/?][^?]*)(\?.*)?$/i.exec(database.trim());
  if (!m) return undefined;
  const raw = decodeURIComponent(m[1]);
  if (isAbsolute(raw)) return undefined;
  const relative = resolve(cwd, raw);
  const absolute = `/${raw}`;
  if (existsSync(relative)) return undefined;
  const meant = `sqlite:////${m[1]}${m[2] ?? ''}`;
  if (existsSync(absolute)) return meant;
  const parent = dirname(absolute);
  return !existsSync(dirname(relative)) && parent !== '/' && existsSync(parent) ? meant : undefined;
}

const sqlitePath: HintFn = (err, ctx) => {
  if (/^(ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND)$/.test(causeCode(err) ?? ''))
    return `the SQLite driver's binary for this machine is missing: install ${libsqlPlatformPackage()} next to libsql (npm skipped the optional dependency: do not use --omit=optional / --no-optional), or use a postgres:// database`;
  const url = fourSlashUrl(ctx.database, ctx.cwd);
  if (url)
    return `'${ctx.database}' is relative to the working directory ${ctx.cwd ?? process.cwd()}; for the absolute path use four slashes: ${url}`;
  return undefined;
};

const smimeCrl: HintFn = (err) => {
  const smime = (err as { smimeCode?: unknown } | null)?.smimeCode;
  return smime === 'ERR_SMIME_CRL_MISSING' || smime === 'ERR_SMIME_CRL_EXPIRED' ? CRL : undefined;
};

/** The hints, by the code of the error. */
const HINTS: Partial<Record<VmcatcherCode, HintFn>> = {
  ERR_STORE_OPEN: sqlitePath,
  ERR_STORE_MIGRATION: sqlitePath,
  ERR_STORE_LOCKED: () => LOCKED,
  ERR_CLI_CERT_DIR: (_, ctx) => TRUST_DIR(ctx),
  ERR_SUB_NO_TRUST_ANCHOR: (_, ctx) => TRUST_DIR(ctx),
  ERR_LIST_TRUST: (_, ctx) => TRUST_DIR(ctx),
  ERR_CACHE_TRUST: (_, ctx) => TRUST_DIR(ctx),
  ERR_SMIME_CRL_MISSING: () => CRL,
  ERR_SMIME_CRL_EXPIRED: () => CRL,
  ERR_LIST_SIGNATURE: smimeCrl,
  ERR_TRANSPORT_TLS: () => TLS,
  ERR_LIST_TLS: () => TLS,
  ERR_CACHE_TLS: () =>
    'the https image server could not be authenticated: igtf subscriptions use the grid CA directory (--cert-dir/VMCATCHER_DIR_CERT), browser ones the system roots; change it with vmcatcher_subscribe --uri-trustanchor-set',
  ERR_CLI_LOG_CONFIG: () =>
    'point --log-config or VMCATCHER_LOG_CONF at a Python logging.config file, or unset it for the default lines on standard error',
};

/** The hint for an error (or a bare code), if there is one. */
export function hintFor(err: unknown, ctx: HintContext = {}): string | undefined {
  const code = typeof err === 'string' ? err : (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !Object.hasOwn(HINTS, code)) return undefined;
  return HINTS[code as VmcatcherCode]?.(err, ctx);
}
