// Builds this package and its dependencies (unless CI already did), for the README example, which runs
// against the built package as a user would import it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default function setup(): void {
  if (process.env.HEPIX_SKIP_BUILD === '1') return;
  const r = spawnSync('pnpm', ['--filter', '@hepix/imagelist-publisher...', 'run', 'build'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error('building @hepix/imagelist-publisher and its dependencies failed');
}
