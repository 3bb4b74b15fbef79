#!/usr/bin/env node
// publint --strict and are-the-types-wrong (ESM-only profile) on every published package of the workspace
// (private ones, such as @hepix/test-support, are never packed).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let bad = 0;
for (const name of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', name);
  if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).private) continue;
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
