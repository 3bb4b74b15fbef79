// Starts PostgreSQL through scripts/start-postgres.sh when TEST_POSTGRES_URL is not set (never skips: if the
// server cannot be started, the run fails), and builds dist/ (with the packages it depends on) for the tests that spawn child processes.
import { buildPackages, startService } from '@hepix/test-support';
import type { TestProject } from 'vitest/node';

export default function setup(project: TestProject): void {
  const sqliteOnly = process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true';
  if (!sqliteOnly) startService('start-postgres.sh', 'TEST_POSTGRES_URL');
  project.provide('TEST_POSTGRES_URL', process.env.TEST_POSTGRES_URL ?? '');
  buildPackages(['@hepix/imagelist-store...']);
}

declare module 'vitest' {
  export interface ProvidedContext {
    TEST_POSTGRES_URL: string;
  }
}
