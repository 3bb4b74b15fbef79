// The transport's one error class and its one classifier. Every failure of a request (before or after the
// response headers, in the body too) reaches the caller as a TransportError whose `code` says what kind of
// failure it was; the low-level error is kept in `cause` and its code in `underlyingCode`.
import { assignDefined, HepixError } from '@hepix/common';

export const TRANSPORT_ERROR_CODES = [
  /** Not an http(s) URL, or a proxy variable that is not a URL. */
  'ERR_TRANSPORT_URL',
  /** The server broke HTTP: an unparsable response, a redirect without `Location`. */
  'ERR_TRANSPORT_PROTOCOL',
  /** A redirect refused by the policy (https→http, another scheme, too many). */
  'ERR_TRANSPORT_REDIRECT',
  /** The TLS handshake failed or the server was not authenticated (unknown CA, host name, expired, …). */
  'ERR_TRANSPORT_TLS',
  /** No connection (refused, name unknown, unreachable) or the connection was lost. */
  'ERR_TRANSPORT_CONNECT',
  /** The proxy refused the tunnel or asked for authentication. */
  'ERR_TRANSPORT_PROXY',
  /** Connecting, or waiting for the headers or for the next body bytes, took longer than allowed. */
  'ERR_TRANSPORT_TIMEOUT',
  /** The request's absolute deadline passed (headers or body). */
  'ERR_TRANSPORT_DEADLINE',
  /** The caller's signal aborted the request, or the transport was closed under it. */
  'ERR_TRANSPORT_ABORTED',
  /** Trust material cannot be used: an empty or unreadable CA directory, a bad client certificate or key. */
  'ERR_TRANSPORT_TRUST',
  /** The request body failed while it was sent, or a redirect needs it again and it cannot be resent. */
  'ERR_TRANSPORT_BODY',
  /** Anything unexpected. */
  'ERR_TRANSPORT_INTERNAL',
] as const;
export type TransportErrorCode = (typeof TRANSPORT_ERROR_CODES)[number];

export interface TransportErrorContext {
  /** The URL concerned (the hop that failed), without user info. */
  url?: string;
  /** The HTTP status of the response concerned (a redirect that was refused). */
  httpStatus?: number;
  /** Where a refused redirect pointed (password redacted). */
  location?: string;
  /** The code of the low-level error (`CERT_HAS_EXPIRED`, `ECONNREFUSED`, `UND_ERR_BODY_TIMEOUT`, …). */
  underlyingCode?: string;
  cause?: unknown;
}

export class TransportError extends HepixError<TransportErrorCode> {
  override readonly name = 'TransportError';
  readonly url?: string;
  readonly httpStatus?: number;
  readonly location?: string;
  readonly underlyingCode?: string;

  constructor(code: TransportErrorCode, message: string, context: TransportErrorContext = {}) {
    const { cause, ...fields } = context;
    super(code, message, { cause });
    assignDefined<TransportError>(this, fields);
  }
}

// OpenSSL verification results and Node's TLS errors. Anything starting with ERR_SSL_/ERR_TLS_/CERT_ is TLS too.
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'EPROTO',
  'UND_ERR_PRX_TLS',
]);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
]);
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const ABORT_CODES = new Set(['ABORT_ERR', 'UND_ERR_ABORTED', 'UND_ERR_DESTROYED']);
const PROTOCOL_CODES = new Set([
  'UND_ERR_INFO',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_EXCEEDED_MAX_SIZE',
  'UND_ERR_HEADERS_OVERFLOW',
  'HPE_INVALID_CONSTANT',
  'ERR_INVALID_HTTP_RESPONSE',
]);

function codeKind(code: string): TransportErrorCode | undefined {
  if ((TRANSPORT_ERROR_CODES as readonly string[]).includes(code)) return code as TransportErrorCode;
  if (TIMEOUT_CODES.has(code)) return 'ERR_TRANSPORT_TIMEOUT';
  if (TLS_CODES.has(code) || /^(ERR_SSL_|ERR_TLS_|CERT_|ERR_OSSL_)/.test(code)) return 'ERR_TRANSPORT_TLS';
  if (CONNECT_CODES.has(code)) return 'ERR_TRANSPORT_CONNECT';
  if (ABORT_CODES.has(code)) return 'ERR_TRANSPORT_ABORTED';
  if (PROTOCOL_CODES.has(code) || code.startsWith('HPE_')) return 'ERR_TRANSPORT_PROTOCOL';
  if (code === 'ERR_INVALID_URL') return 'ERR_TRANSPORT_URL';
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return 'ERR_TRANSPORT_BODY';
  return undefined;
}

/** The errors below `err`: its cause chain, and the members of an AggregateError (happy-eyeballs connects). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const queue: unknown[] = [err];
  while (queue.length && out.length < 16) {
    const e = queue.shift();
    if (e === null || typeof e !== 'object' || out.includes(e)) continue;
    out.push(e);
    const { cause, errors } = e as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return out;
}

/** The kind of an error and the low-level code it was decided on. */
export function inspectError(err: unknown): { code: TransportErrorCode; underlyingCode?: string } {
  if (err instanceof TransportError) {
    return err.underlyingCode === undefined
      ? { code: err.code }
      : { code: err.code, underlyingCode: err.underlyingCode };
  }
  const errors = chain(err);
  const codes = errors
    .map((e) => (e as { code?: unknown }).code)
    .filter((c): c is string => typeof c === 'string');
  // A TLS failure anywhere below wins: undici reports it wrapped in socket or proxy errors.
  const tls = codes.find((c) => codeKind(c) === 'ERR_TRANSPORT_TLS');
  if (tls) return { code: 'ERR_TRANSPORT_TLS', underlyingCode: tls };
  for (const c of codes) {
    const kind = codeKind(c);
    if (kind) return { code: kind, underlyingCode: c };
  }
  if (errors.some((e) => (e as { name?: unknown }).name === 'AbortError'))
    return { code: 'ERR_TRANSPORT_ABORTED', underlyingCode: 'AbortError' };
  return codes.length
    ? { code: 'ERR_TRANSPORT_INTERNAL', underlyingCode: codes[0] }
    : { code: 'ERR_TRANSPORT_INTERNAL' };
}

/**
 * The one classifier of transport failures: TLS (certificate errors, host name mismatch, self-signed, handshake),
 * timeout, connect (refused, DNS, lost connection), aborted, protocol, … over undici's, Node's and OpenSSL's
 * error codes anywhere in the cause chain. A TransportError keeps its own code.
 */
export function classifyTransportError(err: unknown): TransportErrorCode {
  return inspectError(err).code;
}
