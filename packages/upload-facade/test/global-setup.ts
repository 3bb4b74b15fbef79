// Starts the real services the tests use (sshd, nginx) when CI has not already started them and exported
// their variables, so `npx vitest run` works standalone. A missing service is a failure, never a skip.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const scripts = fileURLToPath(new URL('../../../scripts/', import.meta.url));

function ensure(script: string, probe: string): void {
  if (process.env[probe]) return;
  const out = execFileSync('bash', [`${scripts}${script}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const line of out.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  if (!process.env[probe]) throw new Error(`${script} did not print ${probe}`);
}

export default function setup(): void {
  ensure('start-sshd.sh', 'TEST_SSH_HOST');
  ensure('start-nginx.sh', 'TEST_DAV_URL');
}
