import { TransportError } from './errors.js';

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
  }
}

/** Basic-auth credentials. */
export interface Credentials {
  username?: string;
  password?: string;
}

/** Parses an http(s) URL and takes its user info off (decoded), with the fragment. */
export function parseHttpUrl(input: string | URL): { url: URL; credentials?: Credentials } {
  let url: URL;
  try {
    url = new URL(input);
  } catch (cause) {
    throw new TransportError('ERR_TRANSPORT_URL', `Invalid URL '${redactUrl(String(input))}'`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TransportError('ERR_TRANSPORT_URL', `Not an http or https URL: '${redactUrl(url.href)}'`, {
      url: redactUrl(url.href),
    });
  }
  let credentials: Credentials | undefined;
  if (url.username || url.password) {
    credentials = {};
    if (url.username) credentials.username = decodeURIComponent(url.username);
    if (url.password) credentials.password = decodeURIComponent(url.password);
  }
  return { url: stripUrl(url), ...(credentials ? { credentials } : {}) };
}

/** A copy without user info and fragment (neither is ever sent). */
function stripUrl(url: URL): URL {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  u.hash = '';
  return u;
}

/** The host name of a URL as a connection wants it: no IPv6 brackets, no trailing dot, lower case. */
export function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

/** The port of a URL, the scheme's default included. */
export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}
