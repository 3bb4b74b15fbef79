// Importing lists into the publisher's store: a JSON document, a signed list (opened with the subscriber's
// checks: S/MIME, schema, signer == declared endorser, dates), or the list downloaded from its own hv:uri.
import { type Logger, messageOf, noopLogger, sha512Hex } from '@hepix/common';
import { validateImageListDetailed } from '@hepix/hepix-imagelist-schema';
import {
  type CrlPolicy,
  decideUpdate,
  fetchList,
  ListClientError,
  type OpenedList,
  openList,
} from '@hepix/imagelist-client';
import type { ImportResult, PublisherImageList, PublisherRepository } from '@hepix/imagelist-store';
import { TrustStore } from '@hepix/smime-x509';
import type { TlsTrust, Transport } from '@hepix/transport';
import { importImageList } from './document.js';
import { internal, PublisherError } from './errors.js';

export interface ImportOutcome extends ImportResult {
  /** The verified signer (canonical DNs); absent when verification was skipped or the list was JSON. */
  signer?: { subject: string; issuer: string };
  verified: boolean;
  /** What the list was accepted with (dropped images, an expired list, a weak digest, …). */
  warnings: string[];
}

export interface VerifyOptions {
  /** Trust anchors; or `caDir`, a trust directory (hash.0, hash.r0, namespaces, signing_policy). */
  trust?: TrustStore;
  caDir?: string;
  /** CRL policy of the signature check (default `require`, as for subscribers). */
  crl?: CrlPolicy;
  /** Take the content without verifying it (the caller is expected to warn). No date checks either. */
  noVerify?: boolean;
  now?: () => Date;
  log?: Logger;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (cause) {
    throw new PublisherError('ERR_PUBLISHER_DOCUMENT', `${source} is not JSON: ${messageOf(cause)}`, {
      cause,
    });
  }
}

/** Validates in compatible mode (what subscribers accept); the warnings are returned, the document kept as it is. */
function checkDocument(document: unknown, source: string): string[] {
  try {
    return validateImageListDetailed(document, { mode: 'compatible' }).warnings.map(
      (w) => `${w.path || '/'}: ${w.message}`,
    );
  } catch (cause) {
    const issues = (cause as { issues?: { path: string; message: string }[] }).issues ?? [];
    throw new PublisherError('ERR_PUBLISHER_DOCUMENT', `${source} is not a valid image list`, {
      cause,
      details: issues.map((i) => `${i.path || '/'}: ${i.message}`),
    });
  }
}

/** Imports an unsigned JSON list (validated in compatible mode first). */
export async function importJsonImageList(
  store: PublisherRepository,
  data: Uint8Array | string,
  options: { source?: string; log?: Logger } = {},
): Promise<ImportOutcome> {
  const source = options.source ?? 'the document';
  const document = parseJson(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'), source);
  const warnings = checkDocument(document, source);
  for (const w of warnings) (options.log ?? noopLogger)('warn', `${source}: ${w}`);
  return { ...(await importImageList(store, document)), verified: false, warnings };
}

/**
 * The signed content of a detached multipart/signed message WITHOUT verifying it (the first MIME part, line
 * endings as in the file, the line break before the boundary removed); a message that is not multipart is
 * returned as it is (maybe plain JSON).
 */
export function extractUnverifiedContent(message: string): string {
  const header = /boundary="?([^";\r\n]+)"?/i.exec(message);
  if (!header) return message;
  const delim = `--${header[1]}`;
  const start = message.indexOf(delim, header.index + header[0].length);
  if (start < 0)
    throw new PublisherError('ERR_PUBLISHER_DOCUMENT', 'malformed S/MIME message: no first boundary');
  const bodyStart = message.indexOf('\n', start) + 1;
  const end = message.indexOf(`\n${delim}`, bodyStart);
  if (end < 0)
    throw new PublisherError('ERR_PUBLISHER_DOCUMENT', 'malformed S/MIME message: no second boundary');
  let body = message.slice(bodyStart, end);
  if (body.endsWith('\r')) body = body.slice(0, -1);
  return body;
}

async function trustOf(options: VerifyOptions): Promise<TrustStore> {
  if (options.trust) return options.trust;
  if (!options.caDir)
    throw new PublisherError(
      'ERR_PUBLISHER_TRUST',
      'verifying a signed list needs trust anchors (trust or caDir)',
    );
  try {
    return await TrustStore.fromDirectory(options.caDir);
  } catch (cause) {
    throw new PublisherError(
      'ERR_PUBLISHER_TRUST',
      `cannot load the trust directory ${options.caDir}: ${messageOf(cause)}`,
      {
        subject: options.caDir,
        cause,
      },
    );
  }
}

