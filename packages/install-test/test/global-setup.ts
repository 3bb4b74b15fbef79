// The services the installed commands are run against (PostgreSQL, sshd: scripts/start-*.sh, unless CI started
// them), and a build of every package (unless CI built them): what is packed is each package's dist/.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function start(script: string, needed: string): void {
  if (process.env[needed]) return;
  const out = execFileSync('bash', [`${root}scripts/${script}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const line of out.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  if (!process.env[needed]) throw new Error(`scripts/${script} did not print ${needed}`);
}

export default function setup(): void {
  start('start-postgres.sh', 'TEST_POSTGRES_URL');
  start('start-sshd.sh', 'TEST_SSH_HOST');
  if (process.env.HEPIX_SKIP_BUILD !== '1') {
    execFileSync('pnpm', ['run', 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, npm_config_nodedir: '/usr' },
    });
  }
}
