// Which proxy a URL goes through, from the environment, as curl and wget read it. Pure: no DNS, no I/O.
import { BlockList, isIP } from 'node:net';
import { TransportError } from './errors.js';
import { hostOf, portOf, redactUrl } from './url.js';

/** The first non-empty variable; the lower-case form first, as curl, wget and undici read them. */
function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  for (const key of [name.toLowerCase(), name.toUpperCase()]) {
    const v = env[key]?.trim();
    if (v) return v;
  }
  return undefined;
}

/** An IP literal in the form the URL parser gives it (so `0:0::1` and `::1` compare equal). */
function canonicalIp(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family === 6) {
    try {
      return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function inCidr(host: string, entry: string): boolean {
  const slash = entry.indexOf('/');
  const net = entry.slice(0, slash).replace(/^\[(.*)\]$/, '$1');
  const prefix = Number(entry.slice(slash + 1));
  const family = isIP(net);
  if (!family || family !== isIP(host) || !/^\d+$/.test(entry.slice(slash + 1))) return false;
  if (prefix > (family === 4 ? 32 : 128)) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(net, prefix, type);
  return list.check(host, type);
}

/**
 * Whether `NO_PROXY` exempts `url`. Entries are separated by commas or white space and matched case-insensitively:
 * `*` (everything); `example.org`, `.example.org` and `*.example.org` (that host and every host below it);
 * `host:port` and `[v6]:port` (only that port; the scheme's default port counts); IP literals; CIDR blocks
 * `10.0.0.0/8`, `fd00::/8` (for URLs whose host is an IP literal: names are never resolved).
 */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = hostOf(url);
  const hostIp = canonicalIp(host);
  const port = String(portOf(url));
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (entry.includes('/')) {
      if (hostIp && inCidr(hostIp, entry)) return true;
      continue;
    }
    let name = entry;
    let entryPort: string | undefined;
    if (name.startsWith('[')) {
      const end = name.indexOf(']');
      if (end < 0) continue;
      entryPort = name.slice(end + 1).replace(/^:/, '') || undefined;
      name = name.slice(1, end);
    } else if (isIP(name) !== 6) {
      const colon = name.lastIndexOf(':');
      if (colon >= 0) {
        entryPort = name.slice(colon + 1);
        name = name.slice(0, colon);
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    const ip = canonicalIp(name);
    if (ip) {
      if (ip === hostIp) return true;
      continue;
    }
    // Domain suffixes apply to names only: `.0.1` must not exempt the IP 127.0.0.1.
    name = name.replace(/^\*?\./, '').replace(/\.$/, '');
    if (!hostIp && name && (host === name || host.endsWith(`.${name}`))) return true;
  }
  return false;
}

/**
 * The proxy for `url` from `env`: `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/`HTTP_PROXY` for
 * http URLs, unless `no_proxy`/`NO_PROXY` exempts the URL ({@link bypassesProxy}). A proxy without a scheme
 * is `http://`. Returns the proxy URL (user info kept: it is the proxy's credentials), or undefined for a
 * direct connection. Throws `ERR_TRANSPORT_URL` for a proxy variable that is not an http(s) URL.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const raw = variable(env, url.protocol === 'https:' ? 'https_proxy' : 'http_proxy');
  if (!raw) return undefined;
  if (bypassesProxy(url, variable(env, 'no_proxy') ?? '')) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch (cause) {
    throw new TransportError('ERR_TRANSPORT_URL', `The proxy '${redactUrl(raw)}' is not a URL`, { cause });
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new TransportError(
      'ERR_TRANSPORT_URL',
      `The proxy '${redactUrl(raw)}' is not an http or https proxy (${proxy.protocol})`,
    );
  }
  return proxy.href;
}
