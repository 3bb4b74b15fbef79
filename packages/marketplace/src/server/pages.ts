// The web pages, rendered on the server; they work without JavaScript (there is none: the CSP forbids it).
import type { IngestResult } from '../ingest.js';
import type { EndorserSummary, ImageDetail, ImageItem, ImageQuery, Page } from '../store.js';
import { externalLink, Html, html, seg, siteHref } from './html.js';

export interface SiteInfo {
  name: string;
  /** Set on a replica: the primary it mirrors. */
  primary?: string;
  maxListBytes: number;
}

const NAV = [
  ['/', 'Home'],
  ['/endorsers', 'Endorsers'],
  ['/upload', 'Upload'],
  ['/about', 'About'],
] as const;

function layout(site: SiteInfo, title: string, active: string, body: Html): string {
  const nav = NAV.map(
    ([href, label]) =>
      html`<a href="${href}"${active === href ? new Html(' aria-current="page"') : ''}>${label}</a>`,
  );
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${site.name}</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header><h1>${site.name}</h1><nav>${nav}</nav></header>
<main>
${body}
</main>
<footer>Signed HEPiX image lists · <a href="/api/openapi.json">REST API</a></footer>
</body>
</html>
`.value;
}

function statusBadge(status: string): Html {
  return html`<span class="status status-${status}">${status}</span>`;
}

function option(value: string, label: string, selected: string | undefined): Html {
  return html`<option value="${value}"${value === selected ? new Html(' selected') : ''}>${label}</option>`;
}

function imageHref(item: { identifier: string }): string {
  return `/images/${seg(item.identifier)}`;
}

function summary(item: ImageItem): Html {
  return html`<li class="appliance">
<h2><a href="${imageHref(item)}">${item.title || item.identifier}</a> ${item.os} ${item.osversion} ${item.arch}${
    item.status === 'valid' ? '' : statusBadge(item.status)
  }</h2>
<dl class="summary">
<dt>Endorser</dt><dd>${item.endorser.email || item.endorser.dn}</dd>
<dt>Identifier</dt><dd class="mono">${item.identifier}</dd>
<dt>Created</dt><dd>${item.created}</dd>
<dt>Description</dt><dd>${item.description}</dd>
</dl>
<a href="${imageHref(item)}">More…</a>
</li>`;
}

export function searchPage(
  site: SiteInfo,
  query: ImageQuery,
  page: Page<ImageItem> | undefined,
  error?: string,
): string {
  const q = query;
  const limit = q.limit ?? 10;
  const offset = q.offset ?? 0;
  const params = {
    os: q.os,
    osversion: q.osversion,
    arch: q.arch,
    endorser: q.endorser,
    q: q.q,
    status: q.status === 'valid' ? undefined : q.status,
    sort: q.sort === 'created' ? undefined : q.sort,
    order: q.order,
    limit,
  };
  const form = html`<form class="search" method="get" action="/">
<label>Search os<input name="os" value="${q.os ?? ''}"></label>
<label>Search version<input name="osversion" value="${q.osversion ?? ''}"></label>
<label>Search arch<input name="arch" value="${q.arch ?? ''}"></label>
<label>Search endorser<input name="endorser" value="${q.endorser ?? ''}" placeholder="e-mail or DN"></label>
<label>Text<input name="q" value="${q.q ?? ''}" placeholder="title, description"></label>
<label>Status<select name="status">${[
    option('valid', 'valid', q.status),
    option('deprecated', 'deprecated', q.status),
    option('expired', 'expired', q.status),
    option('all', 'all', q.status),
  ]}</select></label>
<label>Sort by<select name="sort">${[
    option('created', 'created', q.sort),
    option('title', 'title', q.sort),
    option('os', 'os', q.sort),
  ]}</select></label>
<label>Order<select name="order">${[option('desc', 'descending', q.order), option('asc', 'ascending', q.order)]}</select></label>
<label>Show<select name="limit">${[10, 25, 50, 100].map((n) =>
    option(String(n), `${n} entries`, String(limit)),
  )}</select></label>
<button type="submit">Search</button>
</form>`;
  let results: Html = html``;
  if (error) results = html`<p class="notice error" role="alert">${error}</p>`;
  else if (page) {
    const first = page.total === 0 ? 0 : offset + 1;
    const last = Math.min(offset + page.items.length, page.total);
    const prev =
      offset > 0
        ? html`<a rel="prev" href="${siteHref('/', { ...params, offset: Math.max(0, offset - limit) || undefined })}">Previous</a>`
        : '';
    const next =
      last < page.total
        ? html`<a rel="next" href="${siteHref('/', { ...params, offset: offset + limit })}">Next</a>`
        : '';
    results = html`<p class="pager"><span class="count">Showing ${first} to ${last} of ${page.total} entries</span>${prev}${next}</p>
<ol class="appliances">${page.items.map(summary)}</ol>`;
  }
  return layout(site, 'Metadata', '/', html`<h2>Metadata</h2>${form}${results}`);
}

function sizeText(size: number | null): string {
  return size === null ? '' : `${size} bytes`;
}

export function imagePage(site: SiteInfo, image: ImageDetail): string {
  const e = image.endorser;
  const rows: [string, Html | string | null][] = [
    ['title', image.title],
    ['os', image.os],
    ['os version', image.osversion],
    ['arch', image.arch],
    ['hypervisor', image.hypervisor],
    ['format', image.format],
    ['version', image.version],
    ['bytes', sizeText(image.size)],
    ['endorser', e.email],
    ['endorser DN', e.dn],
    ['endorser CA', e.ca],
    ['VO', image.vo],
    ['created', image.created],
    ['valid until', image.expires],
    ['status', statusBadge(image.status)],
  ];
  const deprecation = image.deprecated
    ? html`<p class="deprecation" role="note"><strong>Deprecated:</strong> ${image.deprecated}</p>`
    : '';
  const lists = image.lists.map(
    (l) =>
      html`<tr><td class="mono"><a href="/api/lists/${seg(l.list.identifier)}">${l.list.identifier}</a></td><td>${
        l.list.version
      }</td><td>${l.endorser.email || l.endorser.dn}</td><td>${statusBadge(l.status)}</td><td><a href="/lists/${seg(
        l.list.identifier,
      )}.smime" download>signed list</a></td></tr>`,
  );
  const history = image.history.map(
    (h) =>
      html`<tr><td class="mono">${h.list.identifier}</td><td>${h.list.version}</td><td>${h.version}</td><td>${h.created}</td><td class="mono">${h.sha512}</td><td>${h.deprecated ?? ''}</td></tr>`,
  );
  const body = html`<h2>Metadata</h2>
<h3 class="mono">${image.identifier}</h3>
<p class="description">${image.description}</p>
${deprecation}
<h3>Detailed info</h3>
<table class="details"><tbody>${rows
    .filter(([, v]) => v !== null && v !== '')
    .map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>
<h3>Checksums</h3>
<table class="checksums"><tbody><tr><th scope="row">SHA-512</th><td class="mono">${image.sha512}</td></tr></tbody></table>
<h3>Location(s)</h3>
<ul class="locations">${image.locations.map((u) => html`<li>${externalLink(u)}</li>`)}</ul>
<h3>Lists that carry it</h3>
<table class="lists"><thead><tr><th>list</th><th>version</th><th>endorser</th><th>status</th><th>download</th></tr></thead><tbody>${lists}</tbody></table>
<h3>History</h3>
<table class="history"><thead><tr><th>list</th><th>list version</th><th>image version</th><th>created</th><th>sha512</th><th>deprecated</th></tr></thead><tbody>${history}</tbody></table>`;
  return layout(site, image.title || image.identifier, '', body);
}

