// Builds the CLI (and the packages it bundles against) once before the tests that spawn the real bins,
// unless CI already built everything (HEPIX_SKIP_BUILD=1).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  if (process.env.HEPIX_SKIP_BUILD === '1') return;
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  execFileSync('pnpm', ['--filter', '@hepix/vmcatcher-cli...', '--filter', '@hepix/vmcaster-cli...', 'run', 'build'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, npm_config_nodedir: '/usr' },
  });
}
