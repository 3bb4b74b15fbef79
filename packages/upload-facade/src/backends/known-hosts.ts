import { createHash, createHmac } from 'node:crypto';

/** Result of looking a host key up in a known_hosts file. */
export type HostKeyVerdict = 'match' | 'mismatch' | 'unknown' | 'revoked';

interface Entry {
  marker?: string;
  hosts: string;
  type: string;
  key: Buffer;
}

function parse(text: string): Entry[] {
  const out: Entry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    const marker = f[0].startsWith('@') ? f.shift() : undefined;
    if (f.length < 3) continue;
    out.push({ marker, hosts: f[0], type: f[1], key: Buffer.from(f[2], 'base64') });
  }
  return out;
}

function glob(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hostMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let hit = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (glob(p.slice(1), name)) return false;
    } else if (glob(p, name)) hit = true;
  }
  return hit;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Key types recorded for a host (plain `@cert-authority` lines are not supported and ignored). */
export function knownKeyTypes(text: string, host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  return [
    ...new Set(
      parse(text)
        .filter((e) => !e.marker && hostMatches(e.hosts, name))
        .map((e) => e.type),
    ),
  ];
}

/** Checks a server's host key blob against known_hosts text, as OpenSSH does with StrictHostKeyChecking=yes. */
export function checkKnownHosts(text: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  let seen = false;
  for (const e of parse(text)) {
    if (e.marker === '@revoked') {
      if (e.key.equals(key)) return 'revoked';
      continue;
    }
    if (e.marker || !hostMatches(e.hosts, name)) continue;
    if (e.key.equals(key)) return 'match';
    seen = true;
  }
  return seen ? 'mismatch' : 'unknown';
}

/** OpenSSH-style `SHA256:…` fingerprint of a key blob. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Server host-key algorithms to offer for the key types known_hosts records (so the server presents one). */
export function hostKeyAlgorithms(types: string[]): string[] {
  const out: string[] = [];
  for (const t of types) {
    if (t === 'ssh-rsa') out.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else out.push(t);
  }
  return out;
}
