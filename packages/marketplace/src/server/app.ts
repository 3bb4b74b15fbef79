// The HTTP application (Hono): the REST API, the signed lists for subscribers, and the web pages.
import { type Logger, noopLogger } from '@hepix/common';
import { type Context, Hono } from 'hono';
import { MARKETPLACE_HTTP_STATUS, MarketplaceError, toMarketplaceError } from '../errors.js';
import { DEFAULT_MAX_LIST_BYTES, type Ingester } from '../ingest.js';
import type { MarketplaceRepository } from '../store.js';
import { FORM_OVERHEAD_BYTES, readCapped, signedMessage } from './body.js';
import { openApiDocument } from './openapi.js';
import {
  aboutPage,
  endorsersPage,
  errorPage,
  imagePage,
  type SiteInfo,
  searchPage,
  uploadPage,
} from './pages.js';
import { parseImageQuery, parsePage } from './query.js';
import { STYLESHEET } from './style.js';

export const MARKETPLACE_VERSION = '0.1.0';

export interface MarketplaceAppOptions {
  repository: MarketplaceRepository;
  ingester: Ingester;
  /** Size cap of an uploaded list (default 64 MiB); a form upload may add FORM_OVERHEAD_BYTES. */
  maxListBytes?: number;
  /** Set on a replica: the primary's base URL; uploads are answered with 403 ERR_MARKET_READ_ONLY. */
  replicaOf?: string;
  /** Shown in the page header. */
  name?: string;
  now?: () => Date;
  log?: Logger;
}

