// Starts PostgreSQL through scripts/start-postgres.sh when TEST_POSTGRES_URL is not set (never skips), and
// builds the bins the tests spawn (vmmarketplace, the vmcatcher commands) unless CI built them already.
import { buildPackages, startService } from '@hepix/test-support';
import type { TestProject } from 'vitest/node';

export default function setup(project: TestProject): void {
  const sqliteOnly = process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true';
  if (!sqliteOnly) startService('start-postgres.sh', 'TEST_POSTGRES_URL');
  project.provide('TEST_POSTGRES_URL', process.env.TEST_POSTGRES_URL ?? '');
  buildPackages(['@hepix/marketplace...', '@hepix/vmcatcher-cli...']);
}

declare module 'vitest' {
  export interface ProvidedContext {
    TEST_POSTGRES_URL: string;
  }
}