/**
 * Opens a signed list with the subscriber's checks (`openList` of @hepix/imagelist-client: signature, JSON,
 * schema, signer == one `hv:endorser`'s `hv:dn` and `hv:ca`), then the dates as `decideUpdate` judges them
 * for a first import: a list created in the future is refused (`ERR_LIST_CREATED_IN_FUTURE`), an expired one
 * is accepted with a warning (the publisher re-signs it with new dates anyway).
 */
export async function openSignedImageList(
  data: Uint8Array,
  options: VerifyOptions,
): Promise<{ opened: OpenedList; warnings: string[] }> {
  const at = (options.now ?? (() => new Date()))();
  const trust = await trustOf(options);
  const opened = await openList(data, { trust, at, crl: options.crl ?? 'require' });
  const warnings = [...opened.warnings];
  const decision = decideUpdate(undefined, { ...opened, dataHash: sha512Hex(data) }, { referenceTime: at });
  if (decision.kind === 'refuse') {
    if (decision.code !== 'ERR_LIST_EXPIRED') throw new ListClientError(decision.code, decision.message);
    warnings.push(`${decision.message}; imported anyway (the next publish sets new dates)`);
  }
  return { opened, warnings };
}

async function importSigned(
  store: PublisherRepository,
  data: Uint8Array,
  options: VerifyOptions,
  source: string,
): Promise<ImportOutcome> {
  const log = options.log ?? noopLogger;
  if (options.noVerify) {
    const document = parseJson(extractUnverifiedContent(Buffer.from(data).toString('utf8')), source);
    const warnings = checkDocument(document, source);
    for (const w of warnings) log('warn', `${source}: ${w}`);
    return { ...(await importImageList(store, document)), verified: false, warnings };
  }
  const { opened, warnings } = await openSignedImageList(data, options);
  for (const w of warnings) log('warn', `${source}: ${w}`, { subscription: opened.identifier });
  // The document as signed (not the validator's normalised copy), as the original imported it.
  const document = parseJson(Buffer.from(opened.content).toString('utf8'), source);
  return { ...(await importImageList(store, document)), signer: opened.signer, verified: true, warnings };
}

/** Imports a signed list (S/MIME, detached or opaque), verified unless `noVerify`. */
export async function importSignedImageList(
  store: PublisherRepository,
  data: Uint8Array,
  options: VerifyOptions & { source?: string },
): Promise<ImportOutcome> {
  return importSigned(store, data, options, options.source ?? 'the signed list');
}

export interface DownloadOptions extends VerifyOptions {
  /** The HTTP client (`createTransport()` of @hepix/transport); file: URLs are read from disk. */
  transport: Transport;
  /** How the https server is authenticated (default: the system roots). */
  tls?: TlsTrust;
  maxBytes?: number;
  signal?: AbortSignal;
}

/**
 * Downloads the list from its stored `hv:uri` (https, http or file; the transport's redirect policy), opens it
 * like importSignedImageList and imports it. A list whose `dc:identifier` is not the selected one is imported
 * with a warning, as the original did.
 */
export async function downloadImageList(
  store: PublisherRepository,
  imageList: string,
  options: DownloadOptions,
): Promise<ImportOutcome & { uri: string }> {
  let record: PublisherImageList | undefined;
  try {
    record = await store.getImageList(imageList);
  } catch (err) {
    throw internal(err, `reading image list ${imageList}`);
  }
  if (!record)
    throw new PublisherError('ERR_PUBLISHER_NOT_FOUND', `image list ${imageList} does not exist`, {
      subject: imageList,
    });
  const uri = record.metadata['hv:uri'];
  if (!uri)
    throw new PublisherError(
      'ERR_PUBLISHER_LIST_NO_URI',
      `image list ${imageList} has no hv:uri to download from`,
      {
        subject: imageList,
      },
    );
  const fetched = await fetchList(options.transport, uri, {
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const result = await importSigned(store, fetched.data, options, uri);
  if (result.identifier !== imageList) {
    const w = `the list at ${uri} has dc:identifier ${result.identifier}, not ${imageList}`;
    (options.log ?? noopLogger)('warn', w, { subscription: imageList, uri });
    result.warnings.push(w);
  }
  return { ...result, uri };
}
