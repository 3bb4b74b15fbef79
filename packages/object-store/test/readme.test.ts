// The README's usage example runs as written, against the built package (imported by its own name), with the
// environment a site would set, on a fresh bucket of the test S3 server.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { awsEnv, bucketName, dropBucket } from './helpers.js';

const bucket = bucketName();
afterAll(() => dropBucket(bucket));

it('the README usage example works', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const usage = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((b) => b.includes('putVerified'));
  expect(usage).toBeDefined();
  const file = fileURLToPath(new URL(`../readme-example-${process.pid}.mjs`, import.meta.url));
  writeFileSync(file, usage!);
  try {
    const out = execFileSync(process.execPath, [file], {
      encoding: 'utf8',
      env: {
        ...process.env,
        ...awsEnv(),
        VMCATCHER_CACHE_URL: `s3://${bucket}/site-a`,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    expect(out.split('\n').filter(Boolean)).toEqual([
      'true true',
      'ERR_OBJECT_INTEGRITY sha512',
      'undefined',
      'false',
      'true 45',
      '0',
    ]);
  } finally {
    rmSync(file, { force: true });
  }
});
