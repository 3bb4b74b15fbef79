// `Expect: 100-continue` requests (uploads: a dCache door redirects a PUT to a pool, a server refuses, before the
// body is sent). undici does not implement 100-continue over HTTP/1.1, so these go through node:http on a
// connection of our own: direct, or a CONNECT tunnel through the same proxy, with the same secure context and
// verification as every other request. One connection per request (uploads are few and large).
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { BODY_HIGH_WATER_MARK, type EngineResponse, type ErrorWrapper, type Hop } from './engine-undici.js';
import { TransportError } from './errors.js';
import type { ResolvedTls } from './trust.js';
import { hostOf, portOf, redactUrl } from './url.js';

export interface ContinueOptions {
  tls: ResolvedTls | undefined;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** How long to wait for `100 Continue` before sending the body anyway (servers that ignore Expect). */
  continueTimeoutMs: number;
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username && !proxy.password) return {};
  const token = Buffer.from(
    `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`,
  ).toString('base64');
  return { 'proxy-authorization': `Basic ${token}` };
}

/** Resolves once `socket` is connected (TLS: handshake done and verified), within the connect timeout. */
export function whenConnected(socket: Socket, event: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = new TransportError('ERR_TRANSPORT_TIMEOUT', `No connection within ${ms} ms`, {
        underlyingCode: 'ETIMEDOUT',
      });
      socket.destroy(err);
    }, ms);
    const done = (err?: unknown) => {
      clearTimeout(timer);
      socket.off(event, onConnect);
      socket.off('error', done);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = () => done();
    const onAbort = () => socket.destroy(signal.reason);
    socket.once(event, onConnect);
    socket.once('error', done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Opens a TCP (or TLS, for an https proxy) connection to the proxy and asks it for a tunnel to host:port. */
function tunnel(
  proxy: URL,
  host: string,
  port: number,
  o: ContinueOptions,
  signal: AbortSignal,
): Promise<Socket> {
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const request = proxy.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Socket>((resolve, reject) => {
    const req = request({
      host: hostOf(proxy),
      port: portOf(proxy),
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyAuthorization(proxy) },
      timeout: o.connectTimeoutMs,
      signal,
    });
    req.once('connect', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(
          new TransportError(
            'ERR_TRANSPORT_PROXY',
            `The proxy '${redactUrl(proxy.href)}' refused a tunnel to ${authority} (HTTP ${res.statusCode})`,
            { httpStatus: res.statusCode },
          ),
        );
        return;
      }
      if (head.length) socket.unshift(head);
      socket.setTimeout(0); // the connect timeout ends here; the request's idle timeout takes over
      resolve(socket);
    });
    req.once('timeout', () =>
      req.destroy(
        new TransportError(
          'ERR_TRANSPORT_TIMEOUT',
          `No tunnel from the proxy within ${o.connectTimeoutMs} ms`,
          {
            underlyingCode: 'ETIMEDOUT',
          },
        ),
      ),
    );
    req.once('error', (err) => reject(signal.aborted ? signal.reason : err));
    req.end();
  });
}

/** A TCP connection to host:port, or TLS with the system roots for an https proxy. */
async function connectTo(
  host: string,
  port: number,
  tlsProxy: boolean,
  o: ContinueOptions,
  signal: AbortSignal,
) {
  if (tlsProxy) {
    const s = tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) });
    await whenConnected(s, 'secureConnect', o.connectTimeoutMs, signal);
    return s;
  }
  const s = netConnect({ host, port });
  await whenConnected(s, 'connect', o.connectTimeoutMs, signal);
  return s;
}

/** The connection for one request: to the origin, through a tunnel, or to a forward proxy (plain http). */
async function openConnection(hop: Hop, o: ContinueOptions, signal: AbortSignal): Promise<Socket> {
  const host = hostOf(hop.url);
  const port = portOf(hop.url);
  const https = hop.url.protocol === 'https:';
  const proxy = hop.proxy ? new URL(hop.proxy) : undefined;
  let raw: Socket;
  if (proxy && https) raw = await tunnel(proxy, host, port, o, signal);
  else if (proxy) raw = await connectTo(hostOf(proxy), portOf(proxy), proxy.protocol === 'https:', o, signal);
  else raw = await connectTo(host, port, false, o, signal);
  if (!https) return raw;
  const tls = o.tls!;
  const secure: TLSSocket = tlsConnect({
    socket: raw,
    host, // the name the certificate is checked against (an IP literal is checked against IP SANs)
    ...(isIP(host) ? {} : { servername: host }),
    secureContext: tls.secureContext,
    rejectUnauthorized: tls.rejectUnauthorized,
  });
  await whenConnected(secure, 'secureConnect', o.connectTimeoutMs, signal);
  return secure;
}

