#!/usr/bin/env node
// publint --strict and are-the-types-wrong (ESM-only profile) on every package of the workspace.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let bad = 0;
for (const name of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', name);
  for (const [cmd, args] of [
    ['publint', ['--strict']],
    ['attw', ['--pack', '.', '--profile', 'esm-only', '--format', 'ascii']],
  ]) {
    console.log(`--- ${name}: ${cmd} ${args.join(' ')}`);
    const r = spawnSync('pnpm', ['exec', cmd, ...args], { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0) bad++;
  }
}
if (bad) {
  console.error(`check:packages: ${bad} check(s) failed`);
  process.exit(1);
}
