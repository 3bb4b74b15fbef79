import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkKnownHosts, fingerprint, knownKeyTypes } from '../src/backends/known-hosts.js';
import { davUrl, parseSshTarget } from '../src/index.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'no error';
};

describe('parseSshTarget', () => {
  it('reads the scp and URL forms', () => {
    expect(parseSshTarget('root@vmic-virt-grid:/tmp/a.img')).toEqual({
      user: 'root',
      host: 'vmic-virt-grid',
      port: undefined,
      path: '/tmp/a.img',
    });
    expect(parseSshTarget('files.example.org:www/a.img')).toEqual({
      user: undefined,
      host: 'files.example.org',
      port: undefined,
      path: 'www/a.img',
    });
    expect(parseSshTarget('u@[::1]:/srv/a')).toMatchObject({ host: '::1', path: '/srv/a' });
    expect(parseSshTarget('sftp://u%40x@h.example:2222/srv/my%20image.img')).toEqual({
      user: 'u@x',
      host: 'h.example',
      port: 2222,
      path: '/srv/my image.img',
    });
    expect(parseSshTarget('scp://h/~/www/a.img').path).toBe('www/a.img');
  });

  it('refuses malformed and hostile targets', () => {
    for (const t of [
      '/just/a/path',
      'sftp://h',
      'u@h:/srv/../etc/passwd',
      'sftp://h/srv/%2e%2e/etc/passwd',
      'sftp://h/srv/a%2fb/../x',
      'u@h:/srv/a\nb',
      'u@h:/srv/',
    ])
      expect(
        codeOf(() => parseSshTarget(t)),
        t,
      ).toBe('ERR_UPLOAD_TARGET');
  });
});

describe('davUrl', () => {
  it('maps dav schemes to http(s)', () => {
    expect(davUrl('davs://h:2880/pnfs/a.img', 'webdav').href).toBe('https://h:2880/pnfs/a.img');
    expect(davUrl('webdav://h/a', 'webdav').href).toBe('https://h/a');
    expect(davUrl('dav://h/a', 'webdav').href).toBe('http://h/a');
    expect(davUrl('https://h/a%20b', 'http').pathname).toBe('/a%20b');
  });
  it('refuses query strings, other schemes and hostile paths', () => {
    for (const t of [
      'https://h/a?x=1',
      'https://h/a#f',
      'ftp://h/a',
      'https://h',
      'https://h/a/../../b',
      'https://h/%2E%2E/b',
    ])
      expect(
        codeOf(() => davUrl(t, 'http')),
        t,
      ).toBe('ERR_UPLOAD_TARGET');
  });
});

describe('known_hosts', () => {
  const key = randomBytes(51);
  const other = randomBytes(51);
  const b64 = key.toString('base64');
  it('matches plain, bracketed, wildcard and hashed entries', () => {
    expect(
      checkKnownHosts(`files.example.org,10.0.0.1 ssh-ed25519 ${b64}`, 'files.example.org', 22, key),
    ).toBe('match');
    expect(
      checkKnownHosts(`[files.example.org]:2222 ssh-ed25519 ${b64}`, 'files.example.org', 2222, key),
    ).toBe('match');
    expect(checkKnownHosts(`files.example.org ssh-ed25519 ${b64}`, 'files.example.org', 2222, key)).toBe(
      'unknown',
    );
    expect(
      checkKnownHosts(`*.example.org,!bad.example.org ssh-ed25519 ${b64}`, 'a.example.org', 22, key),
    ).toBe('match');
    expect(
      checkKnownHosts(`*.example.org,!bad.example.org ssh-ed25519 ${b64}`, 'bad.example.org', 22, key),
    ).toBe('unknown');
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[h.example]:2222').digest('base64');
    expect(
      checkKnownHosts(`|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${b64}`, 'h.example', 2222, key),
    ).toBe('match');
  });
  it('tells a changed key and a revoked key apart from an unknown host', () => {
    const text = `# comment\n\nh.example ssh-ed25519 ${other.toString('base64')}\n@revoked * ssh-rsa ${randomBytes(30).toString('base64')}\n`;
    expect(checkKnownHosts(text, 'h.example', 22, key)).toBe('mismatch');
    expect(
      checkKnownHosts(`@revoked * ssh-ed25519 ${b64}\nh.example ssh-ed25519 ${b64}`, 'h.example', 22, key),
    ).toBe('revoked');
    expect(checkKnownHosts(text, 'elsewhere', 22, key)).toBe('unknown');
    expect(
      knownKeyTypes(`h.example ssh-rsa AAAA\nh.example ssh-ed25519 AAAA\nx ecdsa AAAA`, 'h.example', 22),
    ).toEqual(['ssh-rsa', 'ssh-ed25519']);
    expect(fingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
