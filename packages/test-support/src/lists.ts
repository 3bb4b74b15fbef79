// HEPiX image list documents for tests, and S/MIME signing and verification with the openssl CLI (the way
// vmcaster, vmilisttool and AppDB sign: `openssl smime -sign`, detached unless told otherwise).
import { openssl } from './openssl.js';
import type { Digest } from './pki.js';

export interface SignListOptions {
  /** Detached multipart/signed (default) or opaque `-nodetach`. */
  detached?: boolean;
  /** `-md`; default openssl's (SHA-256). Real 2011-2014 lists are SHA-1. */
  digest?: Digest;
  /** PEM files of extra certificates to embed (`-certfile`), e.g. an intermediate CA. */
  certfile?: string;
  /** `-text`: a `Content-Type: text/plain` header block inside the signed part. */
  text?: boolean;
  /** `-binary`: no CRLF canonicalisation. */
  binary?: boolean;
  /** More `openssl smime` arguments (e.g. a second `-signer`). */
  extraArgs?: string[];
}

/** Signs `content` with `openssl smime -sign` and returns the S/MIME message. */
export function signList(
  content: string | Uint8Array,
  signer: { cert: string; key: string },
  options: SignListOptions = {},
): Buffer {
  const args = ['smime', '-sign', '-signer', signer.cert, '-inkey', signer.key];
  if (options.detached === false) args.push('-nodetach');
  if (options.digest) args.push('-md', options.digest);
  if (options.certfile) args.push('-certfile', options.certfile);
  if (options.text) args.push('-text');
  if (options.binary) args.push('-binary');
  args.push(...(options.extraArgs ?? []));
  return openssl(args, { input: content });
}

/** `signList(content, signer)`; the working directory of older call sites is not needed any more. */
export function signWithOpenssl(
  content: string | Uint8Array,
  signer: { cert: string; key: string },
  _workDir?: string,
): Buffer {
  return signList(content, signer);
}

/** `openssl smime -verify -CApath DIR -crl_check` of a file: the verified content; throws when it fails. */
export function opensslVerify(file: string, caPath: string): string {
  return openssl(['smime', '-verify', '-CApath', caPath, '-crl_check', '-in', file]).toString('utf8');
}

/** `YYYY-MM-DDTHH:MM:SSZ`, the date form of image lists. */
export function fmtDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ImageSpec {
  identifier: string;
  sha512?: string;
  size?: number;
  uri?: string;
  version?: string;
  format?: string;
  title?: string;
  description?: string;
}

export interface ListSpec {
  identifier: string;
  version: string;
  created: Date;
  expires: Date;
  uri: string;
  dn: string;
  ca: string;
  images: ImageSpec[];
  /** More keys of `hv:imagelist` (replacing generated ones). */
  extra?: Record<string, unknown>;
}

/** A HEPiX image list JSON text in the vmilisttool layout (sorted keys, indent 4, final newline). */
export function makeListJson(spec: ListSpec): string {
  const list = {
    'hv:imagelist': {
      'dc:date:created': fmtDate(spec.created),
      'dc:date:expires': fmtDate(spec.expires),
      'dc:description': `Test list ${spec.identifier}`,
      'dc:identifier': spec.identifier,
      'dc:source': 'https://example.org/',
      'dc:title': 'Test list',
      'hv:endorser': {
        'hv:x509': {
          'dc:creator': 'Owen Synge',
          'hv:ca': spec.ca,
          'hv:dn': spec.dn,
          'hv:email': 'owen@example.org',
        },
      },
      'hv:images': spec.images.map((i) => ({
        'hv:image': {
          'dc:description': i.description ?? `Image ${i.identifier}`,
          'dc:identifier': i.identifier,
          'dc:title': i.title ?? `Image ${i.identifier.slice(0, 8)}`,
          ...(i.format ? { 'hv:format': i.format } : {}),
          'hv:hypervisor': 'kvm',
          'hv:size': i.size ?? 1024,
          'hv:uri': i.uri ?? `https://example.org/${i.identifier}.img`,
          'hv:version': i.version ?? '1',
          'sl:arch': 'x86_64',
          'sl:checksum:sha512': i.sha512 ?? 'a'.repeat(128),
          'sl:comments': '',
          'sl:os': 'Linux',
          'sl:osversion': 'SL 6.4',
        },
      })),
      'hv:uri': spec.uri,
      'hv:version': spec.version,
      ...(spec.extra ?? {}),
    },
  };
  return `${JSON.stringify(list, null, 4)}\n`;
}

/** `count` image specs with fixed identifiers and non-ASCII titles (so signed content is not 7-bit). */
export function sampleImages(count: number): ImageSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    identifier: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    uri: `https://example.org/images/img-${i}.img`,
    size: 1024 * (i + 1),
    sha512: 'ab'.repeat(64),
    title: `Image ${i} – ünïcödé`,
  }));
}
