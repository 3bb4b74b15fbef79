import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll } from 'vitest';
import { localBackend } from '../src/index.js';
import { testBackend } from '../src/testing.js';
import { exists } from './helpers.js';

const root = await mkdtemp(join(tmpdir(), 'hepix-local-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const read = async (rel: string) =>
  (await exists(join(root, rel))) ? createReadStream(join(root, rel)) : undefined;
const list = (rel: string) => readdir(join(root, rel)).then((n) => n.sort());

testBackend({
  name: 'local (paths)',
  create: () => localBackend({}),
  target: (rel) => `${root}/${rel}`,
  read,
  list,
});
testBackend({
  name: 'local (file URLs)',
  create: () => localBackend({}),
  target: (rel) => `${pathToFileURL(root).href}/${rel.split('/').map(encodeURIComponent).join('/')}`,
  read,
  list,
  bigSize: 8 * 1024 * 1024,
});
