// The README's usage example runs as written, against the built package (imported by its own name).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('the README usage example works', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const usage = blocks.find((b) => b.includes('listCacheCandidates'));
  expect(usage).toBeDefined();
  const file = fileURLToPath(new URL(`../readme-example-${process.pid}.mjs`, import.meta.url));
  writeFileSync(file, usage!);
  try {
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean)).toEqual([
      '1024',
      'false true',
      'true',
      "{ username: 'TOKEN', password: 'x-oauth-basic' }",
      'true',
      "[ [ 'img-1', 3, '1' ] ]",
    ]);
  } finally {
    rmSync(file, { force: true });
  }
});
