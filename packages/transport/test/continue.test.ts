// `Expect: 100-continue` uploads: the server may redirect or refuse before the body is sent.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, TransportError } from '../src/index.js';
import { issueServerCert, makePki, type Pki, tempDir } from './helpers/pki.js';
import {
  rejection,
  startProxy,
  startServer,
  type TestProxy,
  type TestServer,
  text,
} from './helpers/servers.js';

let tmp: string;
let pki: Pki;
let dav: TestServer; // https, decides on checkContinue
let plain: TestServer;
let wrongName: TestServer;
let proxy: TestProxy;
const stored = new Map<string, string>();
const decisions: string[] = [];

/** Stores the body under its path and answers 201 with its sha256. */
function store(req: IncomingMessage, res: ServerResponse) {
  const h = createHash('sha256');
  let size = 0;
  req.on('data', (c: Buffer) => {
    h.update(c);
    size += c.length;
  });
  req.on('end', () => {
    const digest = h.digest('hex');
    stored.set(new URL(req.url ?? '/', 'http://x').pathname, `${size}:${digest}`);
    res.writeHead(201, { 'content-length': digest.length }).end(digest);
  });
}

/** Decides before the body: /pool/* is accepted, /door/* redirected to the pool, /full refused. */
function checkContinue(req: IncomingMessage, res: ServerResponse) {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  decisions.push(`${req.method} ${path} expect=${req.headers.expect}`);
  if (path.startsWith('/door/')) {
    res
      .writeHead(307, { location: `/pool/${path.slice(6)}`, 'content-length': 0, connection: 'close' })
      .end();
  } else if (path === '/slow') {
    res.writeContinue();
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(201, { 'content-length': 4 }).end('done'), 700));
  } else if (path === '/full') {
    res.writeHead(507, { 'content-length': 4, connection: 'close' }).end('full');
  } else {
    res.writeContinue();
    store(req, res);
  }
}

beforeAll(async () => {
  tmp = tempDir();
  pki = makePki(join(tmp, 'pki'));
  dav = await startServer({ tls: pki.server, checkContinue });
  plain = await startServer({ checkContinue });
  wrongName = await startServer({ tls: issueServerCert(pki, 'other', 'DNS:other.example'), checkContinue });
  proxy = await startProxy();
}, 60_000);
afterAll(async () => {
  await Promise.all([dav, plain, wrongName, proxy].map((s) => s?.close()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const igtf = () => ({ mode: 'igtf' as const, certDir: pki.certDir });
const data = randomBytes(3 * 1024 * 1024 + 7);
const sha = createHash('sha256').update(data).digest('hex');
const stream = () =>
  Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20));
    })(),
  );

