// Importing image lists into the publisher's store: from a signed file (verified by default), from JSON, or
// downloaded from the list's own hv:uri.
import { readFile } from 'node:fs/promises';
import { validateImageList } from '@hepix/hepix-imagelist-schema';
import type { ImportResult, PublisherRepository } from '@hepix/imagelist-store';
import { TrustStore, verifySmime } from '@hepix/smime-x509';
import { VmcasterError } from './errors.js';

export interface VerifyOptions {
  /** Trust directory (hash.0, hash.r0, namespaces, signing_policy). */
  caDir: string;
  /** Skip verification; the caller is expected to warn. */
  noVerify?: boolean;
  now?: () => Date;
}

export interface VerifiedContent {
  content: string;
  /** Undefined when verification was skipped. */
  signer?: { subject: string; issuer: string };
}

/**
 * The signed content of a detached multipart/signed message WITHOUT verifying it (the first MIME part,
 * line endings as in the file, the line break before the boundary removed).
 */
export function extractUnverifiedContent(message: string): string {
  const header = /boundary="?([^";\r\n]+)"?/i.exec(message);
  if (!header) {
    // Not multipart: maybe plain JSON.
    return message;
  }
  const delim = `--${header[1]}`;
  const start = message.indexOf(`${delim}`, header.index + header[0].length);
  if (start < 0)
    throw new VmcasterError('ERR_VMCASTER_VERIFY', 'malformed S/MIME message: no first boundary');
  const bodyStart = message.indexOf('\n', start) + 1;
  const end = message.indexOf(`\n${delim}`, bodyStart);
  if (end < 0) throw new VmcasterError('ERR_VMCASTER_VERIFY', 'malformed S/MIME message: no second boundary');
  let body = message.slice(bodyStart, end);
  if (body.endsWith('\r')) body = body.slice(0, -1);
  return body;
}

/** Verifies a signed list against the trust directory and returns its content. */
export async function openSignedList(message: Uint8Array, options: VerifyOptions): Promise<VerifiedContent> {
  if (options.noVerify) {
    return { content: extractUnverifiedContent(Buffer.from(message).toString('utf8')) };
  }
  let trust: Awaited<ReturnType<typeof TrustStore.fromDirectory>>;
  try {
    trust = await TrustStore.fromDirectory(options.caDir);
  } catch (cause) {
    throw new VmcasterError(
      'ERR_VMCASTER_VERIFY',
      `cannot load the trust directory ${options.caDir}: ${(cause as Error).message}`,
      { cause, subject: options.caDir },
    );
  }
  try {
    const result = await verifySmime(message, { trust, ...(options.now ? { at: options.now() } : {}) });
    return {
      content: Buffer.from(result.content).toString('utf8'),
      signer: { subject: result.signer.subject, issuer: result.signer.issuer },
    };
  } catch (cause) {
    throw new VmcasterError(
      'ERR_VMCASTER_VERIFY',
      `the signature of the image list cannot be verified against ${options.caDir}: ${(cause as Error).message} (use --no-verify to import it anyway)`,
      { cause },
    );
  }
}

