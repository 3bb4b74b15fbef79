#!/usr/bin/env node
// Runs every check of the repository in order (build, typecheck, lint, start the test services, tests,
// package checks) and ends with the vitest summary line `N passed, N failed[, N skipped]`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const failures = [];
const env = { ...process.env, FORCE_COLOR: '0' };

function step(name, cmd, args, opts = {}) {
  const started = Date.now();
  console.log(`\n=== ${name}: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit',
    env,
    encoding: 'utf8',
  });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    failures.push(name);
    console.log(`=== ${name} FAILED (exit ${r.status ?? r.signal}, ${secs}s)`);
  } else {
    console.log(`=== ${name} ok (${secs}s)`);
  }
  return r;
}

step('build', 'pnpm', ['run', 'build']);
step('typecheck', 'pnpm', ['run', 'typecheck']);
step('lint', 'pnpm', ['run', 'lint']);

// Test services (PostgreSQL, sshd, nginx): each scripts/start-*.sh prints NAME=value lines on stdout.
for (const f of readdirSync(join(root, 'scripts'))
  .filter((f) => /^start-.*\.sh$/.test(f))
  .sort()) {
  const r = step(`service ${f}`, 'bash', [join('scripts', f)], { capture: true });
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) {
      env[m[1]] = m[2];
      console.log(`    ${m[1]} set`);
    }
  }
}

env.HEPIX_SKIP_BUILD = '1';
const tmp = join(root, '.tmp');
mkdirSync(tmp, { recursive: true });
const report = join(tmp, 'vitest-results.json');
step('test', 'pnpm', [
  'exec',
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
]);
step('check:packages', 'pnpm', ['run', 'check:packages']);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests ?? 0;
  failed = r.numFailedTests ?? 0;
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // CI shows only the tail of this output: name each failed test (and file that failed to load) here.
  for (const file of r.testResults ?? []) {
    const rel = file.name.startsWith(root) ? file.name.slice(root.length) : file.name;
    const bad = (file.assertionResults ?? []).filter((t) => t.status === 'failed');
    if (file.status === 'failed' && bad.length === 0) {
      console.log(`FAILED to load ${rel}: ${String(file.message ?? '').split('\n')[0].slice(0, 300)}`);
    }
    for (const t of bad) {
      const why = String(t.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 300);
      console.log(`FAILED ${rel} > ${t.fullName ?? t.title}: ${why}`);
    }
  }
  // A test file that fails to load counts as a failed suite with no failed test.
  if (r.success === false && failed === 0) failures.push('test (a test file failed to load)');
} else {
  failures.push('test (no JSON report)');
}
if (failures.length) console.log(`\nFAILED steps: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failures.length ? 1 : 0);
