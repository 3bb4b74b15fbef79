import { isAbsolute, resolve } from 'node:path';
import { StoreError } from './errors.js';

export type ParsedStoreUrl =
  | { dialect: 'sqlite' /** Absolute file path, or `:memory:`. */; path: string; url: string }
  | {
      dialect: 'postgres' /** Connection string for `pg`, driver suffix removed. */;
      connectionString: string;
      url: string;
    };

const ACCEPTED =
  "accepted forms: 'sqlite:///relative/path.db' (relative to the working directory), 'sqlite:////absolute/path.db', " +
  "'sqlite://' (in memory), 'postgresql://user:password@host:port/database' or 'postgres://…'";

/** Removes the password of a URL for display; leaves anything that is not a URL as it is. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@');
}

/**
 * Parses the SQLAlchemy-style connection strings the original tools accept (and their `+driver` variants,
 * e.g. `postgresql+psycopg2://`). `cwd` resolves relative SQLite paths.
 */
export function parseStoreUrl(url: string, cwd: string = process.cwd()): ParsedStoreUrl {
  const shown = redactUrl(String(url));
  if (typeof url !== 'string' || url.trim() === '') {
    throw new StoreError('ERR_STORE_URL', `empty database URL; ${ACCEPTED}`, { url: shown });
  }
  const m = /^([a-z][a-z0-9.-]*)(\+[a-z0-9_.-]+)?:\/\/(.*)$/is.exec(url.trim());
  if (!m)
    throw new StoreError('ERR_STORE_URL', `'${shown}' is not a database URL; ${ACCEPTED}`, { url: shown });
  const scheme = m[1].toLowerCase();
  const rest = m[3];
  if (scheme === 'sqlite') {
    const q = rest.indexOf('?');
    const body = q >= 0 ? rest.slice(0, q) : rest;
    if (body === '' || body === '/' || body === '/:memory:')
      return { dialect: 'sqlite', path: ':memory:', url: shown };
    if (!body.startsWith('/')) {
      throw new StoreError(
        'ERR_STORE_URL',
        `'${shown}' names a host; SQLite URLs have three slashes before a relative path and four before an absolute one; ${ACCEPTED}`,
        { url: shown },
      );
    }
    const raw = decodeURIComponent(body.slice(1));
    const path = isAbsolute(raw) ? raw : resolve(cwd, raw);
    return { dialect: 'sqlite', path, url: shown };
  }
  if (scheme === 'postgresql' || scheme === 'postgres') {
    if (rest === '')
      throw new StoreError('ERR_STORE_URL', `'${shown}' has no host or database; ${ACCEPTED}`, {
        url: shown,
      });
    return { dialect: 'postgres', connectionString: `postgresql://${rest}`, url: shown };
  }
  throw new StoreError(
    'ERR_STORE_URL',
    `unsupported database scheme '${scheme}' in '${shown}'; ${ACCEPTED}`,
    {
      url: shown,
    },
  );
}

/** Equal for two URLs of the same database: the SQLite file's absolute path, or PostgreSQL host, port and name. */
export function databaseIdentity(parsed: ParsedStoreUrl): string {
  if (parsed.dialect === 'sqlite')
    return parsed.path === ':memory:' ? 'sqlite-memory' : `sqlite:${resolve(parsed.path)}`;
  try {
    const u = new URL(parsed.connectionString);
    return `postgres:${u.hostname || 'localhost'}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
  } catch {
    return `postgres:${redactUrl(parsed.connectionString)}`;
  }
}
