#!/usr/bin/env node
// Throughput of 1, 2 and 3 worker processes putting the same images into the S3 store with putVerified (hashed
// while streaming, made visible after the check), each run into a fresh prefix, ratios against 1 worker measured
// in the same run. Workers take images from one shared list by index (image i goes to worker i mod W), as the
// cache's per-image leases will share them.
//
//   pnpm --filter @hepix/object-store bench       (HEPIX_BENCH_IMAGES, HEPIX_BENCH_MIB to change the set)
//
// Starts scripts/start-swift.sh unless TEST_S3_ENDPOINT is set. On this 2-core machine the S3 server (Swift,
// Python) shares the cores with the workers, so the point is that more workers do not make it slower and that
// the work is shared; see the README for what a real cluster adds.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createObjectStore } from '../dist/index.js';

// The SDK's notice that its 2027 releases need Node 22 (see the README) would only clutter the report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const here = fileURLToPath(new URL('.', import.meta.url));
const images = Number(process.env.HEPIX_BENCH_IMAGES ?? 12);
const mib = Number(process.env.HEPIX_BENCH_MIB ?? 24);

if (!process.env.TEST_S3_ENDPOINT) {
  const out = execFileSync('bash', [`${here}../../../scripts/start-swift.sh`], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const m = /^(TEST_S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
}
const env = {
  ...process.env,
  AWS_ENDPOINT_URL_S3: process.env.TEST_S3_ENDPOINT,
  AWS_ACCESS_KEY_ID: process.env.TEST_S3_ACCESS_KEY,
  AWS_SECRET_ACCESS_KEY: process.env.TEST_S3_SECRET_KEY,
  AWS_REGION: process.env.TEST_S3_REGION,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const bucket = `hepix-bench-${process.pid}`;
const store = createObjectStore({ url: `s3://${bucket}`, env });
await store.ensureBucket();

function runWorker(prefix, index, count) {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        `${here}worker.mjs`,
        `s3://${bucket}/${prefix}`,
        String(index),
        String(count),
        String(images),
        String(mib),
      ],
      {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}`)),
    );
  });
}

const results = [];
for (const workers of [1, 2, 3]) {
  const prefix = `run-${workers}`;
  const started = process.hrtime.bigint();
  const done = await Promise.all(Array.from({ length: workers }, (_, i) => runWorker(prefix, i, workers)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let objects = 0;
  for await (const _ of store.list(`${prefix}/`)) objects++;
  const uploaded = done.reduce((n, d) => n + d.created, 0);
  results.push({ workers, seconds, objects, uploaded, perWorker: done.map((d) => d.created) });
}
const ref = results[0].seconds;
const total = images * mib;
console.log(
  `${images} images of ${mib} MiB (${total} MiB) per run, putVerified into Swift's S3 API on 127.0.0.1`,
);
for (const r of results) {
  console.log(
    `workers=${r.workers}  ${r.seconds.toFixed(2)} s  ${(total / r.seconds).toFixed(1)} MiB/s  ratio vs 1 worker ${(ref / r.seconds).toFixed(2)}  ` +
      `objects=${r.objects} uploads per worker=${r.perWorker.join('/')}`,
  );
  if (r.objects !== images || r.uploaded !== images)
    throw new Error(`run with ${r.workers} workers stored ${r.objects} objects`);
}
// Empty and remove the bucket.
for await (const o of store.list()) await store.delete(o.key);
store.close();
