import { Readable } from 'node:stream';
import { TransportError } from './errors.js';

/**
 * A request body: bytes, a stream (sent once), or a function opening a fresh stream each time the body must be
 * sent (after a redirect, or for the one retry on a stale connection); it may throw to refuse a resend.
 */
export type RequestBody = Readable | Uint8Array | string | (() => Readable);

/** A request body as the engines take it: opened only when it is really sent. */
export class BodySource {
  #bytes: Buffer | undefined;
  #stream: Readable | undefined;
  #open: (() => Readable) | undefined;
  #taken = false;

  constructor(body: RequestBody) {
    if (typeof body === 'string') this.#bytes = Buffer.from(body);
    else if (body instanceof Readable) this.#stream = body;
    else if (typeof body === 'function') this.#open = body;
    else this.#bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }

  /** The byte length when it is known without reading. */
  get length(): number | undefined {
    return this.#bytes?.length;
  }

  /** Whether the body can be sent (again) now. */
  get available(): boolean {
    return !(this.#stream && this.#taken);
  }

  /** Whether the body can be sent any number of times. */
  get replayable(): boolean {
    return this.#stream === undefined;
  }

  /** The body to send now; ERR_TRANSPORT_BODY when a stream was already sent or the opener refuses. */
  take(): Buffer | Readable {
    if (this.#bytes) return this.#bytes;
    if (this.#stream) {
      if (this.#taken) {
        throw new TransportError(
          'ERR_TRANSPORT_BODY',
          'The request body stream was already sent; it cannot be resent',
        );
      }
      this.#taken = true;
      return this.#stream;
    }
    try {
      return this.#open!();
    } catch (cause) {
      throw new TransportError(
        'ERR_TRANSPORT_BODY',
        `The request body cannot be opened: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  }
}
