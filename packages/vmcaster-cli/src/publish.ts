// `--upload-imagelist`: bump, date, validate, sign and upload an image list, then record what was published.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatImageListDate,
  ImageListValidationError,
  serializeImageList,
  validateImageList,
} from '@hepix/hepix-imagelist-schema';
import type { PublisherRepository } from '@hepix/imagelist-store';
import { certificateInfo, dnEquals, signSmime } from '@hepix/smime-x509';
import { VmcasterError } from './errors.js';
import { mapKeyError } from './signer.js';
import { nextVersion, type UploadTarget } from './upload-image.js';

type Certificate = Parameters<typeof certificateInfo>[0];
type PrivateKey = Parameters<typeof signSmime>[1]['privateKey'];

export interface Signer {
  certificate: Certificate;
  privateKey: PrivateKey;
}

export interface SignerIdentity {
  subject: string;
  issuer: string;
}

type Json = Record<string, unknown>;

/** The stored list as `--imagelist-show` prints it: no new dates or version. */
export async function exportImageList(store: PublisherRepository, imageList: string): Promise<Json> {
  const record = await store.getImageList(imageList);
  if (!record)
    throw new VmcasterError('ERR_VMCASTER_NOT_FOUND', `image list ${imageList} does not exist`, {
      subject: imageList,
    });
  return (await store.exportImageList(imageList)) as Json;
}

/** Strict validation issues of a document, as `path: message` lines; empty when valid. */
export function strictIssues(document: unknown): string[] {
  try {
    validateImageList(document, { mode: 'strict' });
    return [];
  } catch (err) {
    if (err instanceof ImageListValidationError)
      return err.issues.map((i) => `${i.path || '/'}: ${i.message}`);
    throw err;
  }
}

/** Checks that a signing certificate may sign lists: keyUsage present and including digitalSignature. */
export function checkSigningCertificate(certificate: Certificate): SignerIdentity {
  const info = certificateInfo(certificate);
  if (info.keyUsage === undefined)
    throw new VmcasterError(
      'ERR_VMCASTER_KEY_USAGE',
      `the signing certificate ${info.subject} has no keyUsage extension`,
      { subject: info.subject },
    );
  if (!info.digitalSignature)
    throw new VmcasterError(
      'ERR_VMCASTER_NO_DIGITAL_SIGNATURE',
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
}

/**
 * The list as it will be published: next `hv:version`, `dc:date:created` = now, `dc:date:expires` = now +
 * lifetime, `dc:source` defaulting to `hv:uri`, and as `hv:endorser` the bound endorser whose `hv:dn`/`hv:ca`
 * are the signing certificate's subject/issuer. With a signer it throws when the list has no `hv:uri`, no
 * endorser matches or strict validation fails; without one (a preview) it reports the issues instead.
 */
export function prepareImageList(
  exported: Json,
  imageList: string,
  options: PrepareOptions,
): PreparedImageList {
  const inner = { ...((exported['hv:imagelist'] as Json | undefined) ?? {}) };
  const uri = typeof inner['hv:uri'] === 'string' ? (inner['hv:uri'] as string) : '';
  if (!uri && options.signer)
    throw new VmcasterError(
      'ERR_VMCASTER_NO_URI',
      `image list ${imageList} has no hv:uri; set it with --select-imagelist ${imageList} --key-set-imagelist hv:uri --key-value-imagelist URL`,
      { subject: imageList },
    );
  const bound = endorserEntries(inner['hv:endorser']);
  if (options.signer) {
    const { subject, issuer } = options.signer;
    const matching = bound.filter(
      (e) =>
        typeof e['hv:dn'] === 'string' &&
        typeof e['hv:ca'] === 'string' &&
        dnEquals(e['hv:dn'] as string, subject) &&
        dnEquals(e['hv:ca'] as string, issuer),
    );
    if (matching.length === 0)
      throw new VmcasterError(
        'ERR_VMCASTER_ENDORSER_MISMATCH',
        `the signing certificate (subject ${subject}, issuer ${issuer}) matches no endorser bound to image list ${imageList}; bind an endorser whose hv:dn and hv:ca are these DNs`,
        { subject: imageList },
      );
    // One endorser object, the signer's: vmcatcher cannot parse a list-valued hv:endorser.
    inner['hv:endorser'] = { 'hv:x509': matching[0] };
  }
  const previous = typeof inner['hv:version'] === 'string' ? (inner['hv:version'] as string) : undefined;
  const version = nextVersion(previous);
  const created = formatImageListDate(options.now);
  const expires = formatImageListDate(new Date(options.now.getTime() + options.lifetimeDays * 86_400_000));
  const updates: Record<string, string> = {
    'hv:version': version,
    'dc:date:created': created,
    'dc:date:expires': expires,
  };
  if (uri && (typeof inner['dc:source'] !== 'string' || inner['dc:source'] === ''))
    updates['dc:source'] = uri;
  Object.assign(inner, updates);
  if (!Array.isArray(inner['hv:images'])) inner['hv:images'] = [];
  const document = { 'hv:imagelist': inner };
  const issues = strictIssues(document);
  if (issues.length && options.signer)
    throw new VmcasterError('ERR_VMCASTER_IMAGELIST_INVALID', `image list ${imageList} is not complete`, {
      subject: imageList,
      details: issues,
    });
  return { document, updates, uri, version, issues };
}

/**
 * `--imagelist-show`: the list exactly as the next publish would produce it (next version, new dates and
 * defaults), with the endorser matching `signer` when a signing certificate is known, and its strict issues.
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
      if (!(err instanceof VmcasterError) || err.code !== 'ERR_VMCASTER_ENDORSER_MISMATCH') throw err;
    }
  }
  return prepareImageList(exported, imageList, { ...options, signer: undefined });
}

export interface PublishImageListOptions {
  store: PublisherRepository;
  target: UploadTarget | (() => Promise<UploadTarget>);
  imageList: string;
  signer: Signer;
  /** Days from now until dc:date:expires (default 28). */
  lifetimeDays?: number;
  now?: () => Date;
  digest?: 'sha256' | 'sha384' | 'sha512';
  signal?: AbortSignal;
  tmpDir?: string;
  /** Names the key in error messages (its file name). */
  keyLabel?: string;
  log?: (level: 'debug' | 'info' | 'warn', message: string) => void;
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
}

