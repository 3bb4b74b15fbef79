// What the vitest global setups share: start a test service through its scripts/start-*.sh (each prints
// NAME=value lines) unless CI already exported its variables, and build the packages the tests spawn unless
// CI built everything. A service that cannot be started fails the run; nothing is skipped.
import { execFileSync } from 'node:child_process';
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
