// fetchList against real loopback servers: what a list fetch returns, and each failure with its code.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  makePki,
  makeTempDir,
  startHttpServer,
  startHttpsServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { createTransport, type Transport } from '@hepix/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchList, ListClientError, parseListUrl } from '../src/index.js';

let tmp: string;
let pki: TestPki;
let http: TestServer;
let https: TestServer;
let transport: Transport;

beforeAll(async () => {
  tmp = makeTempDir('hepix-client-fetch-');
  pki = makePki(join(tmp, 'pki'));
  http = await startHttpServer();
  https = await startHttpsServer(pki.server.cert, pki.server.key);
  transport = createTransport({ idleTimeoutMs: 2_000 });
});
afterAll(async () => {
  await transport.close();
  await http.close();
  await https.close();
});

async function expectCode(p: Promise<unknown>, code: string): Promise<ListClientError> {
  const err = await p.then(
    () => {
      throw new Error(`expected ${code}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ListClientError);
  expect((err as ListClientError).code).toBe(code);
  return err as ListClientError;
}

describe('fetchList', () => {
  it('reads http, https against the grid CA directory, and file URLs', async () => {
    http.serve('/a.list', 'list A');
    https.serve('/b.list', 'list B');
    expect(Buffer.from((await fetchList(transport, `${http.url}/a.list`)).data).toString()).toBe('list A');
    const b = await fetchList(transport, `${https.url}/b.list?v=1#frag`, {
      tls: { mode: 'igtf', certDir: pki.certDir },
    });
    expect(Buffer.from(b.data).toString()).toBe('list B');
    expect(b.url).toBe(`${https.url}/b.list?v=1`);
    const file = join(tmp, 'c.list');
    writeFileSync(file, 'list C');
    expect(Buffer.from((await fetchList(transport, pathToFileURL(file).href)).data).toString()).toBe(
      'list C',
    );
  });

  it('sends credentials from the URL or the options to the list origin', async () => {
    http.serve('/private.list', 'secret list');
    http.requests.length = 0;
    const u = new URL(`${http.url}/private.list`);
    u.username = 'TOKEN';
    u.password = 'x-oauth-basic';
    await fetchList(transport, u.href);
    expect(http.requests[0].authorization).toBe(
      `Basic ${Buffer.from('TOKEN:x-oauth-basic').toString('base64')}`,
    );
    expect(parseListUrl(u.href)).toEqual({
      url: `${http.url}/private.list`,
      username: 'TOKEN',
      password: 'x-oauth-basic',
    });
  });

  it('maps failures to list codes', async () => {
    const status = await expectCode(fetchList(transport, `${http.url}/missing.list`), 'ERR_LIST_FETCH');
    expect(status.httpStatus).toBe(404);
    // https server not in the system roots
    await expectCode(fetchList(transport, `${https.url}/b.list`), 'ERR_LIST_TLS');
    await expectCode(
      fetchList(transport, `${https.url}/b.list`, { tls: { mode: 'igtf', certDir: join(tmp, 'nowhere') } }),
      'ERR_LIST_TRUST',
    );
    https.routes.set('/down', (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${http.url}/a.list`);
      res.end();
    });
    await expectCode(
      fetchList(transport, `${https.url}/down`, { tls: { mode: 'igtf', certDir: pki.certDir } }),
      'ERR_LIST_REDIRECT',
    );
    await expectCode(fetchList(transport, 'ftp://example.org/l'), 'ERR_LIST_FETCH');
    await expectCode(fetchList(transport, pathToFileURL(join(tmp, 'absent')).href), 'ERR_LIST_FETCH');
  });

  it('refuses a list over the size cap, declared or streamed', async () => {
    http.serve('/big.list', Buffer.alloc(4096, 1));
    await expectCode(fetchList(transport, `${http.url}/big.list`, { maxBytes: 1000 }), 'ERR_LIST_TOO_LARGE');
    http.routes.set('/chunked', (_req, res) => {
      res.write(Buffer.alloc(800));
      res.write(Buffer.alloc(800));
      res.end();
    });
    await expectCode(fetchList(transport, `${http.url}/chunked`, { maxBytes: 1000 }), 'ERR_LIST_TOO_LARGE');
    const file = join(tmp, 'big.list');
    writeFileSync(file, Buffer.alloc(2000));
    await expectCode(
      fetchList(transport, pathToFileURL(file).href, { maxBytes: 1000 }),
      'ERR_LIST_TOO_LARGE',
    );
  });

  it('gives up at the deadline although bytes keep trickling in', async () => {
    http.routes.set('/trickle', (_req, res) => {
      const timer = setInterval(() => res.write('x'), 200);
      res.on('close', () => clearInterval(timer));
    });
    const e = await expectCode(
      fetchList(transport, `${http.url}/trickle`, { deadline: Date.now() + 1_000 }),
      'ERR_LIST_DEADLINE',
    );
    expect(e.url).toBe(`${http.url}/trickle`);
  });
});
