import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { httpBackend } from '../src/index.js';
import { testBackend } from '../src/testing.js';
import { env } from './env.js';
import { exists } from './helpers.js';

const base = env('TEST_DAV_URL');
const dir = `http-test-${process.pid}`;
const root = join(env('TEST_DAV_ROOT'), dir);
await mkdir(root, { recursive: true });
afterAll(() => rm(root, { recursive: true, force: true }));

const read = async (rel: string) =>
  (await exists(join(root, rel))) ? createReadStream(join(root, rel)) : undefined;
const list = (rel: string) => readdir(join(root, rel)).then((n) => n.sort());

testBackend({
  name: 'http (PUT to real nginx over HTTPS)',
  create: () => httpBackend({ protocol: 'http', options: { ca: env('TEST_DAV_CA') } }),
  target: (rel) => `${base}${dir}/${rel}`,
  read,
  list,
});

testBackend({
  name: 'webdav (PUT temp + MOVE, CA directory, client certificate, real nginx)',
  create: () =>
    httpBackend({
      protocol: 'webdav',
      options: {
        ca: env('TEST_DAV_CA_DIR'),
        cert: env('TEST_DAV_CLIENT_CERT'),
        key: env('TEST_DAV_CLIENT_KEY'),
      },
    }),
  target: (rel) => `${env('TEST_DAV_MTLS_URL').replace(/^https:/, 'davs:')}${dir}/${rel}`,
  read,
  list,
  bigSize: 32 * 1024 * 1024,
});
