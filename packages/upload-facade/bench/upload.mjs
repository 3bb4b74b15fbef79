#!/usr/bin/env node
// Upload throughput on loopback: the facade's local, sftp and http/webdav backends against cp, scp and
// curl -T on the same file in the same run. Runs against dist/ (build first: pnpm --filter @hepix/upload-facade build).
// Env: BENCH_SIZE_MB (default 1024), BENCH_RUNS (default 3, best run counts), BENCH_DIR (scratch dir,
// default /dev/shm so that disk writeback does not drown the protocol cost; the source, the targets and the
// private sshd and nginx instances the benchmark starts with scripts/start-sshd.sh / start-nginx.sh live there).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpBackend, localBackend, sshBackend } from '../dist/index.js';

const sizeMb = Number(process.env.BENCH_SIZE_MB ?? 1024);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const size = Math.round(sizeMb * 1024 * 1024);
const scripts = fileURLToPath(new URL('../../../scripts/', import.meta.url));

const base = process.env.BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const scratch = await mkdtemp(join(base, 'hepix-bench-'));
const E = { ...process.env };
const pidFiles = [];
function service(script, stateVar, name) {
  const state = join(scratch, name);
  const out = execFileSync('bash', [join(scripts, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, [stateVar]: state },
  });
  pidFiles.push(join(state, `${name}.pid`));
  for (const line of out.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) E[m[1]] = m[2];
  }
}
service('start-sshd.sh', 'HEPIX_SSHD_DIR', 'sshd');
service('start-nginx.sh', 'HEPIX_NGINX_DIR', 'nginx');

const sshDir = join(E.TEST_SSH_ROOT, `bench-${process.pid}`);
const davDir = join(E.TEST_DAV_ROOT, `bench-${process.pid}`);
await mkdir(sshDir, { recursive: true });
await mkdir(davDir, { recursive: true });

const src = join(scratch, 'image.img');
{
  const block = randomBytes(1 << 20);
  const ws = createWriteStream(src);
  for (let written = 0; written < size; written += block.length) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    if (!ws.write(chunk)) await new Promise((r) => ws.once('drain', r));
  }
  await new Promise((r) => ws.end(r));
}

async function timed(fn, i) {
  // start each measurement with no dirty pages of the previous one pending
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed with ${r.status}`);
}

const sshOpts = { identityFile: E.TEST_SSH_KEY, knownHosts: E.TEST_SSH_KNOWN_HOSTS, agent: false };
const sftp = sshBackend({ protocol: 'sftp', options: sshOpts });
const http = httpBackend({ protocol: 'http', options: { ca: E.TEST_DAV_CA } });
const webdav = httpBackend({ protocol: 'webdav', options: { ca: E.TEST_DAV_CA } });
const local = localBackend({});
const davBase = `${E.TEST_DAV_URL}bench-${process.pid}`;
const sftpBase = `sftp://${E.TEST_SSH_USER}@${E.TEST_SSH_HOST}:${E.TEST_SSH_PORT}${sshDir}`;

const rows = [];
async function pair(label, refLabel, ref, ours, cleanup) {
  // interleaved runs; best and median MB/s of each side
  const refT = [];
  const oursT = [];
  for (let i = 0; i < runs; i++) {
    refT.push(await timed(ref, i));
    oursT.push(await timed(ours, i));
    await cleanup?.();
  }
  const mbs = (t) => size / 1048576 / t;
  const best = (ts) => mbs(Math.min(...ts));
  const median = (ts) => mbs([...ts].sort((a, b) => a - b)[Math.floor((ts.length - 1) / 2)]);
  const r = best(refT);
  const o = best(oursT);
  rows.push({ label, refLabel, ref: r, ours: o });
  console.log(
    `${label.padEnd(20)} ${o.toFixed(0).padStart(5)} MB/s (median ${median(oursT).toFixed(0).padStart(5)})   ` +
      `${refLabel.padEnd(10)} ${r.toFixed(0).padStart(5)} MB/s (median ${median(refT).toFixed(0).padStart(5)})   ` +
      `ratio best ${(o / r).toFixed(2)}, median ${(median(oursT) / median(refT)).toFixed(2)}`,
  );
}

console.log(
  `upload benchmark: ${sizeMb} MiB file, best of ${runs} run(s), loopback, ${new Date().toISOString()}`,
);
const outDir = join(scratch, 'out');
const clean = (dir) => async () => {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
};
await clean(outDir)();
await pair(
  'local (facade)',
  'cp',
  (i) => run('cp', [src, join(outDir, `cp-${i}.img`)]),
  (i) => local.put(join(outDir, `local-${i}.img`), src),
  clean(outDir),
);
await pair(
  'local (streamed)',
  'cp',
  (i) => run('cp', [src, join(outDir, `cp-${i}.img`)]),
  (i) => local.put(join(outDir, `local-${i}.img`), src, { onProgress: () => {} }),
  clean(outDir),
);
await pair(
  'local (facade)',
  'cp && sync',
  (i) => {
    run('cp', [src, join(outDir, `cp-${i}.img`)]);
    run('sync', [join(outDir, `cp-${i}.img`)]);
  },
  (i) => local.put(join(outDir, `local-${i}.img`), src),
  clean(outDir),
);
await pair(
  'sftp (facade, ssh2)',
  'scp',
  (i) =>
    run('scp', [
      '-q',
      '-i',
      E.TEST_SSH_KEY,
      '-o',
      `UserKnownHostsFile=${E.TEST_SSH_KNOWN_HOSTS}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-P',
      E.TEST_SSH_PORT,
      src,
      `${E.TEST_SSH_USER}@${E.TEST_SSH_HOST}:${sshDir}/scp-${i}.img`,
    ]),
  (i) => sftp.put(`${sftpBase}/sftp-${i}.img`, src),
  clean(sshDir),
);
await pair(
  'http PUT (facade)',
  'curl -T',
  (i) => run('curl', ['-sS', '-f', '--cacert', E.TEST_DAV_CA, '-T', src, `${davBase}/curl-${i}.img`]),
  (i) => http.put(`${davBase}/http-${i}.img`, src),
  clean(davDir),
);
await pair(
  'webdav PUT+MOVE',
  'curl -T',
  (i) => run('curl', ['-sS', '-f', '--cacert', E.TEST_DAV_CA, '-T', src, `${davBase}/curl2-${i}.img`]),
  (i) => webdav.put(`${davBase}/webdav-${i}.img`, src),
  clean(davDir),
);
await Promise.all([sftp.dispose(), http.dispose(), webdav.dispose()]);
for (const f of pidFiles) {
  try {
    process.kill(Number(readFileSync(f, 'utf8').trim()), 'SIGTERM');
  } catch {
    // already gone
  }
}
await new Promise((r) => setTimeout(r, 300));
await rm(scratch, { recursive: true, force: true });
await rm(sshDir, { recursive: true, force: true });
await rm(davDir, { recursive: true, force: true });
const worst = Math.min(...rows.map((r) => r.ours / r.ref));
console.log(`lowest ratio ${worst.toFixed(2)} (target >= 0.80)`);
