// Large downloads (`bulk: true`: images of 1–10 GB) over plain http: a GET on a connection of its own, read with large socket
// reads into one buffer that is reused (net/tls `onread`), parsed here. undici (and node:http) read the socket in
// 64 KiB chunks, each a fresh buffer, and undici copies each into its WebAssembly parser and concatenates
// buffered ones: measured on loopback, 2.2–2.6 CPU s per GiB against 0.9–1.2 for this path, and about 40 MiB
// of garbage socket buffers in the peak RSS (issue 14). Only what an image GET needs is implemented:
// HTTP/1.1, one request per connection (`Connection: close`), bodies delimited by Content-Length, chunked
// encoding or the end of the connection. Redirects, deadlines and errors stay the transport's. https stays on
// undici: Node documents `onread` for net sockets only.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { whenConnected } from './engine-continue.js';
import { BODY_HIGH_WATER_MARK, type EngineResponse, type ErrorWrapper, type Hop } from './engine-undici.js';
import { hostOf, portOf } from './url.js';

export interface BulkOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Sockets of bulk requests still open: the transport's close() destroys them. */
  live: Set<Socket>;
  /** The caller's memory for the next socket read (see RequestOptions.readInto); undefined: the engine's own. */
  readInto?: (() => Uint8Array | undefined) | undefined;
}

/** One socket read at most: a whole slot of the image cache's byte path. */
const READ_BYTES = 1 << 20;

/**
 * A read while the caller lends no memory (every slot of an image cache is being written or hashed): small, and
 * the last one until the consumer reads on, so that little is copied out of it into the caller's memory later.
 */
const STARVED_READ_BYTES = 16 * 1024;

/** The status line and headers of a response, at most. */
const MAX_HEAD_BYTES = 64 * 1024;

/** A failure with Node's code, for the transport's one classifier (which adds the URL and the message). */
function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function protocolError(message: string): Error {
  return coded(message, 'ERR_INVALID_HTTP_RESPONSE');
}

interface Head {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw protocolError('invalid status line');
  const headers: Record<string, string | string[] | undefined> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // Obsolete line folding and names with spaces are refused, as llhttp does.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw protocolError('invalid header line');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw protocolError('invalid header value');
    const had = headers[name];
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return { status: Number(m[1]), headers };
}

/** How the body ends: after `length` bytes, at the last chunk, or when the server closes. */
type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

function framing(head: Head): Framing {
  if (head.status === 204 || head.status === 304) return { kind: 'length', left: 0 };
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) {
    const codings = (Array.isArray(te) ? te.join(',') : te).split(',').map((c) => c.trim().toLowerCase());
    return codings.at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const cl = head.headers['content-length'];
  if (cl === undefined) return { kind: 'close' };
  const values = new Set((Array.isArray(cl) ? cl.join(',') : cl).split(',').map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only))
    throw protocolError('invalid Content-Length');
  return { kind: 'length', left: Number(only) };
}

/** Decodes chunked transfer coding incrementally; hands data bytes on, skips sizes, extensions and trailers. */
class Dechunker {
  #state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  #line = '';
  #left = 0;

  get done(): boolean {
    return this.#state === 'done';
  }

