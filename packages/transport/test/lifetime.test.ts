// Timeouts, deadlines, aborts, lost and stale connections, against servers that misbehave on purpose.
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport } from '../src/index.js';
import { echo, failure, send, startServer, type TestServer, text } from './helpers/servers.js';

let s: TestServer;
const big = randomBytes(8 * 1024 * 1024 + 123);

beforeAll(async () => {
  s = await startServer();
  s.routes.set('/hang', () => {}); // never answers
  // Headers at once, then one byte every 100 ms, forever.
  s.routes.set('/trickle', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write('x'), 100);
    res.on('close', () => clearInterval(timer));
  });
  // Headers at once, then silence.
  s.routes.set('/stall', (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write('partial');
  });
  // Half the body, then the connection dies.
  s.routes.set('/cut', (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write(Buffer.alloc(500), () => res.socket?.destroy());
  });
  s.routes.set('/big', send(big));
  s.routes.set('/echo', echo);
}, 60_000);
afterAll(() => s?.close());

describe('timeouts and deadlines', () => {
  it('an answer that never comes is ERR_TRANSPORT_TIMEOUT after the idle timeout', async () => {
    const t = createTransport({ idleTimeoutMs: 300 });
    try {
      const err = await failure(t.request(`${s.origin}/hang`), 'ERR_TRANSPORT_TIMEOUT');
      expect(err.underlyingCode).toBe('UND_ERR_HEADERS_TIMEOUT');
    } finally {
      await t.close();
    }
  });

  it('a body that stops is ERR_TRANSPORT_TIMEOUT on the body stream', async () => {
    const t = createTransport({ idleTimeoutMs: 300 });
    try {
      const res = await t.request(`${s.origin}/stall`);
      expect(res.status).toBe(200);
      const err = await failure(text(res.body), 'ERR_TRANSPORT_TIMEOUT');
      expect(err.underlyingCode).toBe('UND_ERR_BODY_TIMEOUT');
    } finally {
      await t.close();
    }
  });

  it('a server trickling bytes never hits the idle timeout, but the deadline ends it (ERR_TRANSPORT_DEADLINE)', async () => {
    const t = createTransport({ idleTimeoutMs: 5_000 });
    try {
      const res = await t.request(`${s.origin}/trickle`, { deadline: Date.now() + 1_000 });
      let received = 0;
      res.body.on('data', (c: Buffer) => {
        received += c.length;
      });
      const err = await failure(
        new Promise((resolve, reject) => {
          res.body.on('end', resolve);
          res.body.on('error', reject);
        }),
        'ERR_TRANSPORT_DEADLINE',
      );
      expect(received).toBeGreaterThan(0); // it was flowing: the idle timeout alone would never fire
      expect(err.url).toBe(`${s.origin}/trickle`);
    } finally {
      await t.close();
    }
  });

  it('a deadline passes while waiting for the headers, or has passed already (nothing sent)', async () => {
    const t = createTransport({ idleTimeoutMs: 10_000 });
    try {
      await failure(t.request(`${s.origin}/hang`, { deadline: Date.now() + 300 }), 'ERR_TRANSPORT_DEADLINE');
      const before = s.seen.length;
      await failure(t.request(`${s.origin}/echo`, { deadline: Date.now() - 1 }), 'ERR_TRANSPORT_DEADLINE');
      expect(s.seen.length).toBe(before);
    } finally {
      await t.close();
    }
  });

  it('a deadline that is not reached changes nothing', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${s.origin}/big`, { deadline: Date.now() + 3_600_000 * 24 * 365 * 100 });
      const h = createHash('sha256');
      for await (const c of res.body) h.update(c as Buffer);
      expect(h.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    } finally {
      await t.close();
    }
  });

  it('a connection refused is ERR_TRANSPORT_CONNECT', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const t = createTransport();
    try {
      const err = await failure(t.request(`http://127.0.0.1:${port}/`), 'ERR_TRANSPORT_CONNECT');
      expect(err.underlyingCode).toBe('ECONNREFUSED');
    } finally {
      await t.close();
    }
  });

  it('a connection lost in the body is ERR_TRANSPORT_CONNECT on the body stream', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${s.origin}/cut`);
      await failure(text(res.body), 'ERR_TRANSPORT_CONNECT');
    } finally {
      await t.close();
    }
  });
});

describe('abort', () => {
  it('an aborted signal sends nothing', async () => {
    const t = createTransport();
    try {
      const before = s.seen.length;
      await failure(t.request(`${s.origin}/echo`, { signal: AbortSignal.abort() }), 'ERR_TRANSPORT_ABORTED');
      expect(s.seen.length).toBe(before);
    } finally {
      await t.close();
    }
  });

  it('aborting while waiting for the headers, and while reading the body', async () => {
    const t = createTransport();
    try {
      const c1 = new AbortController();
      const p = t.request(`${s.origin}/hang`, { signal: c1.signal });
      setTimeout(() => c1.abort(new Error('operator')), 100);
      const err = await failure(p, 'ERR_TRANSPORT_ABORTED');
      expect((err.cause as Error).message).toBe('operator');

      const c2 = new AbortController();
      const res = await t.request(`${s.origin}/trickle`, { signal: c2.signal });
      res.body.once('data', () => c2.abort());
      await failure(text(res.body), 'ERR_TRANSPORT_ABORTED');
    } finally {
      await t.close();
    }
  });

  it('close() fails a body still being read with ERR_TRANSPORT_ABORTED', async () => {
    const t = createTransport();
    const res = await t.request(`${s.origin}/trickle`);
    const reading = text(res.body);
    await new Promise((r) => res.body.once('data', r));
    await t.close();
    await failure(reading, 'ERR_TRANSPORT_ABORTED');
  });
});

describe('connection reuse', () => {
  it('reuses a keep-alive connection, and retries once on a stale one for idempotent methods only', async () => {
    const origin = await startServer();
    let drop = 0;
    origin.routes.set('/r', (req, res) => {
      if (drop > 0 && origin.seen.at(-1)!.connection === 1) {
        // The server drops the pooled connection just as the request arrives (a keep-alive race).
        drop--;
        req.socket.destroy();
        return;
      }
      send(`on connection ${origin.seen.at(-1)!.connection}`, 200, { 'keep-alive': 'timeout=60' })(req, res);
    });
    const t = createTransport();
    try {
      expect(await text((await t.request(`${origin.origin}/r`)).body)).toBe('on connection 1');
      expect(await text((await t.request(`${origin.origin}/r`)).body)).toBe('on connection 1');
      drop = 1;
      expect(await text((await t.request(`${origin.origin}/r`)).body)).toBe('on connection 2');
      expect(origin.seen.map((r) => r.connection)).toEqual([1, 1, 1, 2]);
    } finally {
      await t.close();
    }
    // POST is not idempotent: no second attempt.
    const t2 = createTransport();
    try {
      origin.seen.length = 0;
      const first = await t2.request(`${origin.origin}/r`, { method: 'POST', body: 'a' });
      expect(await text(first.body)).toMatch(/^on connection \d+$/);
      const conn = origin.seen[0].connection;
      origin.routes.set('/r', (req) => req.socket.destroy());
      await failure(t2.request(`${origin.origin}/r`, { method: 'POST', body: 'b' }), 'ERR_TRANSPORT_CONNECT');
      expect(origin.seen.map((r) => r.connection)).toEqual([conn, conn]);
    } finally {
      await t2.close();
    }
    // A POST the caller declares idempotent (a token request) gets the one retry, on a fresh connection.
    const t3 = createTransport();
    try {
      origin.seen.length = 0;
      drop = 0;
      origin.routes.set('/r', (req, res) => {
        if (drop > 0) {
          drop--;
          req.socket.destroy();
          return;
        }
        send(`on connection ${origin.seen.at(-1)!.connection}`, 200, { 'keep-alive': 'timeout=60' })(
          req,
          res,
        );
      });
      await text(
        (await t3.request(`${origin.origin}/r`, { method: 'POST', body: 'a', idempotent: true })).body,
      );
      drop = 1;
      const again = await t3.request(`${origin.origin}/r`, { method: 'POST', body: 'b', idempotent: true });
      expect(await text(again.body)).toMatch(/^on connection \d+$/);
      const seen = origin.seen.map((r) => r.connection);
      expect(seen).toHaveLength(3);
      expect(seen[1]).toBe(seen[0]);
      expect(seen[2]).not.toBe(seen[1]);
    } finally {
      await t3.close();
      await origin.close();
    }
  });

  it('a request body stream that fails is ERR_TRANSPORT_BODY', async () => {
    const t = createTransport();
    try {
      const body = new Readable({
        read() {
          this.destroy(new Error('disk read error'));
        },
      });
      const err = await failure(t.request(`${s.origin}/echo`, { method: 'PUT', body }), 'ERR_TRANSPORT_BODY');
      expect((err.cause as Error).message).toBe('disk read error');
    } finally {
      await t.close();
    }
  });
});

describe('streaming', () => {
  it('streams a large body with backpressure and sends a large body', async () => {
    const t = createTransport();
    try {
      const res = await t.request(`${s.origin}/big`);
      expect(res.headers['content-length']).toBe(String(big.length));
      // A slow consumer: the transport must pause the connection, not buffer the whole body.
      let buffered = 0;
      const h = createHash('sha256');
      for await (const c of res.body) {
        buffered = Math.max(buffered, res.body.readableLength);
        h.update(c as Buffer);
        await new Promise((r) => setImmediate(r));
      }
      expect(h.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
      expect(buffered).toBeLessThanOrEqual(2 * 1024 * 1024);

      const sink = await startServer();
      sink.routes.set('/put', (req, res) => {
        const hash = createHash('sha256');
        req.on('data', (c: Buffer) => hash.update(c));
        req.on('end', () => send(hash.digest('hex'))(req, res));
      });
      try {
        const put = await t.request(`${sink.origin}/put`, {
          method: 'PUT',
          body: Readable.from(
            (function* () {
              for (let i = 0; i < big.length; i += 65536) yield big.subarray(i, i + 65536);
            })(),
          ),
          headers: { 'content-length': String(big.length) },
        });
        expect(await text(put.body)).toBe(createHash('sha256').update(big).digest('hex'));
      } finally {
        await sink.close();
      }
    } finally {
      await t.close();
    }
  });
});
