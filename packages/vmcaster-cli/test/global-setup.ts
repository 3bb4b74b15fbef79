// Builds the bin (unless CI already did) and starts the test sshd when its variables are missing, so that
// `npx vitest run` works standalone.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default function setup(): void {
  if (process.env.HEPIX_SKIP_BUILD !== '1') {
    const r = spawnSync('pnpm', ['--filter', '@hepix/vmcaster-cli...', 'run', 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error('building @hepix/vmcaster-cli and its dependencies failed');
  }
  if (!process.env.TEST_SSH_HOST) {
    const r = spawnSync('bash', [`${root}scripts/start-sshd.sh`], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error('scripts/start-sshd.sh failed');
    for (const line of r.stdout.split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m) process.env[m[1]] = m[2];
    }
  }
}
