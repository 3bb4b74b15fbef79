// The site policy of the vmcatcher tools: `--policy FILE`, else VMCATCHER_POLICY, else /etc/vmcatcher/policy.cfg
// when it exists, else no policy (every rule off but `deprecated = refuse`). It is read before the store is
// opened, so a policy that cannot be read or parsed stops the tool (status 40) with nothing changed.
import { DEFAULT_POLICY_PATH, loadPolicy, type SitePolicy } from '@hepix/site-policy';
import type { CommonContext } from './context.js';
import { type OptionSpec, str } from './options.js';

export const POLICY_OPTION: OptionSpec = {
  dest: 'policy',
  long: ['policy'],
  kind: 'value',
  metavar: 'FILE',
  help: `Site policy file (env VMCATCHER_POLICY, default ${DEFAULT_POLICY_PATH} when it exists; without one only deprecated images are refused).`,
};

/** Reads the site policy the options and environment name (a SitePolicyError when it cannot be used). */
export async function policyFrom(ctx: CommonContext): Promise<SitePolicy> {
  const policy = await loadPolicy(str(ctx.options, 'policy'), {
    env: ctx.env,
    log: (level, message, fields) => ctx.log(level, message, { name: 'policy', ...fields }),
  });
  if (policy.source) ctx.log('debug', `site policy: ${policy.source}`, { name: 'policy' });
  return policy;
}
