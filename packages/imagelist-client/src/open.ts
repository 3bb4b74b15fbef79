// Opening a signed list: everything that can be decided from its bytes and the trust anchors alone, in the
// original vmcatcher's order (reference §3.2 "fileView"): signature (11), JSON (37), image list (38), the
// declared endorser against the signer (12). Dates, identifiers and versions are decideUpdate's business.
import { messageOf } from '@hepix/common';
import { parseImageListDate, validateImageListDetailed } from '@hepix/hepix-imagelist-schema';
import { canonicalDn, dnEquals, type TrustStore, verifySmime } from '@hepix/smime-x509';
import { ListClientError } from './errors.js';

export type CrlPolicy = 'require' | 'if-present' | 'ignore';

export interface OpenListOptions {
  trust: TrustStore;
  /** The time at which certificates and CRLs must be valid. */
  at: Date;
  /** Default `require`: a current CRL for every CA of the chain. */
  crl?: CrlPolicy;
}

/** A list whose signature, content and endorser have been checked. */
export interface OpenedList {
  /** The signed content (the JSON text as signed). */
  content: Uint8Array;
  /** The signing certificate's subject and issuer, OpenSSL 1.x one-line form (canonical). */
  signer: { subject: string; issuer: string };
  /** The validated document, `{"hv:imagelist": {…}}` (normalised by the schema package). */
  document: Record<string, unknown>;
  /** The inner `hv:imagelist` object. */
  list: Record<string, unknown>;
  identifier: string;
  version: string;
  created: Date;
  expires: Date;
  /** The list's self-declared location (`hv:uri`). */
  uri: string;
  /** The `hv:image` objects, in list order. */
  images: Record<string, unknown>[];
  /** Problems accepted with a warning (schema warnings, weak digests, …). */
  warnings: string[];
  /** The message digest algorithm of the signature (`sha256`, `sha1`, …). */
  digestAlgorithm: string;
}

/** A list value as a string: strings as they are, anything else as JSON (never `[object Object]`). */
export function metadataString(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The path of the first key or string value holding U+0000, or undefined. */
function nulAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const p = k.includes('\0') ? `${path}/${JSON.stringify(k)}` : nulAt(v, `${path}/${k}`);
    if (p) return p;
  }
  return undefined;
}

function decodeJson(content: Uint8Array): unknown {
  let text = Buffer.from(content).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ListClientError('ERR_LIST_NOT_JSON', `Signed content is not JSON: ${messageOf(cause)}`, {
      cause,
    });
  }
  // A NUL can only come from a `\u0000` escape: no list needs one, and a store cannot keep one (SQLite cuts the
  // string there, so `a\u0000b` would become the identifier `a`).
  const at = text.includes('\\u0000') ? nulAt(json, '') : undefined;
  if (at)
    throw new ListClientError(
      'ERR_LIST_NOT_IMAGELIST',
      `Not a valid image list: ${at || '/'} holds a NUL character`,
    );
  return json;
}

/**
 * A schema warning for people. One about an image (a dropped one above all) names it: its position and its
 * `dc:identifier` when it has one, which the site needs to tell the publisher what went missing.
 */
function describeIssue(w: unknown, json: unknown): string {
  if (typeof w === 'string') return w;
  const { path, message } = w as { path?: unknown; message?: unknown };
  const text = metadataString(message ?? w);
  const m = typeof path === 'string' ? /\/hv:images\/(\d+)(?:\/|$)/.exec(path) : null;
  if (!m) return text;
  const root = (json ?? {}) as Record<string, unknown>;
  const body = (root['hv:imagelist'] ?? root) as Record<string, unknown>;
  const entry = Array.isArray(body['hv:images']) ? body['hv:images'][Number(m[1])] : undefined;
  const image = (entry as { 'hv:image'?: unknown } | undefined)?.['hv:image'];
  const id = (image as Record<string, unknown> | undefined)?.['dc:identifier'];
  const named = typeof id === 'string' && id !== '' ? ` '${id}'` : '';
  const at = path === undefined ? '' : ` (${String(path)})`;
  return `image ${m[1]}${named}: ${text}${at}`;
}