export function endorsersPage(site: SiteInfo, page: Page<EndorserSummary>): string {
  const rows = page.items.map(
    (e) =>
      html`<tr><td><a href="${siteHref('/', { endorser: e.email || e.dn, status: 'all' })}">${
        e.email || '(no e-mail)'
      }</a></td><td class="mono">${e.dn}</td><td class="mono">${e.ca}</td><td>${e.lists}</td><td>${e.images}</td></tr>`,
  );
  return layout(
    site,
    'Endorsers',
    '/endorsers',
    html`<h2>Endorsers</h2><p>${page.total} endorsers.</p>
<table class="endorsers"><thead><tr><th>e-mail</th><th>DN</th><th>CA</th><th>lists</th><th>images</th></tr></thead><tbody>${rows}</tbody></table>`,
  );
}

export function uploadPage(
  site: SiteInfo,
  outcome?: { result?: IngestResult; error?: { code: string; message: string } },
): string {
  let notice: Html | string = '';
  if (outcome?.result) {
    const r = outcome.result;
    notice = html`<div class="notice ok" role="status"><p>Stored list <a class="mono" href="/api/lists/${seg(
      r.identifier,
    )}">${r.identifier}</a> version ${r.version} with ${r.images} images.</p><p><a href="${siteHref('/', {
      status: 'all',
    })}">Browse the images</a></p></div>`;
  } else if (outcome?.error) {
    notice = html`<div class="notice error" role="alert"><p><strong class="code">${outcome.error.code}</strong></p><p class="message">${outcome.error.message}</p></div>`;
  }
  const form = site.primary
    ? html`<p>This marketplace is a replica of ${externalLink(site.primary)}: upload lists there.</p>`
    : html`<form method="post" action="/upload" enctype="multipart/form-data">
<p><label>Signed image list (S/MIME) <input type="file" name="list" required></label></p>
<p><button type="submit">Upload</button></p>
</form>
<p>Lists are accepted when their signature verifies with the site's trust directory (CRLs included), the signer is
the list's endorser, the list is not expired, is newer than the stored version and at most ${site.maxListBytes} bytes.
From the command line: <code>vmmarketplace upload FILE --url BASE</code>.</p>`;
  return layout(site, 'Upload', '/upload', html`<h2>Upload</h2>${notice}${form}`);
}

export function aboutPage(site: SiteInfo): string {
  return layout(
    site,
    'About',
    '/about',
    html`<h2>About</h2>
<p>A registry of endorsed virtual machine images. Endorsers publish signed HEPiX image lists; this marketplace
verifies every list against its trust directory and makes the images searchable. The images themselves stay at
their locations; sites subscribe to a list with <code>vmcatcher_subscribe -s ${'<this site>'}/lists/ID.smime</code>,
which verifies the same signature again.</p>
<p>Deprecated images (<code>sl:deprecated</code>) and expired lists are hidden from the search by default; choose
the status to see them. Each image shows every location it is offered at (<code>hv:uri</code>, then
<code>sl:locations</code>).</p>
<p>The REST API is described in <a href="/api/openapi.json">/api/openapi.json</a>.</p>`,
  );
}

export function errorPage(site: SiteInfo, status: number, code: string, message: string): string {
  return layout(
    site,
    `Error ${status}`,
    '',
    html`<h2>Error ${status}</h2><div class="notice error" role="alert"><p class="code">${code}</p><p class="message">${message}</p></div>`,
  );
}
