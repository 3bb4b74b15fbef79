// Real servers on 127.0.0.1 for the transport tests: http and https origins, and a proxy that tunnels CONNECT
// and forwards absolute-form plain-http requests, as squid does.
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { expect } from 'vitest';
import { TransportError } from '../../src/index.js';
import type { KeyPair } from './pki.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  /** CN of the verified client certificate, if any. */
  peer?: string;
  /** Which connection of the server it came on (1, 2, …). */
  connection: number;
}

export interface TestServer {
  url: string;
  origin: string;
  port: number;
  seen: SeenRequest[];
  /** Routes by path (query string ignored); unknown paths answer 404. */
  routes: Map<string, Handler>;
  server: Server;
  close(): Promise<void>;
}

export interface ServerOptions {
  tls?: KeyPair & { ca?: string; requestCert?: boolean };
  /** `checkContinue` handler: requests with `Expect: 100-continue` (default: accept them). */
  checkContinue?: Handler;
}

function track(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  const add = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  server.on('connection', add);
  server.on('secureConnection', add);
  return sockets;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const routes = new Map<string, Handler>();
  const seen: SeenRequest[] = [];
  const connections = new WeakMap<Socket, number>();
  let count = 0;
  const handle: Handler = (req, res) => {
    const socket = req.socket as TLSSocket;
    if (!connections.has(socket)) connections.set(socket, ++count);
    const peer =
      options.tls && socket.authorized ? String(socket.getPeerCertificate().subject?.CN ?? '') : undefined;
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      connection: connections.get(socket)!,
      ...(peer ? { peer } : {}),
    });
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (route) route(req, res);
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  };
  const server: Server = options.tls
    ? createHttpsServer(
        {
          cert: readFileSync(options.tls.cert),
          key: readFileSync(options.tls.key),
          ...(options.tls.ca
            ? { ca: readFileSync(options.tls.ca), requestCert: true, rejectUnauthorized: false }
            : {}),
        },
        handle,
      )
    : createHttpServer(handle);
  if (options.checkContinue) server.on('checkContinue', options.checkContinue);
  else
    server.on('checkContinue', (req, res) => {
      res.writeContinue();
      handle(req, res);
    });
  const sockets = track(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const origin = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url: `${origin}/`,
    origin,
    port,
    seen,
    routes,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Answers with these bytes. */
export function send(body: string | Buffer, status = 200, headers: Record<string, string> = {}): Handler {
  return (req, res) => {
    req.resume();
    res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
}

/** Answers with a redirect. */
export function redirect(location: string, status = 302): Handler {
  return (req, res) => {
    req.resume();
    res.writeHead(status, { location, 'content-length': 0 });
    res.end();
  };
}

/** Echoes the method, the Authorization header and the request body. */
export const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      authorization: req.headers.authorization ?? null,
      contentType: req.headers['content-type'] ?? null,
      body: Buffer.concat(chunks).toString(),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

export interface TestProxy {
  url: string;
  port: number;
  /** CONNECT authorities (`host:port`) and absolute URLs forwarded, in order. */
  seen: string[];
  /** Proxy-Authorization headers received. */
  authorizations: (string | undefined)[];
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Answer every CONNECT with this status instead of a tunnel. */
  refuseConnect?: number;
  /** Require this Proxy-Authorization value (407 otherwise). */
  requireAuthorization?: string;
}

export async function startProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const seen: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const authorised = (req: IncomingMessage) => {
    authorizations.push(req.headers['proxy-authorization']);
    return (
      !options.requireAuthorization || req.headers['proxy-authorization'] === options.requireAuthorization
    );
  };
  const server = createHttpServer((req, res) => {
    seen.push(req.url ?? '');
    if (!authorised(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', 'content-length': 0 }).end();
      return;
    }
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port || 80,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    seen.push(req.url ?? '');
    if (!authorised(req)) {
      socket.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm="test"\r\ncontent-length: 0\r\n\r\n',
      );
      return;
    }
    if (options.refuseConnect) {
      socket.end(`HTTP/1.1 ${options.refuseConnect} Refused\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const url = new URL(`http://${req.url}`);
    const upstream = connect(Number(url.port), url.hostname.replace(/^\[(.*)\]$/, '$1'), () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
  });
  const sockets = track(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    authorizations,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Reads a whole body. */
export async function text(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** The TransportError `p` rejects with, after checking its code. */
export async function failure(p: Promise<unknown>, code: string): Promise<TransportError> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(TransportError);
  expect(err.code, err.message).toBe(code);
  return err as unknown as TransportError;
}
