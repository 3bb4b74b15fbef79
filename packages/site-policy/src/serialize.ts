import { definePolicy, type SitePolicy } from './policy.js';
import { formatAge, formatSize } from './values.js';

/**
 * The policy as a policy file that {@link parsePolicy} reads back to an equal value
 * (`parsePolicy(serializePolicy(p), { source: p.source })` deep-equals `p`). Empty lists are left out;
 * `deprecated` is always written. The policy is validated first with {@link definePolicy}, which refuses anything a
 * policy file cannot hold (a hand-made value may hold anything).
 */
export function serializePolicy(policy: SitePolicy): string {
  const p = definePolicy(policy);
  const out: string[] = [];
  const key = (name: string, values: readonly string[]) => {
    if (values.length === 0) return;
    if (values.length === 1) out.push(`${name} = ${values[0]}`);
    else out.push(`${name} =`, ...values.map((v) => `    ${v}`));
  };
  for (const section of ['endorsers', 'images', 'checksums'] as const) {
    const { allow, deny } = p[section];
    if (allow.length === 0 && deny.length === 0) continue;
    out.push(`[${section}]`);
    key('allow', allow);
    key('deny', deny);
    out.push('');
  }
  out.push('[limits]');
  if (p.limits.formats.length > 0) out.push(`formats = ${p.limits.formats.join(' ')}`);
  if (p.limits.maxSizeBytes !== undefined) out.push(`max-size = ${formatSize(p.limits.maxSizeBytes)}`);
  out.push(`deprecated = ${p.limits.deprecated}`);
  if (p.limits.maxListAgeSeconds !== undefined) {
    out.push(`max-list-age = ${formatAge(p.limits.maxListAgeSeconds)}`);
  }
  return `${out.join('\n')}\n`;
}
