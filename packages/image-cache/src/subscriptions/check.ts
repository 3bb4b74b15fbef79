// The checks every fetched list goes through, in the original vmcatcher order (signature, JSON, image list,
// endorser DN/CA, identifier, creation date, expiry), each mapped to its original exit status.
import {
  compareVersions,
  imageSize,
  parseImageListDate,
  validateImageListDetailed,
} from '@hepix/hepix-imagelist-schema';
import type { Principal, RecordImageListInput } from '@hepix/imagelist-store';
import { dnEquals, type TrustStore, verifySmime } from '@hepix/smime-x509';
import { SubscriptionError } from './errors.js';

export type CrlPolicy = 'require' | 'if-present' | 'ignore';

export interface VerifiedImageList {
  /** The signed content (the JSON text as signed). */
  content: Uint8Array;
  signer: Principal;
  /** The inner `hv:imagelist` object, normalised by the schema package. */
  list: Record<string, unknown>;
  identifier: string;
  version: string;
  created: Date;
  expires: Date;
  /** The list's self-declared location. */
  uri: string;
  images: Record<string, unknown>[];
  warnings: string[];
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Signature, JSON, schema and endorser checks (statuses 11, 37, 38, 12). Dates are checked by checkDates. */
export async function verifyImageList(
  data: Uint8Array,
  options: { trust: TrustStore; at: Date; crl: CrlPolicy; subscription?: string },
): Promise<VerifiedImageList> {
  const ctx = options.subscription === undefined ? {} : { subscription: options.subscription };
  let verified: Awaited<ReturnType<typeof verifySmime>>;
  try {
    verified = await verifySmime(data, { trust: options.trust, at: options.at, crl: options.crl });
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    throw new SubscriptionError(
      'ERR_SUB_VALIDATION',
      `Signature validation failed${code ? ` (${code})` : ''}: ${(cause as Error).message}`,
      { ...ctx, cause },
    );
  }
  let text = Buffer.from(verified.content).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SubscriptionError(
      'ERR_SUB_NOT_JSON',
      `Signed content is not JSON: ${(cause as Error).message}`,
      {
        ...ctx,
        cause,
      },
    );
  }
  let detailed: { list: unknown; warnings: unknown[] };
  try {
    detailed = validateImageListDetailed(json, { mode: 'compatible' }) as {
      list: unknown;
      warnings: unknown[];
    };
  } catch (cause) {
    throw new SubscriptionError(
      'ERR_SUB_NOT_IMAGELIST',
      `Not a valid image list: ${(cause as Error).message}`,
      {
        ...ctx,
        cause,
      },
    );
  }
  const list = (detailed.list as Record<string, unknown>)['hv:imagelist'] as Record<string, unknown>;
  const warnings = detailed.warnings.map((w) =>
    typeof w === 'string' ? w : str((w as { message?: unknown }).message ?? w),
  );
  const endorserField = list['hv:endorser'];
  const endorsers = (Array.isArray(endorserField) ? endorserField : [endorserField]) as Record<
    string,
    unknown
  >[];
  const signer: Principal = { subject: verified.signer.subject, issuer: verified.signer.issuer };
  const x509s = endorsers.map((e) => (e?.['hv:x509'] ?? {}) as Record<string, unknown>);
  const matching = x509s.find((x) => dnEquals(str(x['hv:dn']), signer.subject));
  if (!matching) {
    throw new SubscriptionError(
      'ERR_SUB_DN_MISMATCH',
      `List hv:dn '${x509s.map((x) => str(x['hv:dn'])).join("', '")}' does not match the signer '${signer.subject}'`,
      ctx,
    );
  }
  if (!dnEquals(str(matching['hv:ca']), signer.issuer)) {
    throw new SubscriptionError(
      'ERR_SUB_DN_MISMATCH',
      `List hv:ca '${str(matching['hv:ca'])}' does not match the signer's issuer '${signer.issuer}'`,
      ctx,
    );
  }
  let created: Date;
  let expires: Date;
  try {
    created = parseImageListDate(list['dc:date:created'] as string, 'dc:date:created');
    expires = parseImageListDate(list['dc:date:expires'] as string, 'dc:date:expires');
  } catch (cause) {
    throw new SubscriptionError('ERR_SUB_NOT_IMAGELIST', `Invalid list date: ${(cause as Error).message}`, {
      ...ctx,
      cause,
    });
  }
  const images = ((list['hv:images'] as unknown[]) ?? [])
    .map((e) => (e as Record<string, unknown>)?.['hv:image'])
    .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object');
  return {
    content: verified.content,
    signer,
    list,
    identifier: str(list['dc:identifier']),
    version: str(list['hv:version']),
    created,
    expires,
    uri: str(list['hv:uri']),
    images,
    warnings,
  };
}

/** Creation in the future (33) and expiry (34), against `now`. */
export function checkDates(v: VerifiedImageList, now: Date, subscription?: string): void {
  const ctx = subscription === undefined ? {} : { subscription };
  if (now.getTime() < v.created.getTime()) {
    throw new SubscriptionError(
      'ERR_SUB_CREATED_IN_FUTURE',
      `Image list '${v.identifier}' has an invalid creation date in the future (${v.created.toISOString()})`,
      ctx,
    );
  }
  if (now.getTime() > v.expires.getTime()) {
    throw new SubscriptionError(
      'ERR_SUB_EXPIRED',
      `Image list '${v.identifier}' has expired (${v.expires.toISOString()})`,
      ctx,
    );
  }
}

/** -1 when `a` is older than `b` (delegates to the schema package's split_numeric_sort port). */
export function versionOrder(a: string, b: string): number {
  return compareVersions(a, b);
}

/** The image rows the store records for a verified list; images without an identifier are skipped. */
export function imageInstances(
  v: VerifiedImageList,
  warn: (m: string) => void,
): RecordImageListInput['images'] {
  const seen = new Set<string>();
  const out: RecordImageListInput['images'] = [];
  for (const image of v.images) {
    const identifier = str(image['dc:identifier']);
    if (!identifier) {
      warn(`Image list '${v.identifier}' has an image without dc:identifier; skipped`);
      continue;
    }
    if (seen.has(identifier)) {
      warn(`Image list '${v.identifier}' lists image '${identifier}' twice; the first is used`);
      continue;
    }
    seen.add(identifier);
    let size = 0;
    try {
      size = Number(imageSize(image as never));
    } catch {
      size = Number(str(image['hv:size'])) || 0;
    }
    const row: RecordImageListInput['images'][number] = {
      identifier,
      title: str(image['dc:title']),
      description: str(image['dc:description']),
      hypervisor: str(image['hv:hypervisor']),
      sha512: str(image['sl:checksum:sha512']),
      uri: str(image['hv:uri']),
      os: str(image['sl:os']),
      osversion: str(image['sl:osversion']),
      arch: str(image['sl:arch']),
      version: str(image['hv:version']),
      size,
      comments: str(image['sl:comments']),
      image,
    };
    if (image['hv:format'] !== undefined) row.format = str(image['hv:format']);
    out.push(row);
  }
  return out;
}

export { str as metadataString };
