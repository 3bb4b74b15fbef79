// How https servers are authenticated, and the one reader of CA directories.
import { createHash, X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { TransportError } from './errors.js';

/** How the server of an https URL is authenticated. */
export type TlsTrust =
  /** Node's bundled root CAs (the browsers' set), plus extra PEM certificates (a site CA). */
  | { mode: 'browser'; extraCa?: (string | Buffer)[] }
  /** The grid CA directory (`<hash>.N` and `*.pem` certificates, as `openssl rehash` and fetch-crl leave it). */
  | { mode: 'igtf'; certDir: string }
  /** Exactly these PEM CA certificates (a site's CA bundle), instead of the system roots. */
  | { mode: 'ca'; ca: (string | Buffer)[] }
  /** No server authentication (logged as a warning, once per origin). */
  | { mode: 'none' };

/** A client certificate for TLS client authentication (a grid user or host certificate). */
export interface ClientCertificate {
  cert: string | Buffer;
  key: string | Buffer;
  passphrase?: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM text that parse; the others are left out. */
function pemCertificates(text: string): { pems: string[]; invalid: number } {
  const pems: string[] = [];
  let invalid = 0;
  for (const m of text.matchAll(PEM_CERTIFICATE)) {
    try {
      pems.push(new X509Certificate(m[0]).toString());
    } catch {
      invalid++;
    }
  }
  return { pems, invalid };
}

/** Certificate files of a CA directory: `<hash>.N` links, `*.pem`, `*.crt` (not `.rN` CRLs, not policies). */
const CERT_FILE = /\.(\d+|pem|crt)$/i;

export interface CaDirectory {
  /** The distinct certificates, in file name order. */
  pems: string[];
  /** Files with a certificate name whose content is not a certificate. */
  skipped: string[];
}

/** Reads a CA directory; `ERR_TRANSPORT_TRUST` when it cannot be read or holds no certificate. */
export async function loadCaDirectory(dir: string): Promise<CaDirectory> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw new TransportError('ERR_TRANSPORT_TRUST', `Cannot read the CA directory '${dir}'`, { cause });
  }
  const seen = new Set<string>();
  const out: CaDirectory = { pems: [], skipped: [] };
  for (const name of names.sort()) {
    if (!CERT_FILE.test(name)) continue;
    const path = join(dir, name);
    // stat follows the <hash>.0 → CA.pem links; a dangling link or a directory is skipped.
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    const text = await readFile(path, 'utf8').catch(() => '');
    const { pems } = pemCertificates(text);
    if (pems.length === 0) out.skipped.push(name);
    for (const pem of pems) {
      const fingerprint = createHash('sha256').update(pem).digest('hex');
      if (seen.has(fingerprint)) continue;
      seen.add(fingerprint);
      out.pems.push(pem);
    }
  }
  if (out.pems.length === 0) {
    throw new TransportError('ERR_TRANSPORT_TRUST', `No CA certificates in '${dir}'`);
  }
  return out;
}

/**
 * The PEM certificates of a CA directory (IGTF `<hash>.N` files, `*.pem`, `*.crt`; CRLs `<hash>.rN`,
 * `.namespaces` and `.signing_policy` are not certificates and are skipped), each certificate once.
 * Throws `ERR_TRANSPORT_TRUST` when the directory cannot be read or holds no certificate.
 */
export async function readCaDirectory(dir: string): Promise<string[]> {
  return (await loadCaDirectory(dir)).pems;
}

/** A trust made usable: one secure context, shared by every connection that uses it. */
export interface ResolvedTls {
  key: string;
  secureContext: SecureContext;
  rejectUnauthorized: boolean;
}

function digest(items: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const i of items) h.update(i).update('\0');
  return h.digest('hex');
}

function caList(items: (string | Buffer)[], what: string): string[] {
  const out: string[] = [];
  for (const item of items) out.push(...pemCertificates(String(item)).pems);
  if (out.length === 0) throw new TransportError('ERR_TRANSPORT_TRUST', `No CA certificate in ${what}`);
  return out;
}

/** The cache key of a trust (what distinguishes one secure context from another). */
export function trustKey(trust: TlsTrust): string {
  switch (trust.mode) {
    case 'browser':
      return trust.extraCa?.length ? `browser:${digest(trust.extraCa)}` : 'browser';
    case 'igtf':
      return `igtf:${trust.certDir}`;
    case 'ca':
      return `ca:${digest(trust.ca)}`;
    case 'none':
      return 'none';
    default:
      throw new TransportError(
        'ERR_TRANSPORT_TRUST',
        `Unknown TLS trust mode '${String((trust as { mode?: unknown }).mode)}'`,
      );
  }
}

/** Builds the secure context of a trust; the client certificate, if any, is part of it. */
export async function resolveTls(
  trust: TlsTrust,
  client: ClientCertificate | undefined,
  caDirectory: (dir: string) => Promise<string[]>,
): Promise<ResolvedTls> {
  const key = trustKey(trust);
  let ca: string[] | undefined;
  if (trust.mode === 'igtf') ca = await caDirectory(trust.certDir);
  else if (trust.mode === 'ca') ca = caList(trust.ca, 'the CA list given');
  else if (trust.mode === 'browser' && trust.extraCa?.length)
    ca = [...rootCertificates, ...caList(trust.extraCa, 'extraCa')];
  return { key, secureContext: secureContext(ca, client), rejectUnauthorized: trust.mode !== 'none' };
}

/** One secure context (CA parsing happens once, not per connection). Bad keys are ERR_TRANSPORT_TRUST. */
export function secureContext(
  ca: string[] | undefined,
  client: ClientCertificate | undefined,
): SecureContext {
  try {
    return createSecureContext({
      ...(ca ? { ca } : {}),
      ...(client
        ? {
            cert: client.cert,
            key: client.key,
            ...(client.passphrase === undefined ? {} : { passphrase: client.passphrase }),
          }
        : {}),
    });
  } catch (cause) {
    throw new TransportError(
      'ERR_TRANSPORT_TRUST',
      client
        ? `The client certificate or its key cannot be used: ${(cause as Error).message}`
        : `The CA certificates cannot be used: ${(cause as Error).message}`,
      {
        cause,
        ...(typeof (cause as { code?: unknown }).code === 'string'
          ? { underlyingCode: (cause as { code: string }).code }
          : {}),
      },
    );
  }
}
