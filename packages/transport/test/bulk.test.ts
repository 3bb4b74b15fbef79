// `bulk: true` (image downloads over plain http): the body read with large socket reads on a connection of its
// own. The same answers as the pooled path: bytes, framing (length, chunked, close), Range, redirects, the
// same error codes for timeouts, deadlines, aborts, lost connections and invalid responses; proxies and https
// keep the pooled path.
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport } from '../src/index.js';
import {
  failure,
  redirect,
  send,
  startProxy,
  startServer,
  type TestServer,
  text,
} from './helpers/servers.js';

let s: TestServer;
const big = randomBytes(8 * 1024 * 1024 + 123);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A raw TCP server answering every request with `answer` (bytes written as they are, then closed or not). */
async function raw(answer: (socket: Socket) => void): Promise<{ origin: string; server: Server }> {
  const server = createServer((socket) => {
    socket.once('data', () => answer(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function bytes(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  s = await startServer();
  s.routes.set('/big', send(big));
  s.routes.set('/hang', () => {});
  s.routes.set('/stall', (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write('partial');
  });
  s.routes.set('/cut', (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write(Buffer.alloc(500), () => res.socket?.destroy());
  });
  s.routes.set('/trickle', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write('x'), 100);
    res.on('close', () => clearInterval(timer));
  });
  // node:http answers without Content-Length in chunked encoding.
  s.routes.set('/chunked', (_req, res) => {
    res.writeHead(200);
    for (let at = 0; at < big.length; at += 300_001) res.write(big.subarray(at, at + 300_001));
    res.end();
  });
  s.routes.set('/range', (req, res) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    res.writeHead(m ? 206 : 200, {
      'content-length': big.length - start,
      ...(m ? { 'content-range': `bytes ${start}-${big.length - 1}/${big.length}` } : {}),
    });
    res.end(big.subarray(start));
  });
  s.routes.set('/moved', redirect('/big', 302));
  s.routes.set('/headers', (req, res) => {
    const body = JSON.stringify(req.headers);
    res.writeHead(200, { 'content-length': Buffer.byteLength(body), 'x-two': ['a', 'b'] });
    res.end(body);
  });
  s.routes.set('/empty', (_req, res) => {
    res.writeHead(204);
    res.end();
  });
}, 60_000);
afterAll(() => s?.close());

describe('bulk downloads', () => {
  it('reads a large body, a chunked one and a Range, byte for byte, on connections of their own', async () => {
    const t = createTransport();
    try {
      const before = s.seen.length;
      const res = await t.request(`${s.origin}/big`, { bulk: true });
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(big.length));
      expect(sha(await bytes(res.body))).toBe(sha(big));
      const chunked = await t.request(`${s.origin}/chunked`, { bulk: true });
      expect(chunked.headers['transfer-encoding']).toBe('chunked');
      expect(sha(await bytes(chunked.body))).toBe(sha(big));
      const ranged = await t.request(`${s.origin}/range`, { bulk: true, headers: { range: 'bytes=1000-' } });
      expect(ranged.status).toBe(206);
      expect(ranged.headers['content-range']).toBe(`bytes 1000-${big.length - 1}/${big.length}`);
      expect(sha(await bytes(ranged.body))).toBe(sha(big.subarray(1000)));
      const seen = s.seen.slice(before);
      expect(seen.map((r) => r.headers.connection)).toEqual(['close', 'close', 'close']);
      expect(new Set(seen.map((r) => r.connection)).size).toBe(3);
    } finally {
      await t.close();
    }
  });

  it('sends the headers of the request, keeps repeated response headers, ends an empty body', async () => {
    const t = createTransport({ userAgent: 'bulk-test' });
    try {
      const res = await t.request(`${s.origin}/headers`, {
        bulk: true,
        headers: { 'X-Asked': 'yes' },
        credentials: { username: 'u', password: 'p' },
      });
      const sent = JSON.parse((await bytes(res.body)).toString()) as Record<string, string>;
      expect(sent['user-agent']).toBe('bulk-test');
      expect(sent['x-asked']).toBe('yes');
      expect(sent.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
      expect(sent.host).toBe(new URL(s.origin).host);
      expect(res.headers['x-two']).toEqual(['a', 'b']);
      const empty = await t.request(`${s.origin}/empty`, { bulk: true });
      expect(empty.status).toBe(204);
      expect((await bytes(empty.body)).length).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('follows redirects under the one policy', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${s.origin}/moved`, { bulk: true });
      expect(res.redirects).toEqual([`${s.origin}/big`]);
      expect(sha(await bytes(res.body))).toBe(sha(big));
    } finally {
      await t.close();
    }
  });

  it('applies backpressure: a paused consumer holds the connection, and gets every byte after', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${s.origin}/big`, { bulk: true });
      res.body.pause();
      await new Promise((r) => setTimeout(r, 200));
      // Buffered while paused: about the stream's high-water mark and one socket read, not the body.
      expect(res.body.readableLength).toBeLessThan(2 * 1024 * 1024);
      expect(sha(await bytes(res.body))).toBe(sha(big));
    } finally {
      await t.close();
    }
  });

  it('fails with the codes of the pooled path: timeout, deadline, lost connection, refused, aborted, closed', async () => {
    const t = createTransport({ idleTimeoutMs: 300 });
    try {
      await failure(t.request(`${s.origin}/hang`, { bulk: true }), 'ERR_TRANSPORT_TIMEOUT');
      const stalled = await t.request(`${s.origin}/stall`, { bulk: true });
      await failure(text(stalled.body), 'ERR_TRANSPORT_TIMEOUT');
      const cut = await t.request(`${s.origin}/cut`, { bulk: true });
      const lost = await failure(text(cut.body), 'ERR_TRANSPORT_CONNECT');
      expect(lost.url).toBe(`${s.origin}/cut`);

      const slow = createTransport({ idleTimeoutMs: 5_000 });
      const trickle = await slow.request(`${s.origin}/trickle`, { bulk: true, deadline: Date.now() + 800 });
      let received = 0;
      trickle.body.on('data', (c: Buffer) => {
        received += c.length;
      });
      await failure(text(trickle.body), 'ERR_TRANSPORT_DEADLINE');
      expect(received).toBeGreaterThan(0);

      const c = new AbortController();
      const aborted = await slow.request(`${s.origin}/trickle`, { bulk: true, signal: c.signal });
      aborted.body.once('data', () => c.abort());
      await failure(text(aborted.body), 'ERR_TRANSPORT_ABORTED');

      const open = await slow.request(`${s.origin}/trickle`, { bulk: true });
      const reading = text(open.body);
      await new Promise((r) => open.body.once('data', r));
      await slow.close();
      await failure(reading, 'ERR_TRANSPORT_ABORTED');

      const probe = createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const port = (probe.address() as AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));
      const refused = await failure(
        t.request(`http://127.0.0.1:${port}/`, { bulk: true }),
        'ERR_TRANSPORT_CONNECT',
      );
      expect(refused.underlyingCode).toBe('ECONNREFUSED');
    } finally {
      await t.close();
    }
  });

  it('a body that keeps coming never hits the idle timeout, however long it lasts', async () => {
    const t = createTransport({ idleTimeoutMs: 400 });
    try {
      // One byte every 100 ms for 1.5 s: nearly four idle timeouts in all, none between two reads.
      const trickle = await t.request(`${s.origin}/trickle`, { bulk: true, deadline: Date.now() + 1_500 });
      let received = 0;
      trickle.body.on('data', (c: Buffer) => {
        received += c.length;
      });
      await failure(text(trickle.body), 'ERR_TRANSPORT_DEADLINE');
      expect(received).toBeGreaterThan(5);
    } finally {
      await t.close();
    }
  });

  it('refuses invalid responses with ERR_TRANSPORT_PROTOCOL', async () => {
    const answers = [
      'HTTP/1.1 abc OK\r\n\r\n', // status line
      'HTTP/1.1 200 OK\r\nbad header\r\n\r\n', // header line without a colon
      'HTTP/1.1 200 OK\r\nx: 1\r\n folded\r\n\r\n', // obsolete line folding
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello', // two lengths
      'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', // not a length
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', // not a chunk size
      `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70_000)}\r\n\r\n`, // headers too large
    ];
    const t = createTransport();
    try {
      for (const answer of answers) {
        const srv = await raw((socket) => socket.end(answer));
        try {
          const p = t.request(`${srv.origin}/`, { bulk: true }).then((res) => text(res.body));
          expect((await failure(p, 'ERR_TRANSPORT_PROTOCOL')).code, answer.slice(0, 60)).toBe(
            'ERR_TRANSPORT_PROTOCOL',
          );
        } finally {
          srv.server.close();
        }
      }
    } finally {
      await t.close();
    }
  });

  it('reads a body delimited by the end of the connection, and skips an informational response', async () => {
    const srv = await raw((socket) =>
      socket.end('HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nall of it'),
    );
    const t = createTransport();
    try {
      const res = await t.request(`${srv.origin}/`, { bulk: true });
      expect(res.status).toBe(200);
      expect(await text(res.body)).toBe('all of it');
    } finally {
      await t.close();
      srv.server.close();
    }
  });

  it('reads into memory the caller lends (chunks are views of it), and into its own buffer when none is lent', async () => {
    const t = createTransport();
    try {
      const lend = Buffer.alloc(256 * 1024);
      let lending = true;
      let asked = 0;
      let body: (NodeJS.ReadableStream & { readableLength: number }) | undefined;
      const res = await t.request(`${s.origin}/big`, {
        bulk: true,
        // Lent only while nothing is buffered: 'data' below consumes each chunk before the next read.
        readInto: () => {
          asked++;
          return lending && body?.readableLength === 0 ? lend : undefined;
        },
      });
      body = res.body;
      let inLent = 0;
      let copied = 0;
      const h = createHash('sha256');
      await new Promise<void>((resolve, reject) => {
        res.body.on('data', (c: Buffer) => {
          if (c.buffer === lend.buffer) inLent += c.length;
          else copied += c.length;
          h.update(c);
          lending = !lending;
        });
        res.body.on('end', resolve);
        res.body.on('error', reject);
      });
      expect(h.digest('hex')).toBe(sha(big));
      expect(asked).toBeGreaterThan(2);
      expect(inLent).toBeGreaterThan(0);
      expect(copied).toBeGreaterThan(0);
      expect(inLent + copied).toBe(big.length);
    } finally {
      await t.close();
    }
  });

  it('with no memory lent, makes one small read and waits for the consumer (nothing read ahead)', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${s.origin}/big`, { bulk: true, readInto: () => undefined });
      const sizes: number[] = [];
      const h = createHash('sha256');
      let held = -1;
      await new Promise<void>((resolve, reject) => {
        res.body.on('data', (c: Buffer) => {
          sizes.push(c.length);
          h.update(c);
          if (held >= 0) return;
          // The consumer is busy for a while: the transport must not read on meanwhile.
          res.body.pause();
          setTimeout(() => {
            held = res.body.readableLength;
            res.body.resume();
          }, 300);
        });
        res.body.on('end', resolve);
        res.body.on('error', reject);
      });
      expect(h.digest('hex')).toBe(sha(big));
      expect(held).toBeGreaterThanOrEqual(0);
      expect(held).toBeLessThanOrEqual(16 * 1024);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(16 * 1024);
    } finally {
      await t.close();
    }
  });

  it('a proxied request keeps the pooled path (the proxy sees it)', async () => {
    const proxy = await startProxy();
    const t = createTransport({ env: { HTTP_PROXY: proxy.url } });
    try {
      const res = await t.request(`${s.origin}/big`, { bulk: true });
      expect(sha(await bytes(res.body))).toBe(sha(big));
      expect(proxy.seen).toEqual([`${s.origin}/big`]);
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
