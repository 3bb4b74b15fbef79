// What the vitest global setups share: start a test service through its scripts/start-*.sh (each prints
// NAME=value lines) unless CI already exported its variables, and build the packages the tests spawn unless
// CI built everything. A service that cannot be started fails the run; nothing is skipped.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

/** The repository's root directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Runs `scripts/<script>` unless `variable` is set already, and puts every `NAME=value` line it prints into
 * `process.env`. Throws when the script fails or does not print `variable`.
 */
export function startService(script: string, variable: string): void {
  if (process.env[variable]) return;
  const out = execFileSync('bash', [`${REPO_ROOT}scripts/${script}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const line of out.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  if (!process.env[variable]) throw new Error(`scripts/${script} did not print ${variable}`);
}

/**
 * `pnpm --filter F… run build` for each filter (the whole workspace without one), unless HEPIX_SKIP_BUILD=1
 * (CI builds everything first).
 */
export function buildPackages(filters: readonly string[] = []): void {
  if (process.env.HEPIX_SKIP_BUILD === '1') return;
  execFileSync('pnpm', [...filters.flatMap((f) => ['--filter', f]), 'run', 'build'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, npm_config_nodedir: '/usr' },
  });
}

/** A database of its own on the test PostgreSQL server (scripts/start-postgres.sh, started when needed). */
export interface TestDatabase {
  /** The database's connection URL. */
  url: string;
  /** Drops it (connections still open are cut). */
  drop(): Promise<void>;
}

/** Creates a fresh, empty database named `<prefix>_<random hex>` on the test server. */
export async function createTestDatabase(prefix = 'hepix'): Promise<TestDatabase> {
  startService('start-postgres.sh', 'TEST_POSTGRES_URL');
  const admin = process.env.TEST_POSTGRES_URL as string;
  const { default: pg } = await import('pg');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await run(`create database ${name}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return { url: u.href, drop: () => run(`drop database if exists ${name} with (force)`) };
}
