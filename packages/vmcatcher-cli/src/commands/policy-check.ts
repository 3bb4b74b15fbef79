// `vmcatcher_image --policy-check -u UUID` and `vmcatcher policy check UUID`: StratusLab's stratus-policy-image.
// Every available entry of the image (one per subscription that publishes it) is a candidate; the first one the
// site policy allows is the one to run, and its URL is printed with the rules it passed.
import { escapeControl } from '@hepix/common';
import type { Store } from '@hepix/imagelist-store';
import {
  evaluateCandidates,
  imageLocations,
  type PolicyDecision,
  type PolicyListFacts,
  type SitePolicy,
} from '@hepix/site-policy';
import { CliError, type CommonContext } from '../common/context.js';
import { EXIT } from '../common/exit.js';
import { jsonText } from '../common/format.js';

/** What `stratus-policy-image` printed for an image it refused. */
const POLICY_REFUSED_MESSAGE = "Image isn't valid according to site policy";

interface Entry {
  subscription: string;
  image: Record<string, unknown>;
  list: PolicyListFacts;
}

const e = (v: unknown): string => escapeControl(String(v));

function refusal(d: PolicyDecision): { rule: string; detail: string } {
  return {
    rule: d.refusedBy ?? '',
    detail: d.reasons.find((r) => r.rule === d.refusedBy)?.detail ?? '',
  };
}

export async function policyCheck(
  ctx: CommonContext,
  store: Store,
  identifier: string,
  only: string | undefined,
  policy: SitePolicy,
): Promise<number> {
  const defs = (await store.subscriber.getImages(identifier)).filter(
    (d) => only === undefined || d.subscription === only,
  );
  if (!defs.length) throw new CliError('ERR_CLI_NOT_FOUND', `Image '${e(identifier)}' not found.`);
  const latest = new Map((await store.subscriber.listSubscriptions()).map((s) => [s.identifier, s.latest]));
  // Only what the store makes available (state bit 2) is a candidate: an expired or withdrawn list endorses
  // nothing, whatever the policy says.
  const entries: Entry[] = [];
  for (const d of defs) {
    const list = latest.get(d.subscription);
    if (!d.latest || !list || (d.state & 2) === 0) continue;
    entries.push({
      subscription: d.subscription,
      image: d.latest.image,
      list: { signer: list.signer, created: list.created, identifier: d.subscription },
    });
  }
  if (!entries.length) {
    throw new CliError(
      'ERR_CLI_NOT_FOUND',
      `Image '${e(identifier)}' is not available from any subscription (no current, endorsed list has it).`,
    );
  }
  const selection = evaluateCandidates(policy, entries);
  const chosen = selection.selected;
  const urls = chosen ? imageLocations(chosen.image) : [];
  if (ctx.format === 'json') {
    ctx.io.stdout(
      jsonText({
        candidates: entries.map((c, i) => ({
          decision: selection.decisions[i],
          subscription: c.subscription,
        })),
        decision: selection.decision,
        image: identifier,
        locations: urls,
        policy: policy.source ?? null,
        subscription: chosen?.subscription ?? null,
        url: urls[0] ?? null,
      }),
    );
  } else if (chosen && selection.selectedIndex !== undefined) {
    const d = selection.decisions[selection.selectedIndex];
    for (const w of d.warnings) ctx.log('warn', w, { name: 'policy' });
    const lines = [e(urls[0] ?? '')];
    for (const r of d.reasons) if (r.active && r.passed) lines.push(`passed\t${r.rule}\t${e(r.detail)}`);
    ctx.io.stdout(`${lines.join('\n')}\n`);
  } else {
    const lines = [POLICY_REFUSED_MESSAGE];
    for (const [i, c] of entries.entries()) {
      const r = refusal(selection.decisions[i]);
      lines.push(`refused\t${e(c.subscription)}\t${r.rule}\t${e(r.detail)}`);
    }
    ctx.io.stdout(`${lines.join('\n')}\n`);
  }
  return selection.decision === 'allow' ? 0 : EXIT.ERR_CLI_POLICY_REFUSED;
}
