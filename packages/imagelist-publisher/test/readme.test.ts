// The README's example runs as written, against the built package (imported by its own name), and publishes
// a list that `openssl smime -verify` accepts.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePki, makeTempDir, opensslVerify, removeDir } from '@hepix/test-support';
import { expect, it } from 'vitest';

it('the README example publishes an image and a list without the CLI', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const example = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((b) => b.includes('publishImageList'));
  expect(example).toBeDefined();
  const work = makeTempDir('hepix-publisher-readme-');
  const file = fileURLToPath(new URL(`../readme-example-${process.pid}.mjs`, import.meta.url));
  writeFileSync(file, example!);
  try {
    const pki = makePki(join(work, 'pki'));
    const image = join(work, 'worker.raw');
    writeFileSync(image, Buffer.alloc(1 << 20, 7));
    const www = join(work, 'www');
    const out = execFileSync(process.execPath, [file], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        CERT: pki.endorser.cert,
        KEY: pki.endorser.key,
        WWW: www,
        IMAGE_FILE: image,
      },
    });
    expect(out.split('\n').filter(Boolean)).toEqual([
      '0.0.1 gzip',
      '0.0.1 https://images.example.org/lists/example.smime',
    ]);
    const doc = JSON.parse(opensslVerify(join(www, 'lists', 'example.smime'), pki.certDir));
    expect(doc['hv:imagelist']['hv:images'][0]['hv:image']['hv:uri']).toMatch(
      /^https:\/\/images\.example\.org\/images\/7b1aea46-8776-4447-9450-00e720fc042c_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.raw\.gz$/,
    );
  } finally {
    rmSync(file, { force: true });
    removeDir(work);
  }
});
