// Server-rendered HTML with one rule: every interpolated value is escaped unless it is already Html (built by
// this tag). Links are made only for http/https URLs; anything else is shown as text.
import { isHttpUrl } from '../entries.js';

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/** `html\`<p>${untrusted}</p>\`` escapes `untrusted`; nested `html` results are kept as they are. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Html(out);
}

/** A link when `url` is http/https, the URL as plain text otherwise (never `javascript:`, `data:`, …). */
export function externalLink(url: string, text: string = url): Html {
  if (!isHttpUrl(url)) return html`<span class="url">${text}</span>`;
  return html`<a href="${url}" rel="nofollow noopener noreferrer">${text}</a>`;
}

/** A link to a path of this site with a query string built from `params` (empty values left out). */
export function siteHref(path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Path segment for an identifier (publisher-controlled: may contain `/`, `?`, …). */
export const seg = (identifier: string) => encodeURIComponent(identifier);