/**
 * Publishes an image list: checks the certificate, prepares the list (prepareImageList), signs it detached,
 * uploads it over the old file through the target, and only then stores the new version and dates.
 */
export async function publishImageList(options: PublishImageListOptions): Promise<PublishImageListResult> {
  const { store, imageList } = options;
  const log = options.log ?? (() => {});
  const now = (options.now ?? (() => new Date()))();
  const identity = checkSigningCertificate(options.signer.certificate);
  const exported = await exportImageList(store, imageList);
  const prepared = prepareImageList(exported, imageList, {
    signer: identity,
    now,
    lifetimeDays: options.lifetimeDays ?? 28,
  });
  const content = serializeImageList(prepared.document);
  let signedRaw: unknown;
  try {
    signedRaw = await signSmime(content, {
      certificate: options.signer.certificate,
      privateKey: options.signer.privateKey,
      detached: true,
      ...(options.digest ? { digest: options.digest } : {}),
    } as Parameters<typeof signSmime>[1]);
  } catch (cause) {
    throw mapKeyError(cause, options.keyLabel ?? 'the private key');
  }
  const signed =
    typeof signedRaw === 'string'
      ? new Uint8Array(Buffer.from(signedRaw, 'utf8'))
      : (signedRaw as Uint8Array);
  const tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'vmcaster-'));
  try {
    const file = join(tmp, 'imagelist.smime');
    await writeFile(file, signed, { mode: 0o644 });
    const target = typeof options.target === 'function' ? await options.target() : options.target;
    log('info', `uploading image list ${imageList} version ${prepared.version} to ${prepared.uri}`);
    await target.put(prepared.uri, file, { size: signed.length, signal: options.signal });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await store.setImageListKeys(imageList, prepared.updates);
  return {
    imageList,
    uri: prepared.uri,
    version: prepared.version,
    created: prepared.updates['dc:date:created'],
    expires: prepared.updates['dc:date:expires'],
    content,
    signed,
  };
}
