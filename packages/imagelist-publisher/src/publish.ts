// Publishing a list: the next version and dates, the signer's endorser, strict validation (empty values
// allowed where the original published them), a detached S/MIME signature, the upload over the old file, and
// only then the new version and dates in the store.
import { type Logger, noopLogger } from '@hepix/common';
import {
  formatImageListDate,
  ImageListValidationError,
  serializeImageList,
  validateImageList,
} from '@hepix/hepix-imagelist-schema';
import type { PublisherRepository } from '@hepix/imagelist-store';
import { certificateInfo, type DigestName, dnEquals, signSmime } from '@hepix/smime-x509';
import { exportImageList } from './document.js';
import { internal, PublisherError } from './errors.js';
import { keyError, type Signer } from './signer.js';
import { putFile, type TargetSource } from './target.js';
import { nextVersion } from './versions.js';

type Json = Record<string, unknown>;

/** The signing certificate's subject and issuer (OpenSSL 1.x one-line form). */
export interface SignerIdentity {
  subject: string;
  issuer: string;
}

/** Strict validation issues of a document, as `path: message` lines; empty when valid. */
export function strictIssues(document: unknown): string[] {
  try {
    validateImageList(document, { mode: 'strict' });
    return [];
  } catch (err) {
    if (err instanceof ImageListValidationError)
      return err.issues.map((i) => `${i.path || '/'}: ${i.message}`);
    throw internal(err, 'validating the image list');
  }
}

/**
 * Keys that may be published empty, as the original vmcaster did (it checked presence only) and AppDB lists
 * carry them (`"sl:comments": ""`). Keys subscribers need to fetch and check an image, and the DNs, may not.
 */
export const EMPTY_ALLOWED = {
  imagelist: ['dc:title', 'dc:description'],
  endorser: ['dc:creator', 'hv:email'],
  image: ['dc:title', 'dc:description', 'sl:arch', 'sl:os', 'sl:osversion', 'sl:comments', 'hv:hypervisor'],
} as const;

/**
 * The document to validate strictly (the empty values that may be published stand in as a placeholder) and
 * one warning per empty value; the published document keeps them empty.
 */
function withoutAllowedEmpties(document: { 'hv:imagelist': Json }): { probe: unknown; warnings: string[] } {
  const warnings: string[] = [];
  const list = { ...document['hv:imagelist'] };
  const fill = (obj: Json, keys: readonly string[], what: string): Json => {
    const out = { ...obj };
    for (const k of keys)
      if (out[k] === '') {
        out[k] = '-';
        warnings.push(`${what}: ${k} is empty`);
      }
    return out;
  };
  Object.assign(list, fill(list, EMPTY_ALLOWED.imagelist, `image list ${String(list['dc:identifier'])}`));
  const endorser = list['hv:endorser'] as Json | undefined;
  const x509 = endorser?.['hv:x509'];
  if (x509 && typeof x509 === 'object' && !Array.isArray(x509))
    list['hv:endorser'] = { ...endorser, 'hv:x509': fill(x509 as Json, EMPTY_ALLOWED.endorser, 'endorser') };
  if (Array.isArray(list['hv:images']))
    list['hv:images'] = (list['hv:images'] as unknown[]).map((entry) => {
      const image = (entry as Json | null)?.['hv:image'];
      if (!image || typeof image !== 'object' || Array.isArray(image)) return entry;
      const id = String((image as Json)['dc:identifier']);
      return { ...(entry as Json), 'hv:image': fill(image as Json, EMPTY_ALLOWED.image, `image ${id}`) };
    });
  return { probe: { 'hv:imagelist': list }, warnings };
}