  /** Feeds `bytes`; `emit` gets the data parts (views of `bytes`). */
  feed(bytes: Buffer, emit: (data: Buffer) => void): void {
    let i = 0;
    while (i < bytes.length && this.#state !== 'done') {
      if (this.#state === 'data') {
        const n = Math.min(this.#left, bytes.length - i);
        emit(bytes.subarray(i, i + n));
        i += n;
        this.#left -= n;
        if (this.#left === 0) this.#state = 'data-end';
        continue;
      }
      // The other states read lines.
      const nl = bytes.indexOf(10, i);
      const end = nl < 0 ? bytes.length : nl;
      this.#line += bytes.toString('latin1', i, end);
      if (this.#line.length > 8192) throw protocolError('chunk line too long');
      i = nl < 0 ? bytes.length : nl + 1;
      if (nl < 0) return;
      const line = this.#line.replace(/\r$/, '');
      this.#line = '';
      if (this.#state === 'size') {
        const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(line);
        if (!m) throw protocolError('invalid chunk size');
        this.#left = Number.parseInt(m[1]!, 16);
        this.#state = this.#left === 0 ? 'trailer' : 'data';
      } else if (this.#state === 'data-end') {
        if (line !== '') throw protocolError('chunk not followed by CRLF');
        this.#state = 'size';
      } else if (line === '') {
        this.#state = 'done';
      }
    }
  }
}

function connect(
  hop: Hop,
  o: BulkOptions,
  signal: AbortSignal,
  buffer: () => Uint8Array,
  onread: (n: number, buf: Buffer) => boolean,
) {
  return opened(
    netConnect({ host: hostOf(hop.url), port: portOf(hop.url), onread: { buffer, callback: onread } }),
    o,
    signal,
  );
}

async function opened(s: Socket, o: BulkOptions, signal: AbortSignal): Promise<Socket> {
  o.live.add(s);
  try {
    await whenConnected(s, 'connect', o.connectTimeoutMs, signal);
  } catch (err) {
    o.live.delete(s);
    s.destroy();
    throw err;
  }
  return s;
}

/** Sends a plain-http GET without body directly to the origin (no proxy) and reads the response as described above. */
export function bulkGet(
  hop: Hop,
  o: BulkOptions,
  signal: AbortSignal,
  wrap: ErrorWrapper,
): Promise<EngineResponse> {
  return new Promise<EngineResponse>((resolve, reject) => {
    let socket: Socket | undefined;
    let body: Readable | undefined;
    let finished = false;
    let head: Buffer[] = [];
    let headBytes = 0;
    let frame: Framing | undefined;
    let chunks: Dechunker | undefined;
    let paused = false;
    let holding = false;

    const cleanup = () => {
      signal.removeEventListener('abort', onAbort);
      if (socket) o.live.delete(socket);
    };
    const fail = (err: unknown) => {
      if (finished) return;
      finished = true;
      cleanup();
      socket?.destroy();
      if (!body) reject(wrap(err, 'request'));
      else body.destroy(wrap(err, 'request'));
    };
    const end = () => {
      if (finished) return;
      finished = true;
      cleanup();
      socket?.destroy(); // one request per connection
      body?.push(null);
    };
    function onAbort() {
      fail(signal.reason);
    }
    if (signal.aborted) {
      reject(wrap(signal.reason, 'request'));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });

    // The engine's read buffer is reused for the next read: what is pushed from it is a copy. Memory the caller
    // lent is the caller's to reuse: a view of it is pushed, without a copy. A caller that lends memory but has
    // none free just now gets a small read into a fresh buffer (pushed as it is), after which the socket waits:
    // the body then buffers nothing ahead (high-water mark 0), so the socket reads on only when the consumer
    // does, and the bytes land in the caller's memory again.
    const own = o.readInto ? undefined : Buffer.allocUnsafe(READ_BYTES);
    let starved = false;
    const nextBuffer = (): Uint8Array => {
      if (own) return own;
      const lent = o.readInto!();
      starved = lent === undefined || lent.byteLength === 0;
      return starved ? Buffer.allocUnsafe(STARVED_READ_BYTES) : lent!;
    };
    // Pushes body bytes; remembers when the consumer wants no more for now.
    const deliver = (data: Buffer) => {
      if (data.length > 0 && !body!.push(own ? Buffer.from(data) : data)) paused = true;
    };
    const onBody = (bytes: Buffer) => {
      const f = frame!;
      if (f.kind === 'length') {
        const n = Math.min(f.left, bytes.length);
        deliver(bytes.subarray(0, n));
        f.left -= n;
        if (f.left === 0) end();
      } else if (f.kind === 'chunked') {
        chunks!.feed(bytes, deliver);
        if (chunks!.done) end();
      } else deliver(bytes);
    };
    const onHead = (bytes: Buffer) => {
      head.push(Buffer.from(bytes));
      headBytes += bytes.length;
      const all = head.length === 1 ? head[0]! : Buffer.concat(head);
      head = [all];
      const at = all.indexOf('\r\n\r\n');
      if (at < 0 ? headBytes > MAX_HEAD_BYTES : at > MAX_HEAD_BYTES)
        throw protocolError('response headers too large');
      if (at < 0) return;
      const parsed = parseHead(all.toString('latin1', 0, at));
      const rest = all.subarray(at + 4);
      head = [];
      headBytes = 0;
      if (parsed.status < 200) {
        // Informational (103 Early Hints, a stray 100): the final response follows.
        if (rest.length > 0) onHead(rest);
        return;
      }
      frame = framing(parsed);
      if (frame.kind === 'chunked') chunks = new Dechunker();
      body = new Readable({
        highWaterMark: own ? BODY_HIGH_WATER_MARK : 0,
        read() {
          if (paused) {
            paused = false;
            if (!holding) socket?.resume();
          }
        },
        destroy(err, callback) {
          // The consumer gave up on the body: the connection goes.
          if (!finished) {
            finished = true;
            cleanup();
            socket?.destroy();
          }
          callback(err);
        },
      });
      resolve({ status: parsed.status, headers: parsed.headers, body, bodySent: false });
      if (frame.kind === 'length' && frame.left === 0) {
        end();
        return;
      }
      if (rest.length === 0) return;
      // The bytes after the headers wait until the caller had the response and its chance to listen for
      // errors; the socket waits with them (they are a view of the read buffer, which the next read reuses).
      const early = Buffer.from(rest);
      holding = true;
      setImmediate(() => {
        holding = false;
        if (finished) return;
        try {
          onBody(early);
        } catch (err) {
          fail(err);
          return;
        }
        if (!paused && !finished) socket?.resume();
      });
    };
    const onread = (n: number, buf: Buffer): boolean => {
      if (finished) return false;
      try {
        const bytes = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (frame) onBody(bytes);
        else onHead(bytes);
        if (starved && frame) paused = true;
      } catch (err) {
        fail(err);
        return false;
      }
      return !paused && !holding;
    };

    connect(hop, o, signal, nextBuffer, onread).then((s) => {
      socket = s;
      if (finished) {
        s.destroy();
        return;
      }
      s.setTimeout(o.idleTimeoutMs, () => fail(coded(`No data for ${o.idleTimeoutMs} ms`, 'ETIMEDOUT')));
      s.on('error', fail);
      s.on('end', () => {
        if (frame?.kind === 'close') end();
        else fail(coded('The connection closed before the response ended', 'ECONNRESET'));
      });
      s.on('close', () => fail(coded('The connection closed before the response ended', 'ECONNRESET')));
      const lines = [`GET ${hop.url.pathname}${hop.url.search} HTTP/1.1`, `host: ${hop.url.host}`];
      try {
        for (const [name, value] of Object.entries(hop.headers)) {
          if (name === 'connection') continue;
          validateHeaderName(name);
          validateHeaderValue(name, value);
          lines.push(`${name}: ${value}`);
        }
      } catch (err) {
        fail(err);
        return;
      }
      lines.push('connection: close', '', '');
      s.write(lines.join('\r\n'));
    }, fail);
  });
}
