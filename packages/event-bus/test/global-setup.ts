// Starts RabbitMQ (scripts/start-rabbitmq.sh) and PostgreSQL (scripts/start-postgres.sh) when TEST_AMQP_URL or
// TEST_POSTGRES_URL is not set (never skips: if a server cannot be started, the run fails), and builds dist/ for
// the README example and examples/event-queue, which import the built packages.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function start(script: string, name: string): string {
  const out = execFileSync('bash', [`${root}scripts/${script}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const value = new RegExp(`^${name}=(.+)$`, 'm').exec(out)?.[1]?.trim();
  if (!value) throw new Error(`scripts/${script} did not print ${name}`);
  process.env[name] = value;
  return value;
}

export default function setup(project: TestProject): void {
  const amqp = process.env.TEST_AMQP_URL || start('start-rabbitmq.sh', 'TEST_AMQP_URL');
  const sqliteOnly = process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true';
  const pg =
    process.env.TEST_POSTGRES_URL || (sqliteOnly ? '' : start('start-postgres.sh', 'TEST_POSTGRES_URL'));
  project.provide('TEST_AMQP_URL', amqp);
  project.provide('TEST_POSTGRES_URL', pg);
  if (process.env.HEPIX_SKIP_BUILD !== '1') {
    execFileSync('pnpm', ['--filter', '@hepix/event-bus...', 'run', 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, npm_config_nodedir: '/usr' },
    });
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    TEST_AMQP_URL: string;
    TEST_POSTGRES_URL: string;
  }
}
