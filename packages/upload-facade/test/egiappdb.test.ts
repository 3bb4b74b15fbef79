import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appDbActions,
  appDbEndpoint,
  createUploadFacade,
  egiAppDbBackend,
  parseUploadConfig,
} from '../src/index.js';
import { makePki, type TestPki } from '@hepix/test-support';

interface Seen {
  url: string;
  peer?: string;
  auth?: string;
  contentType?: string;
  data: string;
}

let pki: TestPki;
let server: Server;
let port: number;
const seen: Seen[] = [];
let answer: (s: Seen) => { status: number; body: string } = () => ({
  status: 200,
  body: JSON.stringify({ egiappdb: { status: 'success', details: 'ok', submission_id: 42, errors: [] } }),
});

beforeAll(async () => {
  pki = await makePki();
  // a real HTTPS server that asks for client certificates (verified against the test CA) like AppDB's x509 door
  server = createServer(
    {
      cert: readFileSync(pki.server.cert),
      key: readFileSync(pki.server.key),
      ca: readFileSync(pki.ca.cert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const sock = req.socket as TLSSocket;
        const peer = sock.authorized ? String(sock.getPeerCertificate().subject?.CN) : undefined;
        const s: Seen = {
          url: req.url ?? '',
          peer,
          auth: req.headers.authorization,
          contentType: req.headers['content-type'],
          data: new URLSearchParams(Buffer.concat(chunks).toString()).get('data') ?? '',
        };
        seen.push(s);
        if (req.url?.endsWith('/x509/') && !peer) {
          res.writeHead(403).end('client certificate required');
          return;
        }
        const a = answer(s);
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
}, 60_000);
afterAll(async () => {
  server?.close();
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

describe('egiappdb', () => {
  it('maps targets and actions like the original', () => {
    expect(appDbEndpoint('egiappdb://jdoe@appdb-pi.egi.eu/vmcaster/', 'x509')).toEqual({
      url: new URL('https://appdb-pi.egi.eu/vmcaster/x509/'),
      user: 'jdoe',
    });
    expect(appDbEndpoint('egiappdb://jdoe@appdb-pi.egi.eu', 'sso').url.href).toBe(
      'https://appdb-pi.egi.eu/sso/',
    );
    expect(appDbActions({})).toEqual(['insert', 'enable']);
    expect(appDbActions({ 'egiappdb:enable': 'false', 'egiappdb:publish': 'true', other: 'true' })).toEqual([
      'insert',
      'publish',
    ]);
    expect(() => appDbEndpoint('https://x/y', 'x509')).toThrow(
      expect.objectContaining({ code: 'ERR_UPLOAD_TARGET' }),
    );
  });

  it('POSTs the signed list with an x509 client certificate through the facade', async () => {
    const cfg = parseUploadConfig(
      `[appdb]\nserver = "appdb.example.org"\nprotocol = "egiappdb"\nuriMatch = ".*"\nuriReplace = "egiappdb://jdoe@127.0.0.1:${port}/vmcaster"\nca = ${JSON.stringify(pki.ca.cert)}\n`,
    );
    const logs: string[] = [];
    const f = createUploadFacade({
      config: cfg,
      backendOptions: { cert: pki.endorser.cert, key: pki.endorser.key },
      flags: { 'egiappdb:enable': 'false' },
      log: (_l, m) => logs.push(m),
    });
    const list = join(pki.dir, 'image.list');
    await writeFile(list, 'MIME-Version: 1.0\nsigned list body + / =\n');
    seen.length = 0;
    await f.put('https://appdb.example.org/store/vo/image.list', list);
    await f.delete('https://appdb.example.org/store/vo/image.list');
    await f.dispose();
    expect(seen).toHaveLength(1);
    const s = seen[0];
    expect(s.url).toBe('/vmcaster/x509/');
    expect(s.peer).toBe('Owen Synge');
    expect(s.contentType).toBe('application/x-www-form-urlencoded');
    const b64 = /<imagelist><!\[CDATA\[([^\]]*)\]\]><\/imagelist>/.exec(s.data)?.[1];
    expect(Buffer.from(b64 ?? '', 'base64').toString()).toBe('MIME-Version: 1.0\nsigned list body + / =\n');
    expect(s.data).toMatch(
      /^<\?xml version="1.0" encoding="utf-8"\?><appdbvmc><action><!\[CDATA\[insert\]\]><\/action><entity><!\[CDATA\[imagelist\]\]><\/entity><response><!\[CDATA\[json\]\]><\/response><user><!\[CDATA\[jdoe\]\]><\/user><imagelist>/,
    );
    expect(logs.join('\n')).toMatch(/submission_id 42/);
  });

  it('uses Basic auth in sso mode', async () => {
    const b = egiAppDbBackend({ options: { authn: 'sso', password: 's3cret', ca: pki.ca.cert } });
    seen.length = 0;
    await b.put(`egiappdb://jdoe@127.0.0.1:${port}/vmcaster`, Readable.from([Buffer.from('x')]));
    await b.dispose?.();
    expect(seen[0].url).toBe('/vmcaster/sso/');
    expect(seen[0].auth).toBe(`Basic ${Buffer.from('jdoe:s3cret').toString('base64')}`);
  });

  it('turns an AppDB failure answer into ERR_UPLOAD_FAILED with its messages', async () => {
    answer = () => ({
      status: 200,
      body: JSON.stringify({
        egiappdb: { status: 'error', errors: [{ message: 'image list is not signed by you' }] },
      }),
    });
    const b = egiAppDbBackend({
      options: { cert: pki.endorser.cert, key: pki.endorser.key, ca: pki.ca.cert },
    });
    await expect(
      b.put(`egiappdb://jdoe@127.0.0.1:${port}/vmcaster`, Readable.from([Buffer.from('x')])),
    ).rejects.toMatchObject({
      code: 'ERR_UPLOAD_FAILED',
      message: expect.stringContaining('image list is not signed by you'),
    });
    answer = () => ({ status: 200, body: '<html>maintenance</html>' });
    await expect(
      b.put(`egiappdb://jdoe@127.0.0.1:${port}/vmcaster`, Readable.from([Buffer.from('x')])),
    ).rejects.toMatchObject({
      code: 'ERR_UPLOAD_FAILED',
      message: expect.stringContaining('unexpected answer'),
    });
    await b.dispose?.();
  });

  it('maps a refused client to ERR_UPLOAD_AUTH and an untrusted server to ERR_UPLOAD_TLS', async () => {
    const noCert = egiAppDbBackend({
      options: { cert: join(pki.dir, 'none.pem'), key: join(pki.dir, 'none.key'), ca: pki.ca.cert },
    });
    // no client certificate given and none in ~/.globus → AUTH before connecting
    await expect(
      noCert.put(`egiappdb://jdoe@127.0.0.1:${port}/vmcaster`, Readable.from([Buffer.from('x')])),
    ).rejects.toMatchObject({
      code: 'ERR_UPLOAD_AUTH',
    });
    // a certificate the server does not trust: the server answers 403
    const { cert, key } = pki.pki.selfSigned('stranger', { subject: '/CN=stranger' });
    const stranger = egiAppDbBackend({ options: { cert, key, ca: pki.ca.cert } });
    await expect(
      stranger.put(`egiappdb://jdoe@127.0.0.1:${port}/vmcaster`, Readable.from([Buffer.from('x')])),
    ).rejects.toMatchObject({
      code: 'ERR_UPLOAD_AUTH',
      status: 403,
    });
    await stranger.dispose?.();
    const noCa = egiAppDbBackend({ options: { cert: pki.endorser.cert, key: pki.endorser.key } });
    await expect(
      noCa.put(`egiappdb://jdoe@127.0.0.1:${port}/vmcaster`, Readable.from([Buffer.from('x')])),
    ).rejects.toMatchObject({
      code: 'ERR_UPLOAD_TLS',
    });
    await noCa.dispose?.();
  });
});
