// Public API of @hepix/transport: named re-exports only.
export type { RequestBody } from './body.js';
export {
  classifyTransportError,
  TRANSPORT_ERROR_CODES,
  TransportError,
  type TransportErrorCode,
  type TransportErrorContext,
} from './errors.js';
export { bypassesProxy, proxyFor } from './proxy.js';
export {
  createTransport,
  type RequestOptions,
  type Transport,
  type TransportOptions,
  type TransportResponse,
} from './transport.js';
export { type ClientCertificate, readCaDirectory, type TlsTrust } from './trust.js';
export { type Credentials, redactUrl } from './url.js';
