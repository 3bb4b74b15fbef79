import { describe, expect, it } from 'vitest';
import { proxyFor, TransportError } from '../src/index.js';

const P = 'http://proxy.example:3128/';

// [url, NO_PROXY, proxied?]
const noProxyTable: [string, string, boolean][] = [
  ['https://www.example.org/x', '', true],
  ['https://www.example.org/x', '*', false],
  ['https://www.example.org/x', ' * ', false],
  // host names: the host itself and every host below it, case-insensitively, never a mere string suffix
  ['https://example.org/x', 'example.org', false],
  ['https://www.example.org/x', 'example.org', false],
  ['https://WWW.Example.ORG/x', 'example.ORG', false],
  ['https://badexample.org/x', 'example.org', true],
  ['https://example.org.evil.net/x', 'example.org', true],
  // .suffix and *.suffix
  ['https://www.example.org/x', '.example.org', false],
  ['https://example.org/x', '.example.org', false],
  ['https://a.b.example.org/x', '*.example.org', false],
  ['https://badexample.org/x', '.example.org', true],
  ['https://badexample.org/x', '*.example.org', true],
  // trailing dots
  ['https://www.example.org./x', 'example.org', false],
  ['https://www.example.org/x', 'example.org.', false],
  // lists: commas, spaces, empty entries
  ['https://cvmfs.cern.ch/x', 'localhost, .example.org,,cern.ch', false],
  ['https://cvmfs.cern.ch/x', 'localhost .example.org\tcern.ch', false],
  ['https://desy.de/x', 'localhost,.example.org', true],
  // host:port (the scheme's default port counts)
  ['https://www.example.org:8443/x', 'example.org:8443', false],
  ['https://www.example.org/x', 'example.org:8443', true],
  ['https://www.example.org/x', 'example.org:443', false],
  ['http://www.example.org/x', 'example.org:80', false],
  ['http://www.example.org/x', 'example.org:443', true],
  // IP literals
  ['http://127.0.0.1:8080/x', '127.0.0.1', false],
  ['http://127.0.0.1:8080/x', '127.0.0.1:8080', false],
  ['http://127.0.0.1:8080/x', '127.0.0.1:9090', true],
  ['http://127.0.0.10/x', '127.0.0.1', true],
  ['http://127.0.0.1/x', '.0.0.1', true],
  ['http://[::1]:8080/x', '::1', false],
  ['http://[::1]:8080/x', '[::1]', false],
  ['http://[::1]:8080/x', '[::1]:8080', false],
  ['http://[::1]:8080/x', '[::1]:9090', true],
  ['http://[::1]/x', '0:0:0:0:0:0:0:1', false],
  // CIDR blocks apply to IP literals; names are never resolved
  ['http://10.1.2.3/x', '10.0.0.0/8', false],
  ['http://11.1.2.3/x', '10.0.0.0/8', true],
  ['http://192.168.7.1/x', '192.168.0.0/16', false],
  ['http://192.169.0.1/x', '192.168.0.0/16', true],
  ['http://172.16.0.1/x', '172.16.0.1/32', false],
  ['http://172.16.0.2/x', '172.16.0.1/32', true],
  ['http://[fd00::1]/x', 'fd00::/8', false],
  ['http://[fe80::1]/x', 'fd00::/8', true],
  ['http://[fd00::1]/x', '10.0.0.0/8', true],
  ['http://10.1.2.3/x', 'fd00::/8', true],
  ['http://localhost/x', '127.0.0.0/8', true],
  ['http://10.1.2.3/x', '10.0.0.0/99', true],
  ['http://10.1.2.3/x', 'garbage/8', true],
  ['http://0.0.0.0/x', '0.0.0.0/0', false],
];

describe('proxyFor: NO_PROXY', () => {
  it.each(noProxyTable)('%s with NO_PROXY=%j → proxied %s', (url, noProxy, proxied) => {
    const u = new URL(url);
    const env = { HTTPS_PROXY: P, HTTP_PROXY: P, NO_PROXY: noProxy };
    expect(proxyFor(u, env)).toBe(proxied ? P : undefined);
  });
});

describe('proxyFor: which variable', () => {
  const https = new URL('https://www.example.org/');
  const http = new URL('http://www.example.org/');
  it.each([
    ['https', { HTTPS_PROXY: 'http://a:1' }, 'http://a:1/'],
    ['https', { https_proxy: 'http://b:1' }, 'http://b:1/'],
    ['https', { https_proxy: 'http://b:1', HTTPS_PROXY: 'http://a:1' }, 'http://b:1/'],
    ['https', { https_proxy: '  ', HTTPS_PROXY: 'http://a:1' }, 'http://a:1/'],
    ['https', { HTTP_PROXY: 'http://a:1' }, undefined],
    ['http', { HTTP_PROXY: 'http://a:1' }, 'http://a:1/'],
    ['http', { http_proxy: 'http://b:1', HTTP_PROXY: 'http://a:1' }, 'http://b:1/'],
    ['http', { HTTPS_PROXY: 'http://a:1' }, undefined],
    ['https', { HTTPS_PROXY: 'squid.example:3128' }, 'http://squid.example:3128/'],
    ['https', { HTTPS_PROXY: 'https://secure.example' }, 'https://secure.example/'],
    [
      'https',
      { HTTPS_PROXY: 'http://user:p%40ss@squid.example:3128' },
      'http://user:p%40ss@squid.example:3128/',
    ],
    ['https', { HTTPS_PROXY: 'http://a:1', no_proxy: 'example.org', NO_PROXY: 'other.net' }, undefined],
    ['https', { HTTPS_PROXY: 'http://a:1', no_proxy: '', NO_PROXY: 'example.org' }, undefined],
    ['https', {}, undefined],
  ] as [string, NodeJS.ProcessEnv, string | undefined][])('%s with %j → %s', (scheme, env, want) => {
    expect(proxyFor(scheme === 'https' ? https : http, env)).toBe(want);
  });

  it('gives no proxy for other schemes', () => {
    expect(proxyFor(new URL('file:///etc/passwd'), { HTTPS_PROXY: P, HTTP_PROXY: P })).toBeUndefined();
  });

  it('refuses a proxy that is not an http(s) URL with ERR_TRANSPORT_URL', () => {
    for (const bad of ['socks5://127.0.0.1:1080', 'http://[bad', 'ftp://proxy.example']) {
      let err: unknown;
      try {
        proxyFor(new URL('https://www.example.org/'), { HTTPS_PROXY: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).code).toBe('ERR_TRANSPORT_URL');
    }
  });
});
