import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchImageList, ListFetcher, parseListUrl, SubscriptionError } from '../src/index.js';
import {
  issueCert,
  makePki,
  makeTempDir,
  startHttpServer,
  startHttpsServer,
  startProxy,
  type TestPki,
  type TestProxy,
  type TestServer,
} from '@hepix/test-support';

let pki: TestPki;
let https: TestServer;
let wrongHost: TestServer;
let http: TestServer;
let proxy: TestProxy;
let tmp: string;

beforeAll(async () => {
  tmp = makeTempDir();
  pki = makePki(join(tmp, 'pki'));
  https = await startHttpsServer(pki.server.cert, pki.server.key);
  const other = issueCert(pki, 'other-host', '/C=DE/O=GermanGrid/CN=other.example', 'san:DNS:other.example');
  wrongHost = await startHttpsServer(other.cert, other.key);
  http = await startHttpServer();
  proxy = await startProxy();
}, 60_000);

afterAll(async () => {
  await Promise.all([https?.close(), wrongHost?.close(), http?.close(), proxy?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function expectError(p: Promise<unknown>, code: string, status: number): Promise<SubscriptionError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SubscriptionError);
  expect((err as SubscriptionError).code).toBe(code);
  expect((err as SubscriptionError).status).toBe(status);
  return err as SubscriptionError;
}

describe('parseListUrl', () => {
  it('splits user info off and keeps port and query', () => {
    expect(
      parseListUrl('https://TOKEN:x-oauth-basic@vmcaster.appdb.egi.eu:8443/store/vo/list?x=1&y=2'),
    ).toEqual({
      url: 'https://vmcaster.appdb.egi.eu:8443/store/vo/list?x=1&y=2',
      username: 'TOKEN',
      password: 'x-oauth-basic',
    });
    expect(parseListUrl('http://host/a%20b').url).toBe('http://host/a%20b');
  });
  it('refuses unknown schemes', () => {
    expect(() => parseListUrl('ftp://host/list')).toThrow(SubscriptionError);
  });
});

describe('ListFetcher over https', () => {
  it('verifies the server with the grid CA directory (igtf), keeping query strings and the custom port', async () => {
    https.routes.set('/list', (req, res) => res.end(`body for ${req.url}`));
    const r = await fetchImageList(`${https.url}/list?a=1&b=two`, {
      trustAnchor: 'igtf',
      certDir: pki.certDir,
    });
    expect(Buffer.from(r.data).toString()).toBe('body for /list?a=1&b=two');
    expect(r.url).toBe(`${https.url}/list?a=1&b=two`);
  });

  it('rejects a server certificate not from the system roots (browser mode) with status 50', async () => {
    https.serve('/b', 'x');
    await expectError(fetchImageList(`${https.url}/b`, { trustAnchor: 'browser' }), 'ERR_SUB_TLS', 50);
  });

  it('accepts the test CA in browser mode when added as extra CA', async () => {
    https.serve('/b2', 'ok');
    const r = await fetchImageList(`${https.url}/b2`, {
      extraCa: [readFileSync(pki.ca.cert, 'utf8')],
    });
    expect(Buffer.from(r.data).toString()).toBe('ok');
  });

  it('rejects a certificate for another host name with status 50', async () => {
    wrongHost.serve('/list', 'x');
    const err = await expectError(
      fetchImageList(`${wrongHost.url}/list`, { trustAnchor: 'igtf', certDir: pki.certDir }),
      'ERR_SUB_TLS',
      50,
    );
    expect(err.message).toMatch(/ALTNAME|not authenticated/);
  });

  it('skips verification only in none mode, with a warning', async () => {
    wrongHost.serve('/none', 'insecure');
    const logs: string[] = [];
    const r = await fetchImageList(`${wrongHost.url}/none`, {
      trustAnchor: 'none',
      log: (l, m) => logs.push(`${l}:${m}`),
    });
    expect(Buffer.from(r.data).toString()).toBe('insecure');
    expect(logs.some((l) => l.startsWith('warn:') && l.includes('TLS server authentication disabled'))).toBe(
      true,
    );
  });

  it('sends Basic auth from user info (AppDB token form) only to the origin', async () => {
    https.routes.set('/private', (req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('TOKEN:x-oauth-basic').toString('base64')}`) {
        res.statusCode = 401;
        res.end();
        return;
      }
      res.end('secret list');
    });
    const port = https.port;
    const r = await fetchImageList(`https://TOKEN:x-oauth-basic@127.0.0.1:${port}/private`, {
      trustAnchor: 'igtf',
      certDir: pki.certDir,
    });
    expect(Buffer.from(r.data).toString()).toBe('secret list');
    expect(r.url).not.toContain('TOKEN');
    await expectError(
      fetchImageList(`${https.url}/private`, { trustAnchor: 'igtf', certDir: pki.certDir }),
      'ERR_SUB_DOWNLOAD',
      10,
    );
    const r2 = await fetchImageList(`${https.url}/private`, {
      trustAnchor: 'igtf',
      certDir: pki.certDir,
      credentials: { username: 'TOKEN', password: 'x-oauth-basic' },
    });
    expect(Buffer.from(r2.data).toString()).toBe('secret list');
  });

  it('follows redirects within https, and refuses https→http and file://', async () => {
    https.routes.set('/moved', (_req, res) => {
      res.statusCode = 301;
      res.setHeader('location', '/target?keep=1');
      res.end();
    });
    https.routes.set('/target', (req, res) => res.end(`target ${req.url}`));
    const r = await fetchImageList(`${https.url}/moved`, { trustAnchor: 'igtf', certDir: pki.certDir });
    expect(Buffer.from(r.data).toString()).toBe('target /target?keep=1');
    expect(r.redirects).toEqual([`${https.url}/target?keep=1`]);

    http.serve('/plain', 'plain');
    https.routes.set('/to-http', (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${http.url}/plain`);
      res.end();
    });
    await expectError(
      fetchImageList(`${https.url}/to-http`, { trustAnchor: 'igtf', certDir: pki.certDir }),
      'ERR_SUB_REDIRECT',
      10,
    );
    https.routes.set('/to-file', (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', 'file:///etc/passwd');
      res.end();
    });
    await expectError(
      fetchImageList(`${https.url}/to-file`, { trustAnchor: 'igtf', certDir: pki.certDir }),
      'ERR_SUB_REDIRECT',
      10,
    );
  });

  it('does not forward credentials across origins on redirect', async () => {
    http.routes.set('/echo-auth', (req, res) => res.end(`auth=${req.headers.authorization ?? 'none'}`));
    const other = await startHttpServer();
    try {
      other.routes.set('/go', (_req, res) => {
        res.statusCode = 302;
        res.setHeader('location', `${http.url}/echo-auth`);
        res.end();
      });
      const r = await fetchImageList(`http://u:p@127.0.0.1:${other.port}/go`);
      expect(Buffer.from(r.data).toString()).toBe('auth=none');
      expect(other.requests.at(-1)?.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    } finally {
      await other.close();
    }
  });

  it('maps HTTP errors to status 10 with the HTTP status kept', async () => {
    const err = await expectError(fetchImageList(`${http.url}/missing`), 'ERR_SUB_DOWNLOAD', 10);
    expect(err.httpStatus).toBe(404);
  });

  it('refuses a list larger than maxBytes (http and file)', async () => {
    http.serve('/big', Buffer.alloc(4096, 'x'));
    const err = await expectError(
      fetchImageList(`${http.url}/big`, { maxBytes: 1000 }),
      'ERR_SUB_DOWNLOAD',
      10,
    );
    expect(err.message).toContain('larger than 1000 bytes');
    const path = join(tmp, 'big.smime');
    writeFileSync(path, Buffer.alloc(4096, 'x'));
    await expectError(fetchImageList(pathToFileURL(path).href, { maxBytes: 1000 }), 'ERR_SUB_DOWNLOAD', 10);
    expect((await fetchImageList(`${http.url}/big`, { maxBytes: 4096 })).data.length).toBe(4096);
  });

  it('times out a server that never answers', async () => {
    http.routes.set('/hang', () => {});
    await expectError(fetchImageList(`${http.url}/hang`, { timeoutMs: 300 }), 'ERR_SUB_DOWNLOAD', 10);
  });

  it('goes through HTTPS_PROXY (CONNECT, TLS still verified end to end) and honours NO_PROXY', async () => {
    https.serve('/via-proxy', 'proxied');
    const fetcher = new ListFetcher({ certDir: pki.certDir, env: { HTTPS_PROXY: proxy.url } });
    try {
      const r = await fetcher.fetch(`${https.url}/via-proxy`, { trustAnchor: 'igtf' });
      expect(Buffer.from(r.data).toString()).toBe('proxied');
      expect(proxy.seen).toContain(`127.0.0.1:${https.port}`);
    } finally {
      await fetcher.close();
    }
    const before = proxy.seen.length;
    const direct = new ListFetcher({
      certDir: pki.certDir,
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' },
    });
    try {
      await direct.fetch(`${https.url}/via-proxy`, { trustAnchor: 'igtf' });
      expect(proxy.seen.length).toBe(before);
    } finally {
      await direct.close();
    }
    const wrong = new ListFetcher({ certDir: pki.certDir, env: { HTTPS_PROXY: proxy.url } });
    try {
      wrongHost.serve('/p', 'x');
      await expectError(wrong.fetch(`${wrongHost.url}/p`, { trustAnchor: 'igtf' }), 'ERR_SUB_TLS', 50);
    } finally {
      await wrong.close();
    }
  });

  it('uses HTTP_PROXY for http URLs', async () => {
    http.serve('/p2', 'plain via proxy');
    const fetcher = new ListFetcher({ env: { HTTP_PROXY: proxy.url } });
    try {
      const r = await fetcher.fetch(`${http.url}/p2?q=1`);
      expect(Buffer.from(r.data).toString()).toBe('plain via proxy');
      expect(proxy.seen.some((s) => s.includes(String(http.port)))).toBe(true);
    } finally {
      await fetcher.close();
    }
  });
});

describe('file URLs', () => {
  it('reads file:// and the file://// form the manual shows, and reports a missing file as 10', async () => {
    const path = join(tmp, 'list.smime');
    writeFileSync(path, 'file list');
    expect(Buffer.from((await fetchImageList(pathToFileURL(path).href)).data).toString()).toBe('file list');
    expect(Buffer.from((await fetchImageList(`file:///${path}`)).data).toString()).toBe('file list');
    await expectError(fetchImageList(`file://${join(tmp, 'nope')}`), 'ERR_SUB_DOWNLOAD', 10);
  });
});
