import { createReadStream, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTransport, type Transport, TransportError } from '../src/index.js';
import { makePki, type Pki, tempDir } from './helpers/pki.js';
import { echo, redirect, rejection, send, startServer, type TestServer, text } from './helpers/servers.js';

let tmp: string;
let pki: Pki;
let a: TestServer; // http origin A
let b: TestServer; // http origin B
let secure: TestServer; // https
let t: Transport;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

beforeAll(async () => {
  tmp = tempDir();
  pki = makePki(join(tmp, 'pki'));
  a = await startServer();
  b = await startServer();
  secure = await startServer({ tls: pki.server });
}, 60_000);
afterAll(async () => {
  await Promise.all([a, b, secure].map((s) => s?.close()));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  await t?.close();
  t = createTransport({ maxRedirects: 3 });
  for (const s of [a, b, secure]) {
    s.routes.clear();
    s.seen.length = 0;
  }
});

const igtf = () => ({ mode: 'igtf' as const, certDir: pki.certDir });

async function refusedRedirect(
  p: Promise<unknown>,
  code = 'ERR_TRANSPORT_REDIRECT',
): Promise<TransportError> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(TransportError);
  expect(err.code, err.message).toBe(code);
  return err as unknown as TransportError;
}

describe('redirect policy', () => {
  it('follows relative and absolute redirects, keeping query strings, and reports them', async () => {
    a.routes.set('/start', redirect('/next?keep=1#frag', 301));
    a.routes.set('/next', redirect(`${b.origin}/final?x=y`, 307));
    b.routes.set('/final', (req, res) => send(`final ${req.url}`)(req, res));
    const res = await t.request(`${a.origin}/start`);
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('final /final?x=y');
    expect(res.redirects).toEqual([`${a.origin}/next?keep=1`, `${b.origin}/final?x=y`]);
    expect(res.url).toBe(`${b.origin}/final?x=y`);
  });

  it('follows http → https, and refuses https → http without contacting the http server', async () => {
    a.routes.set('/up', redirect(`${secure.origin}/s`));
    secure.routes.set('/s', send('secure'));
    expect(await text((await t.request(`${a.origin}/up`, { tls: igtf() })).body)).toBe('secure');

    secure.routes.set('/down', redirect(`${a.origin}/plain`));
    a.routes.set('/plain', send('plain'));
    a.seen.length = 0;
    const err = await refusedRedirect(t.request(`${secure.origin}/down`, { tls: igtf() }));
    expect(err.httpStatus).toBe(302);
    expect(err.location).toBe(`${a.origin}/plain`);
    expect(err.url).toBe(`${secure.origin}/down`);
    expect(a.seen).toHaveLength(0);
  });

  it('refuses redirects to file:, ftp: and data: URLs', async () => {
    for (const location of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'data:text/plain,hi']) {
      a.routes.set('/bad', redirect(location));
      const err = await refusedRedirect(t.request(`${a.origin}/bad`));
      expect(err.location?.split(':')[0]).toBe(location.split(':')[0]);
    }
  });

  it('follows at most maxRedirects', async () => {
    for (let i = 0; i < 4; i++) a.routes.set(`/r${i}`, redirect(`/r${i + 1}`));
    a.routes.set('/r4', send('end'));
    expect(await text((await t.request(`${a.origin}/r1`)).body)).toBe('end'); // 3 redirects
    const err = await refusedRedirect(t.request(`${a.origin}/r0`)); // 4
    expect(err.message).toContain('More than 3 redirects');
    const none = createTransport({ maxRedirects: 0 });
    try {
      await refusedRedirect(none.request(`${a.origin}/r3`));
    } finally {
      await none.close();
    }
  });

  it('a redirect without Location is ERR_TRANSPORT_PROTOCOL', async () => {
    a.routes.set('/nowhere', (_req, res) => res.writeHead(302, { 'content-length': 0 }).end());
    const err = await refusedRedirect(t.request(`${a.origin}/nowhere`), 'ERR_TRANSPORT_PROTOCOL');
    expect(err.httpStatus).toBe(302);
  });

  it('returns redirects unfollowed when asked, and by default for methods other than GET and HEAD', async () => {
    a.routes.set('/moved', redirect('/there'));
    const res = await t.request(`${a.origin}/moved`, { followRedirects: false });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/there');
    res.body.resume();
    const put = await t.request(`${a.origin}/moved`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(302);
    put.body.resume();
  });

  it('drops user info from redirect targets and never sends it', async () => {
    a.routes.set('/ui', redirect(`http://evil:pw@127.0.0.1:${b.port}/landing`));
    b.routes.set('/landing', echo);
    const res = await t.request(`${a.origin}/ui`);
    expect(JSON.parse(await text(res.body)).authorization).toBeNull();
    expect(res.url).toBe(`${b.origin}/landing`);
  });
});

