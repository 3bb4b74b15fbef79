// The original line formats (reference §3.8), so scripts parsing vmcatcher output keep working, and the
// stable JSON equivalents.
import type {
  Principal,
  StoredImageListSummary,
  SubscribedImage,
  Subscription,
} from '@hepix/imagelist-store';
import { fmtDate } from './context.js';

export const TRUST_ANCHOR_NAMES = { none: 'None', browser: 'Browser', igtf: 'IGTF' } as const;

export const pyBool = (b: boolean): string => (b ? 'True' : 'False');

export interface SubscriptionView {
  subscription: Subscription;
  /** Stored user name, shown unless it is an AppDB token. */
  username?: string;
  /** True when the stored password marks the user name as a token (`x-oauth-basic`). */
  usernameIsToken?: boolean;
}

export function subscriptionInfoLines(view: SubscriptionView): string[] {
  const s = view.subscription;
  const lines = [
    `imagelist.dc:identifier=${s.identifier}`,
    `subscription.dc:identifier=${s.identifier}`,
    `subscription.dc:description=${s.description}`,
    `subscription.sl:authorised=${pyBool(s.authorised)}`,
    `subscription.hv:uri=${s.uri}`,
    `subscription.hv:uri.trustAnchor=${TRUST_ANCHOR_NAMES[s.trustAnchor]}`,
  ];
  if (s.hasUsername) {
    lines.push(
      `subscription.hv:uri.username=${view.usernameIsToken || view.username === undefined ? '********' : view.username}`,
    );
  }
  // Passwords are never printed (the original printed them in clear).
  if (s.hasPassword) lines.push('subscription.hv:uri.password=********');
  lines.push(`subscription.dc:date:updated=${fmtDate(s.updated)}`);
  lines.push(`subscription.updateMode=${s.updateMode}`);
  if (s.latest) lines.push(...imageListInfoLines(s.latest));
  return lines;
}

export function imageListInfoLines(l: StoredImageListSummary): string[] {
  const lines: string[] = [];
  if (l.expired) lines.push(`imagelist.vmcatcher.dc:date:expired=${fmtDate(l.expired)}`);
  lines.push(`imagelist.expired=${pyBool(!!l.expired)}`);
  lines.push(`imagelist.dc:date:imported=${fmtDate(l.imported)}`);
  lines.push(`imagelist.dc:date:created=${fmtDate(l.created)}`);
  lines.push(`imagelist.dc:date:expires=${fmtDate(l.expires)}`);
  return lines;
}

export function imageInfoLines(image: SubscribedImage, signer?: Principal): string[] {
  const lines: string[] = [];
  const i = image.latest;
  if (i) {
    lines.push(
      `image.dc:description=${i.description}`,
      `image.dc:title=${i.title}`,
      `image.hv:hypervisor=${i.hypervisor}`,
      `image.hv:size=${i.size}`,
      `image.hv:uri=${i.uri}`,
      `image.hv:version=${i.version}`,
      // The original printed the hypervisor here (bug); this prints the architecture.
      `image.sl:arch=${i.arch}`,
      `image.sl:checksum:sha512=${i.sha512}`,
      `image.sl:comments=${i.comments}`,
      `image.sl:os=${i.os}`,
      `image.sl:osversion=${i.osversion}`,
    );
  }
  lines.push(`imagedef.dc:identifier=${image.identifier}`, `imagedef.cache=${image.cache ? 1 : 0}`);
  if (signer) lines.push(`endorser:hv:subject=${signer.subject}`, `endorser:hv:issuer=${signer.issuer}`);
  return lines;
}

export function subscriptionJson(view: SubscriptionView): Record<string, unknown> {
  const s = view.subscription;
  const sub: Record<string, unknown> = {
    authorised: s.authorised,
    description: s.description,
    identifier: s.identifier,
    trustAnchor: TRUST_ANCHOR_NAMES[s.trustAnchor],
    updateMode: s.updateMode,
    updated: s.updated ? fmtDate(s.updated) : null,
    uri: s.uri,
  };
  if (s.hasUsername)
    sub.userName = view.usernameIsToken || view.username === undefined ? '********' : view.username;
  if (s.hasPassword) sub.password = '********';
  const out: Record<string, unknown> = { Subscription: sub };
  if (s.latest) out.ImageListInstance = imageListJson(s.latest);
  return out;
}

export function imageListJson(l: StoredImageListSummary): Record<string, unknown> {
  return {
    created: fmtDate(l.created),
    expired: l.expired ? fmtDate(l.expired) : null,
    expires: fmtDate(l.expires),
    imported: fmtDate(l.imported),
    version: l.version,
  };
}

export function imageJson(image: SubscribedImage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ImageDefinition: { cache: image.cache ? 1 : 0, identifier: image.identifier, state: image.state },
  };
  const i = image.latest;
  if (i) {
    out.ImageInstance = {
      arch: i.arch,
      comments: i.comments,
      description: i.description,
      hypervisor: i.hypervisor,
      identifier: i.identifier,
      os: i.os,
      osversion: i.osversion,
      sha512: i.sha512,
      size: i.size,
      title: i.title,
      uri: i.uri,
      version: i.version,
      ...(i.format !== undefined ? { format: i.format } : {}),
    };
  }
  return out;
}

/** `json.dumps(sort_keys=True, indent=4)` equivalent. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 4)}\n`;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
