// The REST API on a real server (127.0.0.1, random port) over SQLite and PostgreSQL: uploads in every accepted
// form, every refusal with its status and code (and nothing stored), the read routes, the signed bytes, the
// replica, and the OpenAPI document against the routes the server really has.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIngester,
  createMarketplaceApp,
  type MarketplaceServer,
  startMarketplace,
} from '../src/index.js';
import {
  DAY,
  dialects,
  issueCert,
  makePki,
  signedList,
  signOpaque,
  splitMime,
  type TestPki,
  tampered,
  tempDir,
  testDatabase,
} from './helpers.js';

const work = tempDir();
let pki: TestPki;
let jane: { cert: string; key: string };
const JANE = '/C=DE/O=GermanGrid/OU=CERN/CN=Jane Doe';
const L = (n: number) => `33333333-0000-4000-8000-${String(n).padStart(12, '0')}`;
const I = (n: number) => `cccccccc-0000-4000-8000-${String(n).padStart(12, '0')}`;

beforeAll(() => {
  pki = makePki(join(work.dir, 'pki'));
  jane = issueCert(pki, 'jane', JANE);
}, 180_000);
afterAll(() => work.dispose());

type Body = NonNullable<RequestInit['body']>;
// biome-ignore lint/suspicious/noExplicitAny: answers are checked by the assertions
type Json = any;

async function post(base: string, body: Body, contentType?: string, path = '/api/lists') {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    body,
    headers: contentType ? { 'content-type': contentType } : {},
  });
  const text = await r.text();
  return {
    status: r.status,
    headers: r.headers,
    json: text.startsWith('{') ? JSON.parse(text) : undefined,
    text,
  };
}
const get = async (base: string, path: string) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, headers: r.headers, json: (await r.json()) as Json };
};

function bigForm(): FormData {
  const form = new FormData();
  form.set('list', new Blob([new Uint8Array(256 * 1024 + 64 * 1024 + 1)]), 'big.smime');
  return form;
}

