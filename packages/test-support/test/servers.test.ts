// The loopback servers, exercised with node's own clients.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makePki,
  makeTempDir,
  removeDir,
  startHttpServer,
  startHttpsServer,
  startImageServer,
  startProxy,
  type TestPki,
} from '../src/index.js';

let tmp: string;
let pki: TestPki;
beforeAll(() => {
  tmp = makeTempDir('test-support-servers-');
  pki = makePki(join(tmp, 'pki'));
});
afterAll(() => removeDir(tmp));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(url: string, options: { ca?: Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { ca: options.ca, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('loopback servers', () => {
  it('startHttpsServer serves routes over TLS with the grid server certificate', async () => {
    const s = await startHttpsServer(pki.server.cert, pki.server.key);
    try {
      s.serve('/list', 'signed bytes');
      const ca = readFileSync(pki.ca.cert);
      const ok = await get(`${s.url}/list?x=1`, { ca, headers: { authorization: 'Basic eDp5' } });
      expect([ok.status, ok.body.toString()]).toEqual([200, 'signed bytes']);
      expect((await get(`${s.url}/other`, { ca })).status).toBe(404);
      expect(s.requests).toEqual([
        { url: '/list?x=1', authorization: 'Basic eDp5' },
        { url: '/other', authorization: undefined },
      ]);
      // Without the test CA the certificate is not trusted.
      await expect(get(`${s.url}/list`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    } finally {
      await s.close();
    }
  });

  it('startImageServer: ranges, redirects, dropped connections', async () => {
    const s = await startImageServer();
    try {
      const data = Buffer.from('0123456789'.repeat(10_000));
      s.images.set('/img', { data, dropAfter: 1000 });
      s.redirects.set('/moved', '/img');
      await expect(get(`${s.url}/img`)).rejects.toMatchObject({ code: 'ECONNRESET' });
      const full = await get(`${s.url}/img`);
      expect(full.body.equals(data)).toBe(true);
      const part = await get(`${s.url}/img`, { headers: { range: 'bytes=99990-' } });
      expect([part.status, part.headers['content-range'], part.body.toString()]).toEqual([
        206,
        'bytes 99990-99999/100000',
        '0123456789',
      ]);
      expect((await get(`${s.url}/img`, { headers: { range: 'bytes=100000-' } })).status).toBe(416);
      const moved = await get(`${s.url}/moved`);
      expect([moved.status, moved.headers.location]).toEqual([302, '/img']);
      expect(s.requests.map((r) => r.status)).toEqual([200, 200, 206, 416, 302]);
    } finally {
      await s.close();
    }
  });

  it('startProxy tunnels CONNECT and forwards absolute-form requests', async () => {
    const [proxy, http, https] = await Promise.all([
      startProxy(),
      startHttpServer(),
      startHttpsServer(pki.server.cert, pki.server.key),
    ]);
    try {
      http.serve('/plain', 'via proxy');
      https.serve('/tls', 'through the tunnel');
      const viaProxy = await new Promise<Reply>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: proxy.url.split(':')[2], path: `${http.url}/plain`, agent: false },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(viaProxy.body.toString()).toBe('via proxy');
      const tunnelled = await new Promise<string>((resolve, reject) => {
        const raw = connect(Number(proxy.url.split(':')[2]), '127.0.0.1', () => {
          raw.write(`CONNECT 127.0.0.1:${https.port} HTTP/1.1\r\nhost: 127.0.0.1:${https.port}\r\n\r\n`);
        });
        raw.once('data', (head: Buffer) => {
          expect(head.toString()).toMatch(/^HTTP\/1.1 200/);
          const tls = tlsConnect(
            { socket: raw, ca: readFileSync(pki.ca.cert), servername: 'localhost' },
            () => {
              tls.write('GET /tls HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
            },
          );
          let text = '';
          tls.on('data', (d: Buffer) => {
            text += d.toString();
          });
          tls.on('end', () => resolve(text));
          tls.on('error', reject);
        });
        raw.on('error', reject);
      });
      expect(tunnelled).toMatch(/through the tunnel$/);
      expect(proxy.seen).toEqual([`${http.url}/plain`, `127.0.0.1:${https.port}`]);
    } finally {
      await Promise.all([proxy.close(), http.close(), https.close()]);
    }
  });
});
