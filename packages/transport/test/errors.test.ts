import { describe, expect, it } from 'vitest';
import {
  classifyTransportError,
  createTransport,
  redactUrl,
  TRANSPORT_ERROR_CODES,
  TransportError,
  type TransportErrorCode,
} from '../src/index.js';
import { rejection } from './helpers/servers.js';

function coded(code: string, cause?: unknown, name = 'Error'): Error {
  const e = new Error(`failure ${code}`, cause === undefined ? undefined : { cause }) as Error & {
    code: string;
  };
  e.code = code;
  e.name = name;
  return e;
}

describe('classifyTransportError', () => {
  const table: [string, unknown, TransportErrorCode][] = [
    ['an unknown CA', coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'ERR_TRANSPORT_TLS'],
    ['a self-signed server', coded('DEPTH_ZERO_SELF_SIGNED_CERT'), 'ERR_TRANSPORT_TLS'],
    ['a self-signed chain', coded('SELF_SIGNED_CERT_IN_CHAIN'), 'ERR_TRANSPORT_TLS'],
    ['a host name mismatch', coded('ERR_TLS_CERT_ALTNAME_INVALID'), 'ERR_TRANSPORT_TLS'],
    ['an expired certificate', coded('CERT_HAS_EXPIRED'), 'ERR_TRANSPORT_TLS'],
    ['a not yet valid certificate', coded('CERT_NOT_YET_VALID'), 'ERR_TRANSPORT_TLS'],
    ['an OpenSSL alert', coded('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'ERR_TRANSPORT_TLS'],
    [
      'a TLS failure inside undici socket errors',
      coded('UND_ERR_SOCKET', coded('CERT_HAS_EXPIRED')),
      'ERR_TRANSPORT_TLS',
    ],
    [
      'a TLS failure through a proxy',
      coded('UND_ERR_PRX_TLS', coded('ERR_TLS_CERT_ALTNAME_INVALID')),
      'ERR_TRANSPORT_TLS',
    ],
    ['a refused connection', coded('ECONNREFUSED'), 'ERR_TRANSPORT_CONNECT'],
    ['an unknown name', coded('ENOTFOUND'), 'ERR_TRANSPORT_CONNECT'],
    ['a DNS failure', coded('EAI_AGAIN'), 'ERR_TRANSPORT_CONNECT'],
    ['an unreachable network', coded('ENETUNREACH'), 'ERR_TRANSPORT_CONNECT'],
    ['a reset', coded('ECONNRESET'), 'ERR_TRANSPORT_CONNECT'],
    ['a closed socket', coded('UND_ERR_SOCKET'), 'ERR_TRANSPORT_CONNECT'],
    [
      'happy eyeballs (AggregateError)',
      Object.assign(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]), {}),
      'ERR_TRANSPORT_CONNECT',
    ],
    ['a connect timeout', coded('UND_ERR_CONNECT_TIMEOUT'), 'ERR_TRANSPORT_TIMEOUT'],
    ['a headers timeout', coded('UND_ERR_HEADERS_TIMEOUT'), 'ERR_TRANSPORT_TIMEOUT'],
    ['a body timeout', coded('UND_ERR_BODY_TIMEOUT'), 'ERR_TRANSPORT_TIMEOUT'],
    ['a TCP timeout', coded('ETIMEDOUT'), 'ERR_TRANSPORT_TIMEOUT'],
    ['an abort', coded('ABORT_ERR', undefined, 'AbortError'), 'ERR_TRANSPORT_ABORTED'],
    ['a DOMException abort', new DOMException('aborted', 'AbortError'), 'ERR_TRANSPORT_ABORTED'],
    ['an undici abort', coded('UND_ERR_ABORTED'), 'ERR_TRANSPORT_ABORTED'],
    ['a destroyed client', coded('UND_ERR_DESTROYED'), 'ERR_TRANSPORT_ABORTED'],
    ['a parser error', coded('HPE_INVALID_HEADER_TOKEN'), 'ERR_TRANSPORT_PROTOCOL'],
    ['a short body', coded('UND_ERR_RES_CONTENT_LENGTH_MISMATCH'), 'ERR_TRANSPORT_PROTOCOL'],
    ['an invalid URL', coded('ERR_INVALID_URL'), 'ERR_TRANSPORT_URL'],
    ['a transport error', new TransportError('ERR_TRANSPORT_DEADLINE', 'late'), 'ERR_TRANSPORT_DEADLINE'],
    ['a wrapped transport error code', coded('ERR_TRANSPORT_TRUST'), 'ERR_TRANSPORT_TRUST'],
    ['something else', new RangeError('odd'), 'ERR_TRANSPORT_INTERNAL'],
    ['a string', 'odd', 'ERR_TRANSPORT_INTERNAL'],
    ['null', null, 'ERR_TRANSPORT_INTERNAL'],
  ];
  it.each(table)('%s → %s', (_what, err, code) => {
    expect(classifyTransportError(err)).toBe(code);
  });

  it('every code it returns is an exported code', () => {
    for (const [, err] of table) expect(TRANSPORT_ERROR_CODES).toContain(classifyTransportError(err));
  });

  it('survives a cause cycle', () => {
    const a = coded('SOMETHING') as Error & { cause?: unknown };
    const b = coded('OTHER', a);
    a.cause = b;
    expect(classifyTransportError(a)).toBe('ERR_TRANSPORT_INTERNAL');
  });
});

describe('redactUrl', () => {
  it.each([
    [
      'https://TOKEN:x-oauth-basic@vmcaster.appdb.egi.eu/store/list',
      'https://TOKEN:***@vmcaster.appdb.egi.eu/store/list',
    ],
    ['https://user@host/p?q=1', 'https://user@host/p?q=1'],
    ['http://host:8080/a%20b', 'http://host:8080/a%20b'],
    ['not a url://u:secret@x/', 'not a url://u:***@x/'],
  ])('%s → %s', (input, output) => {
    expect(redactUrl(input)).toBe(output);
  });
});

describe('bad requests', () => {
  it('refuses URLs that are not http(s) with ERR_TRANSPORT_URL, before any I/O', async () => {
    const t = createTransport();
    try {
      for (const url of ['file:///etc/passwd', 'ftp://host/x', 'not a url', 'https://']) {
        const err = await rejection(t.request(url));
        expect(err).toBeInstanceOf(TransportError);
        expect(err.code).toBe('ERR_TRANSPORT_URL');
      }
    } finally {
      await t.close();
    }
  });

  it('refuses an unknown trust mode with ERR_TRANSPORT_TRUST', async () => {
    const t = createTransport();
    try {
      const err = await rejection(t.request('https://127.0.0.1:9/', { tls: { mode: 'lax' } as never }));
      expect(err.code).toBe('ERR_TRANSPORT_TRUST');
    } finally {
      await t.close();
    }
  });

  it('refuses requests after close()', async () => {
    const t = createTransport();
    await t.close();
    const err = await rejection(t.request('http://127.0.0.1:9/'));
    expect(err.code).toBe('ERR_TRANSPORT_INTERNAL');
  });
});