export function sendWithContinue(
  hop: Hop,
  o: ContinueOptions,
  signal: AbortSignal,
  wrap: ErrorWrapper,
): Promise<EngineResponse> {
  return new Promise<EngineResponse>((resolve, reject) => {
    let req: ClientRequest | undefined;
    let socket: Socket | undefined;
    let out: Readable | undefined;
    let finished = false;
    let bodyStarted = false;
    let bodyFailure: unknown;
    let source: Readable | undefined;
    let continueTimer: NodeJS.Timeout | undefined;

    const cleanup = () => {
      clearTimeout(continueTimer);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown) => {
      cleanup();
      if (source && bodyStarted) source.unpipe(req);
      req?.destroy();
      socket?.destroy();
      if (!out) reject(wrap(err, err === bodyFailure ? 'body' : 'request'));
      else if (!finished) {
        finished = true;
        out.destroy(wrap(err, 'request'));
      }
    };
    function onAbort() {
      fail(signal.reason);
    }
    if (signal.aborted) {
      reject(wrap(signal.reason, 'request'));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });

    openConnection(hop, o, signal).then((s) => {
      if (signal.aborted) {
        s.destroy();
        return;
      }
      socket = s;
      s.setTimeout(o.idleTimeoutMs, () =>
        s.destroy(
          new TransportError('ERR_TRANSPORT_TIMEOUT', `No data for ${o.idleTimeoutMs} ms`, {
            underlyingCode: 'ETIMEDOUT',
          }),
        ),
      );
      const forward = hop.proxy && hop.url.protocol === 'http:';
      const headers: Record<string, string> = { ...hop.headers, host: hop.url.host, expect: '100-continue' };
      if (forward) Object.assign(headers, proxyAuthorization(new URL(hop.proxy!)));
      const length = hop.body?.length;
      if (length !== undefined) headers['content-length'] = String(length);
      // node:http over the connection made above (TLS already established for https).
      req = httpRequest({
        method: hop.method,
        // A forward proxy gets the absolute URL; an origin (direct or tunnelled) the path.
        path: forward ? hop.url.href : `${hop.url.pathname}${hop.url.search}`,
        headers,
        createConnection: () => s,
      });
      const startBody = () => {
        if (bodyStarted || out || finished) return;
        bodyStarted = true;
        clearTimeout(continueTimer);
        let b: Buffer | Readable | undefined;
        try {
          b = hop.body?.take();
        } catch (err) {
          bodyFailure = err;
          fail(err);
          return;
        }
        if (b === undefined) req!.end();
        else if (Buffer.isBuffer(b)) req!.end(b);
        else {
          source = b;
          b.once('error', (err) => {
            bodyFailure = err;
            fail(err);
          });
          b.pipe(req!);
        }
      };
      req.on('continue', startBody);
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(continueTimer);
        // The server answered before taking the whole body: stop sending; the connection is closed afterwards.
        if (source && !source.readableEnded) source.unpipe(req);
        out = new Readable({
          highWaterMark: BODY_HIGH_WATER_MARK,
          read() {
            res.resume();
          },
          destroy(err, callback) {
            if (!finished) {
              finished = true;
              cleanup();
              req?.destroy();
              s.destroy();
            }
            callback(err);
          },
        });
        res.on('data', (chunk: Buffer) => {
          if (!out!.push(chunk)) res.pause();
        });
        res.on('end', () => {
          finished = true;
          cleanup();
          out!.push(null);
          s.destroy(); // one connection per request
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!finished)
            fail(
              new TransportError('ERR_TRANSPORT_CONNECT', 'The connection closed before the response ended', {
                underlyingCode: 'ECONNRESET',
              }),
            );
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: out, bodySent: bodyStarted });
      });
      if (hop.body) {
        req.flushHeaders();
        continueTimer = setTimeout(startBody, o.continueTimeoutMs);
      } else {
        bodyStarted = true;
        req.end();
      }
    }, fail);
  });
}
