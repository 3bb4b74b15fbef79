// Real HTTP(S) servers and a forward proxy on 127.0.0.1 (random free ports), for retrieval and download tests.
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';

interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 at a free port; `close` also ends open connections (keep-alive, tunnels). */
function listen(server: Server, scheme: string, sockets = new Set<Socket>()): Promise<Listening> {
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  server.on('connection', track);
  server.on('secureConnection', track);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `${scheme}://127.0.0.1:${port}`,
        port,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  url: string;
  port: number;
  routes: Map<string, Route>;
  requests: { url: string; authorization?: string }[];
  /** Serves fixed bytes at a path (replacing what was there). */
  serve(path: string, body: Uint8Array | string, status?: number): void;
  close(): Promise<void>;
}

async function routed(server: Server, scheme: string): Promise<TestServer> {
  const routes = new Map<string, Route>();
  const requests: TestServer['requests'] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.get(req.url ?? '') ?? routes.get(path);
    if (!route) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    route(req, res);
  });
  const l = await listen(server, scheme);
  return {
    ...l,
    routes,
    requests,
    serve(path, body, status = 200) {
      routes.set(path, (_req, res) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/octet-stream');
        res.end(Buffer.from(body));
      });
    },
  };
}

/** An HTTPS server with routes (exact path with query first, then the path alone). */
export function startHttpsServer(cert: string, key: string): Promise<TestServer> {
  return routed(createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }), 'https');
}

/** An HTTP server with routes. */
export function startHttpServer(): Promise<TestServer> {
  return routed(createHttpServer(), 'http');
}

export interface TestProxy {
  url: string;
  /** host:port targets tunnelled (CONNECT) or absolute URLs forwarded. */
  seen: string[];
  close(): Promise<void>;
}

/** A minimal forward proxy: CONNECT tunnels and absolute-form plain-http requests. */
export async function startProxy(): Promise<TestProxy> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((req, res) => {
    seen.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const upstream = connect(Number(target.port || 80), target.hostname, () => {
      upstream.write(
        `${req.method} ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\nconnection: close\r\n`,
      );
      for (const [k, v] of Object.entries(req.headers)) {
        if (['host', 'connection', 'proxy-connection'].includes(k)) continue;
        upstream.write(`${k}: ${v}\r\n`);
      }
      upstream.write('\r\n');
      req.pipe(upstream);
      upstream.pipe(res.socket as Socket);
    });
    upstream.on('error', () => res.destroy());
  });
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  const l = await listen(server, 'http', sockets);
  return { url: l.url, seen, close: l.close };
}

export interface ServedImage {
  data: Buffer;
  /** Serve these bytes instead (corruption). */
  body?: Buffer;
  /** Close the connection after this many body bytes, for the next `dropTimes` requests. */
  dropAfter?: number;
  dropTimes?: number;
  /** Bytes per second (throttles the response, for kill tests). */
  rate?: number;
}

export interface ImageServer {
  url: string;
  images: Map<string, ServedImage>;
  /** Honour `Range` requests (switchable). */
  range: boolean;
  requests: { path: string; range?: string; status: number }[];
  /** path → Location of a 302 answer. */
  redirects: Map<string, string>;
  close(): Promise<void>;
}

/** A file server for image downloads: `Range: bytes=N-`, redirects, dropped connections, throttling. */
export async function startImageServer(tls?: { cert: Buffer; key: Buffer }): Promise<ImageServer> {
  const state: ImageServer = {
    url: '',
    images: new Map(),
    range: true,
    requests: [],
    redirects: new Map(),
    close: async () => {},
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const location = state.redirects.get(path);
    if (location) {
      res.statusCode = 302;
      res.setHeader('location', location);
      res.end();
      state.requests.push({ path, status: 302 });
      return;
    }
    const image = state.images.get(path);
    if (!image) {
      res.statusCode = 404;
      res.end();
      state.requests.push({ path, status: 404 });
      return;
    }
    const body = image.body ?? image.data;
    let start = 0;
    const range = req.headers.range;
    if (state.range) res.setHeader('accept-ranges', 'bytes');
    if (range && state.range) {
      const m = /^bytes=(\d+)-$/.exec(range);
      start = m ? Number(m[1]) : 0;
      if (start >= body.length) {
        res.statusCode = 416;
        res.setHeader('content-range', `bytes */${body.length}`);
        res.end();
        state.requests.push({ path, range, status: 416 });
        return;
      }
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    } else {
      res.statusCode = 200;
    }
    state.requests.push({ path, ...(range ? { range } : {}), status: res.statusCode });
    const rest = body.subarray(start);
    res.setHeader('content-length', rest.length);
    const drop = image.dropAfter !== undefined && (image.dropTimes ?? 1) > 0;
    if (drop) image.dropTimes = (image.dropTimes ?? 1) - 1;
    const limit = drop ? Math.min(image.dropAfter!, rest.length) : rest.length;
    const chunk = 64 * 1024;
    let sent = 0;
    const pump = () => {
      while (sent < limit) {
        const piece = rest.subarray(sent, Math.min(limit, sent + chunk));
        sent += piece.length;
        const more = res.write(piece);
        if (image.rate) {
          setTimeout(pump, (piece.length / image.rate) * 1000);
          return;
        }
        if (!more) {
          res.once('drain', pump);
          return;
        }
      }
      // Drop only once the bytes sent so far have left, so the client really has them.
      if (drop && limit < rest.length) res.write('', () => res.socket?.destroy());
      else res.end();
    };
    pump();
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  const l = await listen(server, tls ? 'https' : 'http');
  state.url = l.url;
  state.close = l.close;
  return state;
}