/** No script may run, styles only from this site, forms only post here, no framing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function safeFileName(identifier: string): string {
  return `${identifier.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200) || 'list'}.smime`;
}

export function createMarketplaceApp(options: MarketplaceAppOptions): Hono {
  const repo = options.repository;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? noopLogger;
  const maxListBytes = options.maxListBytes ?? DEFAULT_MAX_LIST_BYTES;
  const site: SiteInfo = {
    name: options.name ?? 'HEPiX Marketplace',
    primary: options.replicaOf,
    maxListBytes,
  };
  const app = new Hono();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
  });

  // After a refused oversized body, the rest of it is not read: the connection cannot be reused.
  const closeIfTooLarge = (c: Context, code: string) => {
    if (code === 'ERR_MARKET_TOO_LARGE') c.header('Connection', 'close');
  };
  const apiError = (c: Context, err: unknown) => {
    const e = toMarketplaceError(err);
    const status = MARKETPLACE_HTTP_STATUS[e.code];
    closeIfTooLarge(c, e.code);
    if (status >= 500) log('error', e.message, { code: e.code });
    return c.json({ code: e.code, message: status >= 500 ? 'internal error' : e.message }, status);
  };
  const pageError = (c: Context, err: unknown) => {
    const e = toMarketplaceError(err);
    const status = MARKETPLACE_HTTP_STATUS[e.code];
    if (status >= 500) log('error', e.message, { code: e.code });
    return c.html(errorPage(site, status, e.code, status >= 500 ? 'internal error' : e.message), status);
  };
  const notFound = (what: string, identifier: string) =>
    new MarketplaceError('ERR_MARKET_NOT_FOUND', `no ${what} '${identifier}'`, { [what]: identifier });

  /** Reads and verifies an uploaded list; the cap is enforced while the body is read. */
  const ingestRequest = async (c: Context) => {
    if (options.replicaOf) {
      throw new MarketplaceError(
        'ERR_MARKET_READ_ONLY',
        `this marketplace is a read-only replica of ${options.replicaOf}; upload there`,
      );
    }
    const type = c.req.header('content-type');
    const isForm = (type ?? '').toLowerCase().startsWith('multipart/form-data');
    const cap = isForm ? maxListBytes + FORM_OVERHEAD_BYTES : maxListBytes;
    const body = await readCapped(c.req.raw.body, cap, c.req.header('content-length'));
    const message = await signedMessage(type, body);
    return options.ingester.ingest(message, { source: 'upload' });
  };

  // REST API
  app.get('/api/images', async (c) => {
    try {
      const query = parseImageQuery((n) => c.req.query(n));
      return c.json(await repo.searchImages(query, now()));
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.get('/api/images/:identifier', async (c) => {
    const id = c.req.param('identifier');
    try {
      const image = await repo.getImage(id, now());
      if (!image) throw notFound('image', id);
      return c.json(image);
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.get('/api/endorsers', async (c) => {
    try {
      return c.json(await repo.listEndorsers(parsePage((n) => c.req.query(n))));
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.get('/api/lists', async (c) => {
    try {
      return c.json(
        await repo.listLists(
          parsePage((n) => c.req.query(n)),
          now(),
        ),
      );
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.post('/api/lists', async (c) => {
    try {
      const r = await ingestRequest(c);
      return c.json(r, 201, { Location: `/api/lists/${encodeURIComponent(r.identifier)}` });
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.get('/api/lists/:identifier', async (c) => {
    const id = c.req.param('identifier');
    try {
      const list = await repo.getList(id, now());
      if (!list) throw notFound('list', id);
      return c.json(list);
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.get('/lists/:identifier{.+\\.smime}', async (c) => {
    const id = c.req.param('identifier').slice(0, -'.smime'.length);
    try {
      const data = await repo.getListData(id);
      if (!data) throw notFound('list', id);
      return c.body(data as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${safeFileName(id)}"`,
      });
    } catch (err) {
      return apiError(c, err);
    }
  });
  app.get('/api/openapi.json', (c) =>
    c.json(openApiDocument({ title: site.name, version: MARKETPLACE_VERSION })),
  );

  // Web pages
  app.get('/', async (c) => {
    let query: ReturnType<typeof parseImageQuery>;
    try {
      query = parseImageQuery((n) => (n === 'limit' ? (c.req.query(n) ?? '10') : c.req.query(n)));
    } catch (err) {
      const e = toMarketplaceError(err);
      return c.html(searchPage(site, { status: 'valid', sort: 'created' }, undefined, e.message), 400);
    }
    try {
      return c.html(searchPage(site, query, await repo.searchImages(query, now())));
    } catch (err) {
      return pageError(c, err);
    }
  });
  app.get('/images/:identifier', async (c) => {
    const id = c.req.param('identifier');
    try {
      const image = await repo.getImage(id, now());
      if (!image) throw notFound('image', id);
      return c.html(imagePage(site, image));
    } catch (err) {
      return pageError(c, err);
    }
  });
  app.get('/endorsers', async (c) => {
    try {
      return c.html(endorsersPage(site, await repo.listEndorsers(parsePage((n) => c.req.query(n)))));
    } catch (err) {
      return pageError(c, err);
    }
  });
  app.get('/upload', (c) => c.html(uploadPage(site)));
  app.post('/upload', async (c) => {
    try {
      const result = await ingestRequest(c);
      return c.html(uploadPage(site, { result }), 201);
    } catch (err) {
      const e = toMarketplaceError(err);
      const status = MARKETPLACE_HTTP_STATUS[e.code];
      closeIfTooLarge(c, e.code);
      if (status >= 500) log('error', e.message, { code: e.code });
      const message = status >= 500 ? 'internal error' : e.message;
      return c.html(uploadPage(site, { error: { code: e.code, message } }), status);
    }
  });
  app.get('/about', (c) => c.html(aboutPage(site)));
  app.get('/static/style.css', (c) =>
    c.body(STYLESHEET, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'max-age=3600' }),
  );

  app.notFound((c) =>
    c.req.path.startsWith('/api/')
      ? c.json({ code: 'ERR_MARKET_NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` }, 404)
      : c.html(errorPage(site, 404, 'ERR_MARKET_NOT_FOUND', `no page ${c.req.path}`), 404),
  );
  app.onError((err, c) => (c.req.path.startsWith('/api/') ? apiError(c, err) : pageError(c, err)));
  return app;
}
