// Builds dist/ of this package and of @hepix/common (unless CI already built everything): the worker_threads
// test loads the built package, as a program using it would.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default function setup(): void {
  if (process.env.HEPIX_SKIP_BUILD === '1') return;
  const r = spawnSync('pnpm', ['--filter', '@hepix/transport...', 'run', 'build'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error('building @hepix/transport and its dependencies failed');
}
