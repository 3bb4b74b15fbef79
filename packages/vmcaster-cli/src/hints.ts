// What to do about an error, keyed by its code: printed as `vmcaster: error: hint: …` after the error. The same
// conditions as vmcatcher's hints, spelled with vmcaster's options.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { EveryCode } from './exit.js';

type HintFn = (err: unknown, database: string | undefined) => string | undefined;

const CRL =
  'run fetch-crl (package fetch-crl) to download the CAs\u2019 CRLs into the trust directory (--ca-dir), and keep its cron job or timer enabled';
const TLS =
  'the https server could not be authenticated: add its CA with --tls-ca-file PATH (PEM), or check that the system roots hold it';
const TRUST = 'give the trust directory with --ca-dir DIR (env VMCASTER_CA_DIR or X509_CERT_DIR)';

function libsqlPackage(): string {
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = process.platform === 'linux' ? (report?.header?.glibcVersionRuntime ? '-gnu' : '-musl') : '';
  return `@libsql/${process.platform}-${process.arch}${libc}`;
}

const store: HintFn = (err, database) => {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (cause === 'ERR_MODULE_NOT_FOUND' || cause === 'MODULE_NOT_FOUND')
    return `the SQLite driver's binary for this machine is missing: install ${libsqlPackage()} next to libsql (npm skipped the optional dependency), or use a postgres:// database`;
  const m = database ? /^sqlite:\/\/\/([^/?][^?]*)(\?.*)?$/i.exec(database) : null;
  if (!m) return undefined;
  const raw = decodeURIComponent(m[1]);
  if (existsSync(resolve(raw)) || !existsSync(dirname(`/${raw}`))) return undefined;
  return `'${database}' is relative to the working directory; for the absolute path use four slashes: sqlite:////${m[1]}${m[2] ?? ''} (-d or VMCASTER_RDBMS)`;
};

const HINTS: Partial<Record<EveryCode, HintFn>> = {
  ERR_STORE_OPEN: store,
  ERR_STORE_LOCKED: () =>
    'another vmcaster or vmcatcher run holds the lock (named above): let it finish; a holder that died is taken over once its lease is stale (60 s)',
  ERR_SMIME_CRL_MISSING: () => CRL,
  ERR_SMIME_CRL_EXPIRED: () => CRL,
  ERR_LIST_SIGNATURE: (err) => {
    const smime = (err as { smimeCode?: unknown } | null)?.smimeCode;
    return smime === 'ERR_SMIME_CRL_MISSING' || smime === 'ERR_SMIME_CRL_EXPIRED' ? CRL : undefined;
  },
  ERR_LIST_TRUST: () => TRUST,
  ERR_TRANSPORT_TLS: () => TLS,
  ERR_LIST_TLS: () => TLS,
};

export function hintFor(err: unknown, database?: string): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !Object.hasOwn(HINTS, code)) return undefined;
  return HINTS[code as EveryCode]?.(err, database);
}
