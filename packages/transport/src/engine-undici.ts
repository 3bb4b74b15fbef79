// One HTTP exchange over an undici dispatcher, with a handler of our own: the response body is a Readable fed
// straight from undici's chunks (no intermediate stream, no copy), paused and resumed with backpressure, and
// every failure, before or after the headers, arrives as a TransportError.
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { BodySource } from './body.js';
import type { TransportError } from './errors.js';

export interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: BodySource;
  /** The proxy URL, if the hop goes through one. */
  proxy?: string;
}

export interface EngineResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** Whether the request body was handed to the connection (it cannot be reused if it was a stream). */
  bodySent: boolean;
}

/** Response bytes buffered before the connection is paused: enough not to toggle per TLS record, little per transfer. */
export const BODY_HIGH_WATER_MARK = 256 * 1024;

/** The wrapper of raw failures: gives them a code and the hop's context. */
export type ErrorWrapper = (err: unknown, phase: 'request' | 'body') => TransportError;

export function dispatchHop(
  dispatcher: Dispatcher,
  hop: Hop,
  signal: AbortSignal,
  wrap: ErrorWrapper,
): Promise<EngineResponse> {
  return new Promise<EngineResponse>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let body: Readable | undefined;
    let finished = false;
    let requestBody: Buffer | Readable | undefined;
    let bodyFailure: unknown;

    const cleanup = () => signal.removeEventListener('abort', onAbort);
    const fail = (err: unknown) => {
      cleanup();
      if (!body) {
        reject(wrap(err, err === bodyFailure ? 'body' : 'request'));
      } else if (!finished) {
        finished = true;
        body.destroy(wrap(err, 'request'));
      }
    };
    function onAbort() {
      controller?.abort(signal.reason);
      fail(signal.reason);
    }
    if (signal.aborted) {
      reject(wrap(signal.reason, 'request'));
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      requestBody = hop.body?.take();
    } catch (err) {
      cleanup();
      reject(wrap(err, 'body'));
      return;
    }
    if (requestBody instanceof Readable) {
      requestBody.once('error', (err) => {
        bodyFailure = err;
      });
    }

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (signal.aborted) c.abort(signal.reason);
      },
      onResponseStart(c, statusCode, headers) {
        if (statusCode < 200) return; // informational: the final response follows
        body = new Readable({
          highWaterMark: BODY_HIGH_WATER_MARK,
          read() {
            c.resume();
          },
          destroy(err, callback) {
            // The consumer gave up on the body: the connection cannot be reused, undici closes it.
            if (!finished) {
              finished = true;
              cleanup();
              c.abort(err ?? new Error('response body destroyed'));
            }
            callback(err);
          },
        });
        resolve({ status: statusCode, headers, body, bodySent: requestBody !== undefined });
      },
      // Both can come without a response of ours: undici's proxy wrapper turns a 407 into an error and lets
      // the exchange run on.
      onResponseData(c, chunk) {
        if (body && !finished && !body.push(chunk)) c.pause();
      },
      onResponseEnd() {
        if (!body || finished) return;
        finished = true;
        cleanup();
        // undici hands the connection back to its pool in a setImmediate queued after this call: ending the
        // body after it lets a request made on 'end' (the next list, the next hop) reuse the connection
        // instead of opening another one.
        setImmediate(() => setImmediate(() => body?.push(null)));
      },
      onResponseError(_c, err) {
        fail(err);
      },
    };
    dispatcher.dispatch(
      {
        origin: hop.url.origin,
        path: `${hop.url.pathname}${hop.url.search}`,
        method: hop.method as Dispatcher.HttpMethod,
        headers: hop.headers,
        body: requestBody ?? null,
      },
      handler,
    );
  });
}
