// Starts the real image service (glance-api noauth and keystone pipelines, Keystone; scripts/start-glance.sh)
// when CI has not already exported its variables, and builds the bins the end-to-end tests spawn (vmcatcher_*
// and vmcatcher-glance) unless CI built everything. A missing service is a failure, never a skip.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

export default function setup(): void {
  if (!process.env.TEST_GLANCE_URL) {
    const out = execFileSync('bash', [`${root}scripts/start-glance.sh`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    for (const line of out.split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m) process.env[m[1]] = m[2];
    }
    if (!process.env.TEST_GLANCE_URL)
      throw new Error('scripts/start-glance.sh did not print TEST_GLANCE_URL');
  }
  if (process.env.HEPIX_SKIP_BUILD === '1') return;
  execFileSync(
    'pnpm',
    ['--filter', '@hepix/glance-connector...', '--filter', '@hepix/vmcatcher-cli...', 'run', 'build'],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, npm_config_nodedir: '/usr' },
    },
  );
}
