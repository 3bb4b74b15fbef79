// Starts OpenStack Swift with its S3 API through scripts/start-swift.sh when TEST_S3_ENDPOINT is not set (never
// skips: if the server cannot be started, the run fails), and builds dist/ for the test that kills a child
// process mid-upload (the child imports the built package).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const NAMES = ['TEST_S3_ENDPOINT', 'TEST_S3_ACCESS_KEY', 'TEST_S3_SECRET_KEY', 'TEST_S3_REGION'] as const;

export default function setup(project: TestProject): void {
  if (!process.env.TEST_S3_ENDPOINT) {
    const out = execFileSync('bash', [`${root}scripts/start-swift.sh`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    for (const name of NAMES) {
      const value = new RegExp(`^${name}=(.+)$`, 'm').exec(out)?.[1]?.trim();
      if (!value) throw new Error(`scripts/start-swift.sh did not print ${name}`);
      process.env[name] = value;
    }
  }
  for (const name of NAMES) project.provide(name, process.env[name] ?? '');
  if (process.env.HEPIX_SKIP_BUILD !== '1') {
    execFileSync('pnpm', ['--filter', '@hepix/object-store...', 'run', 'build'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    TEST_S3_ENDPOINT: string;
    TEST_S3_ACCESS_KEY: string;
    TEST_S3_SECRET_KEY: string;
    TEST_S3_REGION: string;
  }
}