/** Checks that a certificate may sign lists: keyUsage present and including digitalSignature. */
export function checkSigningCertificate(certificate: Signer['certificate']): SignerIdentity {
  const info = certificateInfo(certificate);
  if (info.keyUsage === undefined)
    throw new PublisherError(
      'ERR_PUBLISHER_KEY_USAGE',
      `the signing certificate ${info.subject} has no keyUsage extension`,
      {
        subject: info.subject,
      },
    );
  if (!info.digitalSignature)
    throw new PublisherError(
      'ERR_PUBLISHER_NO_DIGITAL_SIGNATURE',
      `the signing certificate ${info.subject} does not allow digitalSignature`,
      { subject: info.subject },
    );
  return { subject: info.subject, issuer: info.issuer };
}

function endorserEntries(value: unknown): Json[] {
  const entries = Array.isArray(value) ? value : value ? [value] : [];
  return entries
    .map((e) => (e && typeof e === 'object' ? ((e as Json)['hv:x509'] as Json | undefined) : undefined))
    .filter((e): e is Json => !!e && typeof e === 'object');
}

export interface PrepareOptions {
  /** The signing certificate's subject and issuer. Without it (a preview), every bound endorser is kept. */
  signer?: SignerIdentity;
  now: Date;
  lifetimeDays: number;
}

export interface PreparedImageList {
  document: { 'hv:imagelist': Json };
  /** The list keys publishing changes in the store once the upload succeeded. */
  updates: Record<string, string>;
  uri: string;
  version: string;
  /** Strict-mode problems (empty when publishable). prepareImageList throws instead when a signer is given. */
  issues: string[];
  /** Values published although empty (`image X: sl:comments is empty`). */
  warnings: string[];
}

/**
 * The list as it will be published: next `hv:version`, `dc:date:created` = now, `dc:date:expires` = now +
 * lifetime, `dc:source` defaulting to `hv:uri`, and as `hv:endorser` the bound endorser whose `hv:dn`/`hv:ca`
 * are the signing certificate's subject/issuer (one object: vmcatcher cannot parse a list of endorsers). With a
 * signer it throws when the list has no `hv:uri`, no endorser matches or strict validation fails; without one
 * (a preview) it reports the issues instead.
 */
export function prepareImageList(
  exported: Json,
  imageList: string,
  options: PrepareOptions,
): PreparedImageList {
  const inner = { ...((exported['hv:imagelist'] as Json | undefined) ?? {}) };
  const uri = typeof inner['hv:uri'] === 'string' ? (inner['hv:uri'] as string) : '';
  if (!uri && options.signer)
    throw new PublisherError('ERR_PUBLISHER_LIST_NO_URI', `image list ${imageList} has no hv:uri`, {
      subject: imageList,
    });
  if (options.signer) {
    const { subject, issuer } = options.signer;
    const matching = endorserEntries(inner['hv:endorser']).filter(
      (e) =>
        typeof e['hv:dn'] === 'string' &&
        typeof e['hv:ca'] === 'string' &&
        dnEquals(e['hv:dn'] as string, subject) &&
        dnEquals(e['hv:ca'] as string, issuer),
    );
    if (matching.length === 0)
      throw new PublisherError(
        'ERR_PUBLISHER_ENDORSER_MISMATCH',
        `the signing certificate (subject ${subject}, issuer ${issuer}) matches no endorser bound to image list ${imageList}; bind an endorser whose hv:dn and hv:ca are these DNs`,
        { subject: imageList },
      );
    inner['hv:endorser'] = { 'hv:x509': matching[0] };
  }
  const previous = typeof inner['hv:version'] === 'string' ? (inner['hv:version'] as string) : undefined;
  const version = nextVersion(previous);
  const updates: Record<string, string> = {
    'hv:version': version,
    'dc:date:created': formatImageListDate(options.now),
    'dc:date:expires': formatImageListDate(
      new Date(options.now.getTime() + options.lifetimeDays * 86_400_000),
    ),
  };
  if (uri && (typeof inner['dc:source'] !== 'string' || inner['dc:source'] === ''))
    updates['dc:source'] = uri;
  Object.assign(inner, updates);
  if (!Array.isArray(inner['hv:images'])) inner['hv:images'] = [];
  const document = { 'hv:imagelist': inner };
  const { probe, warnings } = withoutAllowedEmpties(document);
  const issues = strictIssues(probe);
  if (issues.length && options.signer)
    throw new PublisherError('ERR_PUBLISHER_LIST_INCOMPLETE', `image list ${imageList} is not complete`, {
      subject: imageList,
      details: issues,
    });
  return { document, updates, uri, version, issues, warnings };
}