function parseDocument(text: string, source: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new VmcasterError(
      'ERR_VMCASTER_IMAGELIST_INVALID',
      `${source} is not JSON: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  try {
    validateImageList(doc, { mode: 'compatible' });
  } catch (cause) {
    const issues = (cause as { issues?: { path: string; message: string }[] }).issues ?? [];
    throw new VmcasterError('ERR_VMCASTER_IMAGELIST_INVALID', `${source} is not a valid image list`, {
      cause,
      details: issues.map((i) => `${i.path || '/'}: ${i.message}`),
    });
  }
  return doc as Record<string, unknown>;
}

export interface ImportOutcome extends ImportResult {
  signer?: { subject: string; issuer: string };
  verified: boolean;
}

/** Imports a signed list (S/MIME detached multipart) read from `file`. */
export async function importSignedImageList(
  store: PublisherRepository,
  file: string,
  options: VerifyOptions,
): Promise<ImportOutcome> {
  const message = await readInput(file);
  const { content, signer } = await openSignedList(message, options);
  const result = await store.importImageList(parseDocument(content, file));
  return { ...result, signer, verified: !options.noVerify };
}

/** Imports an unsigned JSON list read from `file`. */
export async function importJsonImageList(store: PublisherRepository, file: string): Promise<ImportOutcome> {
  const text = Buffer.from(await readInput(file)).toString('utf8');
  const result = await store.importImageList(parseDocument(text, file));
  return { ...result, verified: false };
}

async function readInput(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (cause) {
    throw new VmcasterError('ERR_VMCASTER_NOT_FOUND', `cannot read ${file}: ${(cause as Error).message}`, {
      cause,
      subject: file,
    });
  }
}

export interface FetchOptions {
  /** Extra CA certificates (PEM) for https servers, in addition to the system roots. */
  tlsCa?: string;
  timeoutMs?: number;
  maxBytes?: number;
}

/**
 * Fetches a list over https, http or file with the shared list client (`@hepix/imagelist-client`): https verifies
 * the server against the system roots (plus `tlsCa`), redirects are followed but never from https to http nor
 * to file:, and the size is bounded.
 */
export async function fetchList(uri: string, options: FetchOptions = {}): Promise<Uint8Array> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (cause) {
    throw new VmcasterError('ERR_VMCASTER_DOWNLOAD', `invalid URI '${uri}'`, { cause });
  }
  if (url.protocol !== 'file:' && url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new VmcasterError('ERR_VMCASTER_DOWNLOAD', `Invalid protocol '${url.protocol}' in ${uri}`);
  const [{ fetchList: fetchSignedList }, { createTransport }] = await Promise.all([
    import('@hepix/imagelist-client'),
    import('@hepix/transport'),
  ]);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const transport = createTransport({
    userAgent: 'vmcaster',
    connectTimeoutMs: timeoutMs,
    idleTimeoutMs: timeoutMs,
  });
  try {
    const fetched = await fetchSignedList(transport, uri, {
      tls: options.tlsCa ? { mode: 'browser', extraCa: [options.tlsCa] } : { mode: 'browser' },
      maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
    });
    return fetched.data;
  } catch (cause) {
    const status = (cause as { httpStatus?: number }).httpStatus;
    throw new VmcasterError(
      'ERR_VMCASTER_DOWNLOAD',
      status && (status < 300 || status >= 400)
        ? `fetching ${uri} failed with HTTP status ${status}`
        : `cannot fetch ${uri}: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    await transport.close();
  }
}

/** Downloads the selected list from its hv:uri, verifies it and imports it. */
export async function downloadImageList(
  store: PublisherRepository,
  imageList: string,
  options: VerifyOptions & FetchOptions & { log?: (level: 'info' | 'warn', m: string) => void },
): Promise<ImportOutcome & { uri: string }> {
  const record = await store.getImageList(imageList);
  if (!record)
    throw new VmcasterError('ERR_VMCASTER_NOT_FOUND', `image list ${imageList} does not exist`, {
      subject: imageList,
    });
  const uri = record.metadata['hv:uri'];
  if (!uri)
    throw new VmcasterError('ERR_VMCASTER_NO_URI', `image list ${imageList} has no hv:uri to download from`, {
      subject: imageList,
    });
  const message = await fetchList(uri, options);
  const { content, signer } = await openSignedList(message, options);
  const doc = parseDocument(content, uri);
  const inner = (doc['hv:imagelist'] ?? doc) as Record<string, unknown>;
  if (inner['dc:identifier'] !== imageList)
    options.log?.(
      'warn',
      `the list at ${uri} has dc:identifier ${String(inner['dc:identifier'])}, not ${imageList}`,
    );
  const result = await store.importImageList(doc);
  return { ...result, signer, verified: !options.noVerify, uri };
}