describe('expectContinue', () => {
  it('sends the body after 100 Continue, with Expect on the wire', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${dav.origin}/pool/a.img`, {
        method: 'PUT',
        body: stream(),
        headers: { 'content-length': String(data.length) },
        tls: igtf(),
        expectContinue: true,
      });
      expect(res.status).toBe(201);
      expect(await text(res.body)).toBe(sha);
      expect(stored.get('/pool/a.img')).toBe(`${data.length}:${sha}`);
      expect(decisions.at(-1)).toBe('PUT /pool/a.img expect=100-continue');
    } finally {
      await t.close();
    }
  });

  it('follows a redirect that comes before the body with the same, unsent stream', async () => {
    const t = createTransport();
    try {
      const body = stream();
      const res = await t.request(`${dav.origin}/door/b.img`, {
        method: 'PUT',
        body,
        headers: { 'content-length': String(data.length) },
        tls: igtf(),
        expectContinue: true,
        followRedirects: true,
      });
      expect(res.status).toBe(201);
      expect(res.redirects).toEqual([`${dav.origin}/pool/b.img`]);
      expect(stored.get('/pool/b.img')).toBe(`${data.length}:${sha}`);
      expect(stored.has('/door/b.img')).toBe(false);
      await text(res.body);
    } finally {
      await t.close();
    }
  });

  it('gives the refusal back without sending the body (the stream stays unread)', async () => {
    const t = createTransport();
    try {
      const body = stream();
      const res = await t.request(`${dav.origin}/full`, {
        method: 'PUT',
        body,
        tls: igtf(),
        expectContinue: true,
      });
      expect(res.status).toBe(507);
      expect(await text(res.body)).toBe('full');
      expect(body.readableDidRead).toBe(false);
      expect(stored.has('/full')).toBe(false);
    } finally {
      await t.close();
    }
  });

  it('sends bytes bodies (with Content-Length) and works for plain http', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${plain.origin}/pool/c.txt`, {
        method: 'POST',
        body: 'form=1',
        expectContinue: true,
      });
      expect(res.status).toBe(201);
      expect(stored.get('/pool/c.txt')).toBe(`6:${createHash('sha256').update('form=1').digest('hex')}`);
      res.body.resume();
    } finally {
      await t.close();
    }
  });

  it('verifies TLS as every other request does', async () => {
    const t = createTransport();
    try {
      const err = await rejection(
        t.request(`${wrongName.origin}/pool/x`, {
          method: 'PUT',
          body: 'x',
          tls: igtf(),
          expectContinue: true,
        }),
      );
      expect(err).toBeInstanceOf(TransportError);
      expect(err.code).toBe('ERR_TRANSPORT_TLS');
      expect(wrongName.seen).toHaveLength(0);
      const browser = await rejection(
        t.request(`${dav.origin}/pool/x`, { method: 'PUT', body: 'x', expectContinue: true }),
      );
      expect(browser.code).toBe('ERR_TRANSPORT_TLS');
    } finally {
      await t.close();
    }
  });

  it('goes through the proxy: a CONNECT tunnel for https, absolute form for http', async () => {
    const t = createTransport({ env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url } });
    try {
      const before = proxy.seen.length;
      const res = await t.request(`${dav.origin}/door/d.img`, {
        method: 'PUT',
        body: stream(),
        headers: { 'content-length': String(data.length) },
        tls: igtf(),
        expectContinue: true,
        followRedirects: true,
      });
      expect(await text(res.body)).toBe(sha);
      expect(stored.get('/pool/d.img')).toBe(`${data.length}:${sha}`);
      const res2 = await t.request(`${plain.origin}/pool/e.txt`, {
        method: 'PUT',
        body: 'via proxy',
        expectContinue: true,
      });
      expect(res2.status).toBe(201);
      res2.body.resume();
      expect(proxy.seen.slice(before)).toEqual([
        `127.0.0.1:${dav.port}`,
        `127.0.0.1:${dav.port}`,
        `${plain.origin}/pool/e.txt`,
      ]);
      // TLS through the tunnel is still verified.
      const err = await rejection(
        t.request(`${wrongName.origin}/pool/x`, {
          method: 'PUT',
          body: 'x',
          tls: igtf(),
          expectContinue: true,
        }),
      );
      expect(err.code).toBe('ERR_TRANSPORT_TLS');
    } finally {
      await t.close();
    }
  });

  it('a slow answer through the tunnel is bound by the idle timeout, not the connect timeout', async () => {
    const t = createTransport({
      env: { HTTPS_PROXY: proxy.url },
      connectTimeoutMs: 300,
      idleTimeoutMs: 5_000,
    });
    try {
      const res = await t.request(`${dav.origin}/slow`, {
        method: 'PUT',
        body: 'x',
        tls: igtf(),
        expectContinue: true,
      });
      expect(res.status).toBe(201);
      expect(await text(res.body)).toBe('done');
    } finally {
      await t.close();
    }
  });

  it('sends the body anyway to a server that ignores Expect', async () => {
    const ignoring = await startServer();
    ignoring.server.removeAllListeners('checkContinue');
    ignoring.server.on('checkContinue', (req, res) => store(req, res)); // reads the body, never writes 100
    const t = createTransport();
    try {
      const res = await t.request(`${ignoring.origin}/late`, {
        method: 'PUT',
        body: 'eventually',
        expectContinue: true,
      });
      expect(res.status).toBe(201);
      expect(stored.get('/late')).toBe(`10:${createHash('sha256').update('eventually').digest('hex')}`);
      res.body.resume();
    } finally {
      await t.close();
      await ignoring.close();
    }
  });

  it('applies the deadline and the signal', async () => {
    const hang = await startServer({ checkContinue: () => {} });
    const t = createTransport();
    try {
      const late = await rejection(
        t.request(`${hang.origin}/x`, {
          method: 'PUT',
          body: 'x',
          expectContinue: true,
          deadline: Date.now() + 300,
        }),
      );
      expect(late.code).toBe('ERR_TRANSPORT_DEADLINE');
      const c = new AbortController();
      setTimeout(() => c.abort(), 100);
      const aborted = await rejection(
        t.request(`${hang.origin}/x`, { method: 'PUT', body: 'x', expectContinue: true, signal: c.signal }),
      );
      expect(aborted.code).toBe('ERR_TRANSPORT_ABORTED');
    } finally {
      await t.close();
      await hang.close();
    }
  });

  it('a connection refused is ERR_TRANSPORT_CONNECT', async () => {
    const t = createTransport();
    try {
      const err = await rejection(
        t.request('http://127.0.0.1:9/x', { method: 'PUT', body: 'x', expectContinue: true }),
      );
      expect(err.code).toBe('ERR_TRANSPORT_CONNECT');
    } finally {
      await t.close();
    }
  });
});