describe('credentials', () => {
  it('sends Basic credentials to the first origin, following same-origin redirects', async () => {
    a.routes.set('/login', redirect('/private'));
    a.routes.set('/private', echo);
    const res = await t.request(`${a.origin}/login`, {
      credentials: { username: 'TOKEN', password: 'x-oauth-basic' },
    });
    expect(JSON.parse(await text(res.body)).authorization).toBe(basic('TOKEN', 'x-oauth-basic'));
    expect(a.seen.map((s) => s.headers.authorization)).toEqual([
      basic('TOKEN', 'x-oauth-basic'),
      basic('TOKEN', 'x-oauth-basic'),
    ]);
  });

  it('takes credentials from the URL user info and reports the URL without it', async () => {
    a.routes.set('/p', echo);
    const res = await t.request(`http://TOKEN:x%40y@127.0.0.1:${a.port}/p`);
    expect(JSON.parse(await text(res.body)).authorization).toBe(basic('TOKEN', 'x@y'));
    expect(res.url).toBe(`${a.origin}/p`);
  });

  it('never sends them after a cross-origin redirect, not even back to the first origin', async () => {
    a.routes.set('/go', redirect(`${b.origin}/hop`));
    b.routes.set('/hop', redirect(`${a.origin}/back`));
    a.routes.set('/back', echo);
    const res = await t.request(`${a.origin}/go`, {
      credentials: { username: 'u', password: 'p' },
      headers: { Authorization: 'Bearer caller-token', Cookie: 'session=1', 'X-Other': 'kept' },
    });
    expect(JSON.parse(await text(res.body)).authorization).toBeNull();
    expect(a.seen[0].headers.authorization).toBe(basic('u', 'p'));
    expect(b.seen[0].headers.authorization).toBeUndefined();
    expect(b.seen[0].headers.cookie).toBeUndefined();
    expect(b.seen[0].headers['x-other']).toBe('kept');
    expect(a.seen[1].headers.authorization).toBeUndefined();
  });

  it('treats another port or scheme of the same host as another origin', async () => {
    a.routes.set('/port', redirect(`${b.origin}/echo`));
    b.routes.set('/echo', echo);
    const res = await t.request(`${a.origin}/port`, { credentials: { username: 'u', password: 'p' } });
    expect(JSON.parse(await text(res.body)).authorization).toBeNull();
  });
});

describe('methods and bodies on redirect', () => {
  it('turns a POST into a GET without body on 303 (and on 301/302), as browsers do', async () => {
    for (const status of [303, 302, 301]) {
      a.routes.set('/form', redirect('/result', status));
      a.routes.set('/result', echo);
      const res = await t.request(`${a.origin}/form`, {
        method: 'POST',
        body: 'field=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        followRedirects: true,
      });
      expect(JSON.parse(await text(res.body))).toEqual({
        method: 'GET',
        authorization: null,
        contentType: null,
        body: '',
      });
    }
  });

  it('keeps method and body on 307/308: bytes are resent, a function reopens the stream', async () => {
    const file = join(tmp, 'body.txt');
    writeFileSync(file, 'file body');
    a.routes.set('/keep', redirect('/sink', 307));
    a.routes.set('/keep2', redirect('/sink', 308));
    a.routes.set('/sink', echo);
    const bytes = await t.request(`${a.origin}/keep`, {
      method: 'PUT',
      body: 'the bytes',
      followRedirects: true,
    });
    expect(JSON.parse(await text(bytes.body))).toMatchObject({ method: 'PUT', body: 'the bytes' });
    let opened = 0;
    const reopened = await t.request(`${a.origin}/keep2`, {
      method: 'PUT',
      body: () => {
        opened++;
        return createReadStream(file);
      },
      followRedirects: true,
    });
    expect(JSON.parse(await text(reopened.body))).toMatchObject({ method: 'PUT', body: 'file body' });
    expect(opened).toBe(2);
  });

  it('refuses to follow a 307 that comes after a stream body was sent (ERR_TRANSPORT_BODY)', async () => {
    a.routes.set('/late', (req, res) => {
      req.resume();
      req.on('end', () => redirect('/sink', 307)(req, res));
    });
    a.routes.set('/sink', echo);
    const err = await refusedRedirect(
      t.request(`${a.origin}/late`, {
        method: 'PUT',
        body: Readable.from([Buffer.from('once')]),
        followRedirects: true,
      }),
      'ERR_TRANSPORT_BODY',
    );
    expect(err.httpStatus).toBe(307);
    expect(a.seen.map((s) => s.url)).toEqual(['/late']);
  });

  it('turns an opener that refuses into ERR_TRANSPORT_BODY with its error as cause', async () => {
    a.routes.set('/keep', redirect('/sink', 307));
    a.routes.set('/sink', echo);
    let calls = 0;
    const refusal = new Error('too large to replay');
    const err = await refusedRedirect(
      t.request(`${a.origin}/keep`, {
        method: 'PUT',
        followRedirects: true,
        body: () => {
          if (calls++) throw refusal;
          return Readable.from([Buffer.from('first')]);
        },
      }),
      'ERR_TRANSPORT_BODY',
    );
    expect(err.cause).toBe(refusal);
  });
});
