// Builds the bin (unless CI already did) and starts the test sshd and PostgreSQL when their variables are
// missing, so that `npx vitest run` works standalone.
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
  for (const [variable, script] of [
    ['TEST_SSH_HOST', 'start-sshd.sh'],
    ['TEST_POSTGRES_URL', 'start-postgres.sh'],
  ]) {
    if (process.env[variable]) continue;
    const r = spawnSync('bash', [`${root}scripts/${script}`], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`scripts/${script} failed`);
    for (const line of r.stdout.split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m) process.env[m[1]] = m[2];
    }
  }
}
