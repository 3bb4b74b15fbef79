import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, TransportError } from '../src/index.js';
import { issueServerCert, makePki, type Pki, tempDir } from './helpers/pki.js';
import {
  echo,
  rejection,
  send,
  startProxy,
  startServer,
  type TestProxy,
  type TestServer,
  text,
} from './helpers/servers.js';

let tmp: string;
let pki: Pki;
let secure: TestServer;
let wrongName: TestServer;
let plain: TestServer;
let proxy: TestProxy;

beforeAll(async () => {
  tmp = tempDir();
  pki = makePki(join(tmp, 'pki'));
  secure = await startServer({ tls: pki.server });
  wrongName = await startServer({ tls: issueServerCert(pki, 'other', 'DNS:other.example') });
  plain = await startServer();
  proxy = await startProxy();
  secure.routes.set('/list', send('via the tunnel'));
  wrongName.routes.set('/list', send('must not arrive'));
  plain.routes.set('/echo', echo);
}, 60_000);
afterAll(async () => {
  await Promise.all([secure, wrongName, plain, proxy].map((s) => s?.close()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const igtf = () => ({ mode: 'igtf' as const, certDir: pki.certDir });

describe('proxies', () => {
  it('tunnels https through HTTPS_PROXY with CONNECT, verifying the origin end to end', async () => {
    const t = createTransport({ env: { HTTPS_PROXY: proxy.url } });
    try {
      const before = proxy.seen.length;
      const res = await t.request(`${secure.origin}/list`, { tls: igtf() });
      expect(await text(res.body)).toBe('via the tunnel');
      expect(proxy.seen.slice(before)).toEqual([`127.0.0.1:${secure.port}`]);
      // Through the same proxy, a certificate for another name is still refused.
      const err = await rejection(t.request(`${wrongName.origin}/list`, { tls: igtf() }));
      expect(err).toBeInstanceOf(TransportError);
      expect(err.code).toBe('ERR_TRANSPORT_TLS');
      expect(proxy.seen.at(-1)).toBe(`127.0.0.1:${wrongName.port}`);
      expect(wrongName.seen).toHaveLength(0);
    } finally {
      await t.close();
    }
  });

  it('forwards plain http to HTTP_PROXY in absolute form', async () => {
    const t = createTransport({ env: { http_proxy: proxy.url, HTTPS_PROXY: 'http://127.0.0.1:9' } });
    try {
      const res = await t.request(`${plain.origin}/echo?q=1`, { method: 'POST', body: 'through' });
      expect(JSON.parse(await text(res.body))).toMatchObject({ method: 'POST', body: 'through' });
      expect(proxy.seen.at(-1)).toBe(`${plain.origin}/echo?q=1`);
    } finally {
      await t.close();
    }
  });

  it('goes direct for NO_PROXY hosts', async () => {
    const t = createTransport({
      env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: `localhost,127.0.0.0/8` },
    });
    try {
      const before = proxy.seen.length;
      expect(await text((await t.request(`${secure.origin}/list`, { tls: igtf() })).body)).toBe(
        'via the tunnel',
      );
      expect(JSON.parse(await text((await t.request(`${plain.origin}/echo`)).body)).method).toBe('GET');
      expect(proxy.seen.length).toBe(before);
    } finally {
      await t.close();
    }
  });

  it('reads the environment at each request', async () => {
    const env: NodeJS.ProcessEnv = {};
    const t = createTransport({ env });
    try {
      const before = proxy.seen.length;
      await text((await t.request(`${plain.origin}/echo`)).body);
      env.HTTP_PROXY = proxy.url;
      await text((await t.request(`${plain.origin}/echo`)).body);
      expect(proxy.seen.length).toBe(before + 1);
    } finally {
      await t.close();
    }
  });

  it('sends the proxy credentials of the proxy URL, to the proxy only', async () => {
    const auth = `Basic ${Buffer.from('proxyuser:proxy pass').toString('base64')}`;
    const guarded = await startProxy({ requireAuthorization: auth });
    const url = `http://proxyuser:proxy%20pass@127.0.0.1:${guarded.port}`;
    const t = createTransport({ env: { HTTPS_PROXY: url, HTTP_PROXY: url } });
    try {
      expect(await text((await t.request(`${secure.origin}/list`, { tls: igtf() })).body)).toBe(
        'via the tunnel',
      );
      const res = await t.request(`${plain.origin}/echo`);
      expect(JSON.parse(await text(res.body)).authorization).toBeNull();
      expect(guarded.authorizations).toEqual([auth, auth]);
      expect(plain.seen.at(-1)?.headers['proxy-authorization']).toBeUndefined();
    } finally {
      await t.close();
      await guarded.close();
    }
  });

  it('reports a refused tunnel and a 407 as ERR_TRANSPORT_PROXY', async () => {
    const refusing = await startProxy({ refuseConnect: 403 });
    const guarded = await startProxy({ requireAuthorization: 'Basic nope' });
    try {
      const t1 = createTransport({ env: { HTTPS_PROXY: refusing.url } });
      const e1 = await rejection(t1.request(`${secure.origin}/list`, { tls: igtf() }));
      await t1.close();
      expect(e1.code, e1.message).toBe('ERR_TRANSPORT_PROXY');
      const t2 = createTransport({ env: { HTTPS_PROXY: guarded.url, HTTP_PROXY: guarded.url } });
      const e2 = await rejection(t2.request(`${secure.origin}/list`, { tls: igtf() }));
      const e3 = await rejection(t2.request(`${plain.origin}/echo`));
      await t2.close();
      expect([e2.code, e3.code]).toEqual(['ERR_TRANSPORT_PROXY', 'ERR_TRANSPORT_PROXY']);
    } finally {
      await refusing.close();
      await guarded.close();
    }
  });

  it('reports an unreachable proxy as ERR_TRANSPORT_CONNECT naming the proxy', async () => {
    const t = createTransport({ env: { HTTPS_PROXY: 'http://127.0.0.1:9' } });
    try {
      const err = await rejection(t.request(`${secure.origin}/list`, { tls: igtf() }));
      expect(err.code).toBe('ERR_TRANSPORT_CONNECT');
      expect(err.message).toContain('via the proxy');
    } finally {
      await t.close();
    }
  });

  it('refuses a malformed proxy variable with ERR_TRANSPORT_URL before sending', async () => {
    const t = createTransport({ env: { HTTP_PROXY: 'socks5://127.0.0.1:1080' } });
    try {
      const before = plain.seen.length;
      const err = await rejection(t.request(`${plain.origin}/echo`));
      expect(err.code).toBe('ERR_TRANSPORT_URL');
      expect(plain.seen.length).toBe(before);
    } finally {
      await t.close();
    }
  });
});
