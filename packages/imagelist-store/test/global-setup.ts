// Starts PostgreSQL through scripts/start-postgres.sh when TEST_POSTGRES_URL is not set (never skips: if the
// server cannot be started, the run fails), and builds dist/ (with the packages it depends on) for the tests that spawn child processes.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export default function setup(project: TestProject): void {
  let url = process.env.TEST_POSTGRES_URL;
  const sqliteOnly = process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true';
  if (!url && !sqliteOnly) {
    const out = execFileSync('bash', [`${root}scripts/start-postgres.sh`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    url = /^TEST_POSTGRES_URL=(.+)$/m.exec(out)?.[1]?.trim();
    if (!url) throw new Error('scripts/start-postgres.sh did not print TEST_POSTGRES_URL');
    process.env.TEST_POSTGRES_URL = url;
  }
  project.provide('TEST_POSTGRES_URL', url ?? '');
  if (process.env.HEPIX_SKIP_BUILD !== '1') {
    execFileSync('pnpm', ['--filter', '@hepix/imagelist-store...', 'run', 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    TEST_POSTGRES_URL: string;
  }
}
