// Benchmark of the image cache: BENCH_IMAGES images totalling BENCH_TOTAL_MB from a loopback HTTP server,
// against what the originals did (`curl -o F URL && sha512sum F`, download then hash) and against the
// single-pass limit (`curl -s URL | tee F | sha512sum`), all measured in the same run.
// Run after `pnpm build`:  node bench/cache.mjs   (env: BENCH_TOTAL_MB=4096, BENCH_IMAGES=8, BENCH_CONCURRENCY=1)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@hepix/imagelist-store';

const TOTAL_MB = Number(process.env.BENCH_TOTAL_MB ?? 4096);
const IMAGES = Number(process.env.BENCH_IMAGES ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);
const here = fileURLToPath(new URL('.', import.meta.url));
const tmp = mkdtempSync(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'hepix-cache-bench-'));
const www = join(tmp, 'www');
mkdirSync(www);

const per = Math.floor((TOTAL_MB * 1024 * 1024) / IMAGES);
const total = per * IMAGES;
const mb = (b) => (b / 1048576).toFixed(0);
const rate = (ms) => `${(total / 1048576 / (ms / 1000)).toFixed(0)} MiB/s`;
console.log(`bench: ${IMAGES} images x ${mb(per)} MiB = ${mb(total)} MiB, cache concurrency ${CONCURRENCY}`);

// Images: random bytes, written once and hashed while writing.
const images = [];
const block = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < IMAGES; i++) {
  const id = randomUUID();
  const fd = openSync(join(www, `${id}.img`), 'w');
  const hash = createHash('sha512');
  for (let left = per; left > 0; ) {
    const n = Math.min(left, block.length);
    randomFillSync(block, 0, n);
    hash.update(block.subarray(0, n));
    writeSync(fd, block, 0, n);
    left -= n;
  }
  closeSync(fd);
  images.push({ id, sha512: hash.digest('hex') });
}

const server = spawn(process.execPath, [join(here, 'serve-images.mjs'), www], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise((resolve) =>
  server.stdout.once('data', (d) => resolve(Number(String(d).trim()))),
);
const base = `http://127.0.0.1:${port}`;

function timed(fn) {
  const started = performance.now();
  fn();
  return performance.now() - started;
}
function sh(script) {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`failed: ${script}`);
  return String(r.stdout);
}
function checkSums(out) {
  const sums = out
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/)[0]);
  if (sums.join() !== images.map((i) => i.sha512).join()) throw new Error('reference produced wrong sha512');
}

// Warm the page cache of the served files, so every contender reads them from memory.
sh(`cat ${join(www, '*.img')} > /dev/null`);

const out = join(tmp, 'out');
mkdirSync(out);
let sums = '';
const downloadThenHash = timed(() => {
  for (const i of images)
    sums += sh(`curl -sf -o ${out}/${i.id} ${base}/${i.id}.img && sha512sum ${out}/${i.id}`);
});
checkSums(sums);
rmSync(out, { recursive: true });
mkdirSync(out);
sums = '';
const singlePass = timed(() => {
  for (const i of images) sums += sh(`curl -sf ${base}/${i.id}.img | tee ${out}/${i.id} | sha512sum`);
});
checkSums(sums);
rmSync(out, { recursive: true });

// The cache, driven through the store API as vmcatcher_subscribe would leave it.
const dbUrl = `sqlite:///${join(tmp, 'bench.db')}`;
const store = await openStore(dbUrl);
const sub = randomUUID();
const signer = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
  issuer: '/C=DE/O=GermanGrid/CN=Test CA',
};
await store.subscriber.createEndorser('bench', [signer]);
await store.subscriber.createSubscription({
  identifier: sub,
  description: 'bench',
  uri: `${base}/list`,
  endorser: 'bench',
  updateMode: 3,
  images: images.map((i) => ({ identifier: i.id, cache: true })),
});
await store.subscriber.updateSubscription(sub, { authorised: true });
const listData = Buffer.from(JSON.stringify({ 'hv:imagelist': { 'dc:identifier': sub } }));
await store.subscriber.recordImageList(sub, {
  data: new Uint8Array(listData),
  dataHash: createHash('sha512').update(listData).digest('hex'),
  created: new Date('2026-01-01T00:00:00Z'),
  expires: new Date('2099-01-01T00:00:00Z'),
  version: '1',
  signer,
  metadata: { 'dc:identifier': sub },
  images: images.map((i) => ({
    identifier: i.id,
    title: i.id,
    description: '',
    hypervisor: 'kvm',
    sha512: i.sha512,
    uri: `${base}/${i.id}.img`,
    os: 'Linux',
    osversion: '',
    arch: 'x86_64',
    version: '1',
    size: per,
    comments: '',
    image: {
      'dc:identifier': i.id,
      'hv:uri': `${base}/${i.id}.img`,
      'hv:size': per,
      'sl:checksum:sha512': i.sha512,
    },
  })),
});
await store.close();
const worker = execFileSync(
  process.execPath,
  [join(here, 'cache-worker.mjs'), dbUrl, join(tmp, 'cache'), String(CONCURRENCY)],
  {
    encoding: 'utf8',
  },
);
const result = JSON.parse(worker);
if (result.downloaded !== IMAGES) throw new Error('the cache did not cache every image');

server.kill();
rmSync(tmp, { recursive: true, force: true });

const pct = (a, b) => `${((b / a) * 100).toFixed(0)}%`;
console.log(
  `download then hash (curl -o F && sha512sum F): ${downloadThenHash.toFixed(0)} ms, ${rate(downloadThenHash)}`,
);
console.log(
  `single pass (curl | tee F | sha512sum):         ${singlePass.toFixed(0)} ms, ${rate(singlePass)}`,
);
console.log(`@hepix/image-cache run():                       ${result.ms.toFixed(0)} ms, ${rate(result.ms)}`);
console.log(`cache throughput vs single pass:       ${pct(result.ms, singlePass)} (target >= 90%)`);
console.log(`cache throughput vs download-then-hash: ${pct(result.ms, downloadThenHash)}`);
console.log(`cache peak memory (maxRSS): ${(result.maxRssKb / 1024).toFixed(0)} MiB (target < 150 MiB)`);
