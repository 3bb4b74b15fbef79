// The original line formats (reference §3.8), so scripts parsing vmcatcher output keep working, and the
// stable JSON equivalents. Every value a publisher (or a list server) controls is control-character escaped in
// the line formats (escapeControl of @hepix/common): a tab or newline in a title can never forge a field or a
// line. JSON output needs no escaping beyond JSON's own.
import { escapeControl } from '@hepix/common';
import type { PolicyImageState } from '@hepix/image-cache/policy';
import type {
  Principal,
  StoredImageListSummary,
  SubscribedImage,
  Subscription,
} from '@hepix/imagelist-store';
import { type CliIo, fmtDate, processIo } from './context.js';

/**
 * The tools' output on a pipe that may close early (`vmcatcher_image -l | head -1`): once standard output is
 * gone (EPIPE), the rest is dropped quietly instead of ending with a stack trace. Other I/O is unchanged.
 */
export function pipeSafe(io: CliIo): CliIo {
  if (io !== processIo) return io;
  if (!watchingStdout) {
    watchingStdout = true;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stdoutClosed = true;
    });
  }
  return {
    stdout: (text) => {
      if (!stdoutClosed) process.stdout.write(text);
    },
    stderr: io.stderr,
  };
}
let watchingStdout = false;
let stdoutClosed = false;

export const TRUST_ANCHOR_NAMES = { none: 'None', browser: 'Browser', igtf: 'IGTF' } as const;

export const pyBool = (b: boolean): string => (b ? 'True' : 'False');

/** A publisher-controlled value in a line format. */
const e = (v: unknown): string => escapeControl(String(v));

/** `vmcatcher_subscribe -l`: `<uuid>\t<True|False>\t<None|Browser|IGTF>\t<uri>`. */
export function subscriptionListLine(s: Subscription): string {
  return `${e(s.identifier)}\t${pyBool(s.authorised)}\t${TRUST_ANCHOR_NAMES[s.trustAnchor]}\t${e(s.uri)}`;
}

/** `vmcatcher_image -l`: `<image uuid>\t<state>\t<subscription uuid>`. */
export function imageListLine(i: SubscribedImage): string {
  return `${e(i.identifier)}\t${i.state}\t${e(i.subscription)}`;
}

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
    `imagelist.dc:identifier=${e(s.identifier)}`,
    `subscription.dc:identifier=${e(s.identifier)}`,
    `subscription.dc:description=${e(s.description)}`,
    `subscription.sl:authorised=${pyBool(s.authorised)}`,
    `subscription.hv:uri=${e(s.uri)}`,
    `subscription.hv:uri.trustAnchor=${TRUST_ANCHOR_NAMES[s.trustAnchor]}`,
  ];
  if (s.hasUsername) {
    lines.push(
      `subscription.hv:uri.username=${view.usernameIsToken || view.username === undefined ? '********' : e(view.username)}`,
    );
  }
  // Passwords are never printed (the original printed them in clear).
  if (s.hasPassword) lines.push('subscription.hv:uri.password=********');
  lines.push(`subscription.dc:date:updated=${fmtDate(s.updated)}`);
  lines.push(`subscription.updateMode=${s.updateMode}`);
  if (s.latest) lines.push(...imageListInfoLines(s.latest));
  return lines;
}

function imageListInfoLines(l: StoredImageListSummary): string[] {
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
      `image.dc:description=${e(i.description)}`,
      `image.dc:title=${e(i.title)}`,
      `image.hv:hypervisor=${e(i.hypervisor)}`,
      `image.hv:size=${e(i.size)}`,
      `image.hv:uri=${e(i.uri)}`,
      `image.hv:version=${e(i.version)}`,
      // The original printed the hypervisor here (bug); this prints the architecture.
      `image.sl:arch=${e(i.arch)}`,
      `image.sl:checksum:sha512=${e(i.sha512)}`,
      `image.sl:comments=${e(i.comments)}`,
      `image.sl:os=${e(i.os)}`,
      `image.sl:osversion=${e(i.osversion)}`,
    );
  }
  lines.push(`imagedef.dc:identifier=${e(image.identifier)}`, `imagedef.cache=${image.cache ? 1 : 0}`);
  if (signer)
    lines.push(`endorser:hv:subject=${e(signer.subject)}`, `endorser:hv:issuer=${e(signer.issuer)}`);
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

function imageListJson(l: StoredImageListSummary): Record<string, unknown> {
  return {
    created: fmtDate(l.created),
    expired: l.expired ? fmtDate(l.expired) : null,
    expires: fmtDate(l.expires),
    imported: fmtDate(l.imported),
    version: l.version,
  };
}

/** An image's standing under the site policy: its `sl:deprecated` reason and the refusing rule, if any. */
export function policyJson(image: PolicyImageState): Record<string, unknown> {
  const p = image.policy;
  const refused = p?.decision === 'refuse';
  return {
    deprecated: image.deprecated ?? null,
    policy: p
      ? {
          decision: p.decision,
          refusedBy: p.refusedBy ?? null,
          detail: refused ? (p.reasons.find((r) => r.rule === p.refusedBy)?.detail ?? '') : null,
          warnings: p.warnings,
        }
      : null,
  };
}

/** The lines `vmcatcher_image -i` adds about the site policy. */
export function policyInfoLines(image: PolicyImageState): string[] {
  const lines: string[] = [];
  if (image.deprecated !== undefined) lines.push(`image.sl:deprecated=${e(image.deprecated)}`);
  const p = image.policy;
  if (p) {
    lines.push(`policy.decision=${p.decision}`);
    if (p.decision === 'refuse') {
      lines.push(`policy.refusedBy=${p.refusedBy}`);
      lines.push(`policy.detail=${e(p.reasons.find((r) => r.rule === p.refusedBy)?.detail ?? '')}`);
    }
  }
  return lines;
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