function endorsersOf(list: Record<string, unknown>): Record<string, unknown>[] {
  const field = list['hv:endorser'];
  return (Array.isArray(field) ? field : [field]).map((e) =>
    e && typeof e === 'object'
      ? (((e as Record<string, unknown>)['hv:x509'] ?? {}) as Record<string, unknown>)
      : {},
  );
}

/**
 * Verifies the S/MIME signature against the trust anchors, decodes and validates the JSON (compatible mode),
 * and checks that one of the list's `hv:endorser` entries names the signer (`hv:dn`) and its issuer (`hv:ca`),
 * whatever OpenSSL spelling the list uses. Throws ListClientError: ERR_LIST_SIGNATURE, ERR_LIST_NOT_JSON,
 * ERR_LIST_NOT_IMAGELIST, ERR_LIST_SIGNER_MISMATCH.
 */
export async function openList(data: Uint8Array, options: OpenListOptions): Promise<OpenedList> {
  let verified: Awaited<ReturnType<typeof verifySmime>>;
  try {
    verified = await verifySmime(data, {
      trust: options.trust,
      at: options.at,
      crl: options.crl ?? 'require',
    });
  } catch (cause) {
    const smimeCode = (cause as { code?: unknown }).code;
    throw new ListClientError(
      'ERR_LIST_SIGNATURE',
      `Signature validation failed${typeof smimeCode === 'string' ? ` (${smimeCode})` : ''}: ${messageOf(cause)}`,
      { cause, ...(typeof smimeCode === 'string' ? { smimeCode } : {}) },
    );
  }
  const json = decodeJson(verified.content);
  let detailed: { list: unknown; warnings: unknown[] };
  try {
    detailed = validateImageListDetailed(json, { mode: 'compatible' }) as {
      list: unknown;
      warnings: unknown[];
    };
  } catch (cause) {
    throw new ListClientError('ERR_LIST_NOT_IMAGELIST', `Not a valid image list: ${messageOf(cause)}`, {
      cause,
    });
  }
  const document = detailed.list as Record<string, unknown>;
  const list = document['hv:imagelist'] as Record<string, unknown>;
  const warnings = detailed.warnings.map((w) => describeIssue(w, json));
  // SmimeWarning objects ({ code, message }): their message, not "[object Object]".
  for (const w of verified.warnings ?? []) warnings.push(w.message || w.code);

  const signer = {
    subject: canonicalDn(verified.signer.subject),
    issuer: canonicalDn(verified.signer.issuer),
  };
  const declared = endorsersOf(list);
  const bySubject = declared.filter((x) => dnEquals(canonicalDn(metadataString(x['hv:dn'])), signer.subject));
  if (bySubject.length === 0) {
    throw new ListClientError(
      'ERR_LIST_SIGNER_MISMATCH',
      `List hv:dn '${declared.map((x) => metadataString(x['hv:dn'])).join("', '")}' does not match the signer '${signer.subject}'`,
    );
  }
  if (!bySubject.some((x) => dnEquals(canonicalDn(metadataString(x['hv:ca'])), signer.issuer))) {
    throw new ListClientError(
      'ERR_LIST_SIGNER_MISMATCH',
      `List hv:ca '${bySubject.map((x) => metadataString(x['hv:ca'])).join("', '")}' does not match the signer's issuer '${signer.issuer}'`,
    );
  }

  let created: Date;
  let expires: Date;
  try {
    created = parseImageListDate(list['dc:date:created'] as string, 'dc:date:created');
    expires = parseImageListDate(list['dc:date:expires'] as string, 'dc:date:expires');
  } catch (cause) {
    throw new ListClientError('ERR_LIST_NOT_IMAGELIST', `Invalid list date: ${messageOf(cause)}`, { cause });
  }
  const images = ((list['hv:images'] as unknown[]) ?? [])
    .map((e) => (e as Record<string, unknown> | null)?.['hv:image'])
    .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object' && !Array.isArray(e));
  return {
    content: verified.content,
    signer,
    document,
    list,
    identifier: metadataString(list['dc:identifier']),
    version: metadataString(list['hv:version']),
    created,
    expires,
    uri: metadataString(list['hv:uri']),
    images,
    warnings,
    digestAlgorithm: verified.digest,
  };
}