describe.each(dialects())('REST API on %s', (dialect) => {
  let server: MarketplaceServer;
  let base: string;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    const db = await testDatabase(dialect);
    server = await startMarketplace({
      db: db.url,
      listen: '127.0.0.1:0',
      certDir: pki.certDir,
      maxListBytes: 256 * 1024,
      trustReloadSeconds: 0,
    });
    base = server.url;
    dispose = async () => {
      await server.close();
      await db.dispose();
    };
  });
  afterAll(() => dispose?.());

  async function state() {
    const lists = await get(base, '/api/lists?limit=500');
    const images = await get(base, '/api/images?status=all&limit=500');
    const bytes = await Promise.all(
      (lists.json.items as { identifier: string }[]).map(async (l) =>
        Buffer.from(await (await fetch(`${base}/lists/${l.identifier}.smime`)).arrayBuffer()).toString(
          'base64',
        ),
      ),
    );
    return { lists: lists.json, images: images.json, bytes };
  }

  it('accepts a whole S/MIME file, a multipart/signed body, opaque pkcs7-mime (base64 and DER) and a form', async () => {
    const whole = signedList(
      pki,
      { identifier: L(1), version: '1', images: [{ identifier: I(1) }] },
      work.dir,
    );
    let r = await post(base, whole, 'application/octet-stream');
    expect(r.status, r.text).toBe(201);
    expect(r.json).toEqual({ identifier: L(1), version: '1', images: 1, warnings: [] });
    expect(r.headers.get('location')).toBe(`/api/lists/${L(1)}`);
    // GET /lists/{id}.smime returns the uploaded bytes exactly.
    const back = Buffer.from(await (await fetch(`${base}/lists/${L(1)}.smime`)).arrayBuffer());
    expect(back.equals(Buffer.from(whole))).toBe(true);

    const parts = splitMime(
      signedList(pki, { identifier: L(2), version: '1', images: [{ identifier: I(2) }] }, work.dir),
    );
    expect(parts.contentType).toMatch(/^multipart\/signed/);
    r = await post(base, parts.body, parts.contentType);
    expect(r.status, r.text).toBe(201);

    const opaque = splitMime(signOpaque(pki, { identifier: L(3), version: '1', images: [] }, work.dir));
    expect(opaque.contentType).toMatch(/pkcs7-mime/);
    r = await post(base, opaque.body, 'application/pkcs7-mime');
    expect(r.status, r.text).toBe(201);
    const der = signOpaque(pki, { identifier: L(4), version: '1', images: [] }, work.dir, 'DER');
    r = await post(base, der, 'application/x-pkcs7-mime');
    expect(r.status, r.text).toBe(201);

    const form = new FormData();
    form.set(
      'list',
      new Blob([signedList(pki, { identifier: L(5), version: '1', images: [] }, work.dir)]),
      'list.smime',
    );
    r = await post(base, form);
    expect(r.status, r.text).toBe(201);
    expect(r.json.identifier).toBe(L(5));
    // The stored multipart/signed body got its header back, so the bytes verify on their own.
    const l2 = Buffer.from(await (await fetch(`${base}/lists/${L(2)}.smime`)).arrayBuffer()).toString(
      'latin1',
    );
    expect(l2).toMatch(/^MIME-Version: 1\.0\r\nContent-Type: multipart\/signed/);
  });

  it('refuses with 400, 409, 413 and 422, a JSON {code, message}, and stores nothing', async () => {
    const before = await state();
    const cases: [string, Body, string | undefined, number, string][] = [
      ['empty', new Uint8Array(0), 'application/octet-stream', 400, 'ERR_MARKET_BAD_REQUEST'],
      [
        'form without file',
        new URLSearchParams({ a: 'b' }).toString(),
        'multipart/form-data; boundary=x',
        400,
        'ERR_MARKET_BAD_REQUEST',
      ],
      ['unsigned', '{"hv:imagelist": {}}', 'application/json', 422, 'ERR_MARKET_NO_SIGNATURE'],
      [
        'tampered',
        tampered(signedList(pki, { identifier: L(1), version: '2', images: [] }, work.dir)),
        undefined,
        422,
        'ERR_MARKET_SIGNATURE',
      ],
      [
        'same version',
        signedList(pki, { identifier: L(1), version: '1', images: [] }, work.dir),
        undefined,
        409,
        'ERR_MARKET_NOT_NEWER',
      ],
      [
        'another endorser',
        signedList(pki, { identifier: L(1), version: '5', dn: JANE, images: [] }, work.dir, jane),
        undefined,
        403,
        'ERR_MARKET_LIST_OWNER',
      ],
      [
        'expired',
        signedList(
          pki,
          {
            identifier: L(9),
            version: '1',
            created: new Date(Date.now() - 3 * DAY),
            expires: new Date(Date.now() - DAY),
            images: [],
          },
          work.dir,
        ),
        undefined,
        422,
        'ERR_MARKET_EXPIRED',
      ],
      ['too large', new Uint8Array(256 * 1024 + 1), 'application/octet-stream', 413, 'ERR_MARKET_TOO_LARGE'],
      ['too large a form', bigForm(), undefined, 413, 'ERR_MARKET_TOO_LARGE'],
    ];
    for (const [name, body, type, status, code] of cases) {
      const r = await post(base, body, type);
      expect([name, r.status, r.json?.code]).toEqual([name, status, code]);
      expect(typeof r.json.message).toBe('string');
    }
    expect(await state()).toEqual(before);
  });

  it('enforces the cap while reading a body of unknown length', async () => {
    const before = await state();
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x41);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Bounded: at most 64 chunks (4 MiB), far beyond the 256 KiB cap.
        if (sent++ >= 64) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const r = await fetch(`${base}/api/lists`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit).then(
      async (res) => ({
        status: res.status,
        json: await res.json(),
        headers: { connection: res.headers.get('connection') },
      }),
      (err: Error) => ({ status: 0, json: { code: err.message }, headers: undefined }),
    );
    expect(r).toMatchObject({
      status: 413,
      json: { code: 'ERR_MARKET_TOO_LARGE', message: expect.any(String) },
    });
    expect(r.headers?.connection).toBe('close');
    expect(await state()).toEqual(before);
  });

  it('serves images, one image, lists, one list, endorsers; 400 for bad parameters, 404 for unknown ids', async () => {
    let r = await get(base, '/api/images');
    expect(r.json.total).toBe(2);
    expect(r.json.items.map((i: { identifier: string }) => i.identifier).sort()).toEqual([I(1), I(2)]);
    r = await get(base, `/api/images?endorser=owen@example.org&arch=X86_64&limit=1`);
    expect([r.json.total, r.json.items.length]).toEqual([2, 1]);
    r = await get(base, '/api/images?limit=100000');
    expect(r.status).toBe(200);
    for (const bad of ['status=gone', 'sort=size', 'order=up', 'limit=0', 'limit=x', 'offset=-1']) {
      r = await get(base, `/api/images?${bad}`);
      expect([bad, r.status, r.json.code]).toEqual([bad, 400, 'ERR_MARKET_BAD_REQUEST']);
    }
    r = await get(base, `/api/images/${I(1)}`);
    expect(r.json).toMatchObject({
      identifier: I(1),
      list: { identifier: L(1), version: '1' },
      status: 'valid',
    });
    expect(r.json.history).toEqual([expect.objectContaining({ list: { identifier: L(1), version: '1' } })]);
    expect(r.json.entry['dc:identifier']).toBe(I(1));
    r = await get(base, '/api/images/nope');
    expect([r.status, r.json.code]).toEqual([404, 'ERR_MARKET_NOT_FOUND']);
    r = await get(base, '/api/lists');
    expect(r.json.total).toBe(5);
    r = await get(base, `/api/lists/${L(1)}`);
    expect(r.json).toMatchObject({ identifier: L(1), version: '1', images: 1, imageIdentifiers: [I(1)] });
    r = await get(base, '/api/lists/nope');
    expect(r.status).toBe(404);
    expect((await fetch(`${base}/lists/nope.smime`)).status).toBe(404);
    r = await get(base, '/api/endorsers');
    expect(r.json).toEqual({
      total: 1,
      items: [
        { dn: pki.endorser.subject, ca: pki.endorser.issuer, email: 'owen@example.org', lists: 5, images: 2 },
      ],
    });
    r = await get(base, '/api/nothing');
    expect([r.status, r.json.code]).toEqual([404, 'ERR_MARKET_NOT_FOUND']);
  });

  it('a replica pulls and verifies every list itself, answers uploads with 403, and serves the same bytes', async () => {
    const db = await testDatabase(dialect);
    const replica = await startMarketplace({
      db: db.url,
      listen: '127.0.0.1:0',
      certDir: pki.certDir,
      replicaOf: base,
      replicaIntervalSeconds: 3600,
    });
    try {
      const pass = await replica.sync();
      expect(pass.failed).toEqual([]);
      expect(pass.stored.length + pass.unchanged.length).toBe(5);
      expect((await replica.sync()).unchanged).toHaveLength(5);
      for (const id of [L(1), L(2), L(5)]) {
        const a = Buffer.from(await (await fetch(`${base}/lists/${id}.smime`)).arrayBuffer());
        const b = Buffer.from(await (await fetch(`${replica.url}/lists/${id}.smime`)).arrayBuffer());
        expect(b.equals(a)).toBe(true);
      }
      const up = await post(
        replica.url,
        signedList(pki, { identifier: L(7), version: '1', images: [] }, work.dir),
      );
      expect([up.status, up.json.code]).toEqual([403, 'ERR_MARKET_READ_ONLY']);
      // A newer version on the primary reaches the replica at its next pass.
      const v2 = signedList(
        pki,
        { identifier: L(1), version: '2', created: new Date(), images: [] },
        work.dir,
      );
      expect((await post(base, v2)).status).toBe(201);
      expect((await replica.sync()).stored).toEqual([L(1)]);
      expect((await get(replica.url, `/api/lists/${L(1)}`)).json.version).toBe('2');
    } finally {
      await replica.close();
      await db.dispose();
    }
  });
});

describe('OpenAPI document', () => {
  it('describes exactly the routes the server answers', async () => {
    const app = createMarketplaceApp({
      repository: {} as never,
      ingester: createIngester({ repository: {} as never, trust: () => ({}) as never }),
    });
    const doc = (await (await app.request('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = app.routes
      .filter((r) => r.method !== 'ALL')
      .map(
        (r) =>
          `${r.method} ${r.path.replace(/:(\w+)\{\.\+\\\.smime\}/, '{$1}.smime').replace(/:(\w+)/g, '{$1}')}`,
      )
      .sort();
    expect(served).toEqual(documented);
    // Every path parameter of a route is declared in the document.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops) as { parameters?: { name: string; in: string }[] }[]) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared, path).toEqual([...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      }
    }
  });
});