/**
 * What `--imagelist-show` prints: the list exactly as the next publish would produce it (next version, new
 * dates and defaults), with the endorser matching `signer` when a signing certificate is known, and its issues.
 */
export async function previewImageList(
  store: PublisherRepository,
  imageList: string,
  options: PrepareOptions,
): Promise<PreparedImageList> {
  const exported = await exportImageList(store, imageList);
  if (options.signer) {
    try {
      return prepareImageList(exported, imageList, options);
    } catch (err) {
      if (!(err instanceof PublisherError) || err.code !== 'ERR_PUBLISHER_ENDORSER_MISMATCH') throw err;
    }
  }
  return prepareImageList(exported, imageList, { ...options, signer: undefined });
}

export interface PublishImageListOptions {
  store: PublisherRepository;
  /** The upload target, or a function creating it when it is needed. */
  target: TargetSource;
  imageList: string;
  signer: Signer;
  /** Days from now until dc:date:expires (default 28). */
  lifetimeDays?: number;
  now?: () => Date;
  digest?: DigestName;
  signal?: AbortSignal;
  /** Names the key in error messages (its file name). */
  keyLabel?: string;
  log?: Logger;
}

export interface PublishImageListResult {
  imageList: string;
  uri: string;
  version: string;
  created: string;
  expires: string;
  /** The JSON text that was signed. */
  content: string;
  /** The S/MIME message that was uploaded. */
  signed: Uint8Array;
  /** Values published although empty. */
  warnings: string[];
}

/**
 * Publishes an image list: checks the certificate, prepares the list (prepareImageList), signs it detached,
 * uploads it over the old file through the target, and only then stores the new version and dates. Any failure
 * leaves the store as it was.
 */
export async function publishImageList(options: PublishImageListOptions): Promise<PublishImageListResult> {
  const { store, imageList } = options;
  const log = options.log ?? noopLogger;
  const now = (options.now ?? (() => new Date()))();
  const identity = checkSigningCertificate(options.signer.certificate);
  const exported = await exportImageList(store, imageList);
  const prepared = prepareImageList(exported, imageList, {
    signer: identity,
    now,
    lifetimeDays: options.lifetimeDays ?? 28,
  });
  for (const w of prepared.warnings) log('warn', `${w} (published as it is)`, { subscription: imageList });
  const content = serializeImageList(prepared.document);
  let signedText: string;
  try {
    signedText = await signSmime(content, {
      certificate: options.signer.certificate,
      privateKey: options.signer.privateKey,
      detached: true,
      ...(options.digest ? { digest: options.digest } : {}),
    });
  } catch (cause) {
    throw keyError(cause, options.keyLabel ?? 'the private key');
  }
  const signed = new Uint8Array(Buffer.from(signedText, 'utf8'));
  log('info', `uploading image list ${imageList} version ${prepared.version} to ${prepared.uri}`, {
    subscription: imageList,
    uri: prepared.uri,
  });
  await putFile(options.target, 'list', prepared.uri, signed, { signal: options.signal });
  try {
    await store.setImageListKeys(imageList, prepared.updates);
  } catch (err) {
    throw internal(err, `recording the new version of image list ${imageList}`);
  }
  return {
    imageList,
    uri: prepared.uri,
    version: prepared.version,
    created: prepared.updates['dc:date:created'],
    expires: prepared.updates['dc:date:expires'],
    content,
    signed,
    warnings: prepared.warnings,
  };
}
