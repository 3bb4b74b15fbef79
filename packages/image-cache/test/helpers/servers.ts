// Real HTTP(S) servers and a CONNECT proxy on 127.0.0.1 for the retrieval tests.
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';

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

function wrap(server: Server, scheme: string): Promise<TestServer> {
  const routes = new Map<string, Route>();
  const requests: TestServer['requests'] = [];
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
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
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `${scheme}://127.0.0.1:${port}`,
        port,
        routes,
        requests,
        serve(path, body, status = 200) {
          routes.set(path, (_req, res) => {
            res.statusCode = status;
            res.setHeader('content-type', 'application/octet-stream');
            res.end(Buffer.from(body));
          });
        },
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export function startHttpsServer(cert: string, key: string): Promise<TestServer> {
  return wrap(createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }), 'https');
}

export function startHttpServer(): Promise<TestServer> {
  return wrap(createHttpServer(), 'http');
}

export interface TestProxy {
  url: string;
  /** host:port targets tunnelled (CONNECT) or absolute URLs forwarded. */
  seen: string[];
  close(): Promise<void>;
}

/** A minimal forward proxy: CONNECT tunnels and absolute-form plain-http requests. */
export function startProxy(): Promise<TestProxy> {
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
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
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
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        seen,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
