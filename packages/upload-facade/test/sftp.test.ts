import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { sshBackend } from '../src/index.js';
import { testBackend } from '../src/testing.js';
import { env } from './env.js';
import { exists } from './helpers.js';

const host = env('TEST_SSH_HOST');
const port = env('TEST_SSH_PORT');
const user = env('TEST_SSH_USER');
const options = { identityFile: env('TEST_SSH_KEY'), knownHosts: env('TEST_SSH_KNOWN_HOSTS'), agent: false };
// one directory per test file, so parallel files never see each other's files
const root = join(env('TEST_SSH_ROOT'), `sftp-test-${process.pid}`);
await mkdir(root, { recursive: true });
afterAll(() => rm(root, { recursive: true, force: true }));

const read = async (rel: string) =>
  (await exists(join(root, rel))) ? createReadStream(join(root, rel)) : undefined;
const list = (rel: string) => readdir(join(root, rel)).then((n) => n.sort());

testBackend({
  name: 'scp (user@host:/path targets, real OpenSSH)',
  create: () => sshBackend({ protocol: 'scp', options: { ...options, port: Number(port) } }),
  target: (rel) => `${user}@${host}:${root}/${rel}`,
  read,
  list,
});

testBackend({
  name: 'sftp (sftp://user@host:port/path targets, real OpenSSH)',
  create: () => sshBackend({ protocol: 'sftp', options }),
  target: (rel) =>
    `sftp://${user}@${host}:${port}${root}/${rel.split('/').map(encodeURIComponent).join('/')}`,
  read,
  list,
  bigSize: 32 * 1024 * 1024,
});
