// Benchmark: `-U` over BENCH_SUBSCRIPTIONS lists of BENCH_IMAGES images each, served over HTTPS on loopback,
// against the shell loop an administrator would write with the same tools the originals wrap
// (`curl` + `openssl smime -verify` per list), measured in the same run.
// Run after `pnpm build`: node bench/update.mjs   (env: BENCH_SUBSCRIPTIONS, BENCH_IMAGES, BENCH_CONCURRENCY)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@hepix/imagelist-store';
import { createSubscriptions } from '@hepix/image-cache';

const N = Number(process.env.BENCH_SUBSCRIPTIONS ?? 100);
const M = Number(process.env.BENCH_IMAGES ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'hepix-bench-'));
const fmt = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const ms = (t) => `${t.toFixed(0)} ms`;

console.log(`bench: ${N} subscriptions x ${M} images, concurrency ${CONCURRENCY}`);
console.log(`load average at the start: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
execFileSync('bash', [join(repo, 'scripts/make-test-pki.sh'), join(tmp, 'pki')], { stdio: 'ignore' });
const pki = join(tmp, 'pki');
const certDir = join(pki, 'certificates');
const dn = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
const ca = '/C=DE/O=GermanGrid/CN=HEPiX Test CA';
const www = join(tmp, 'www');
mkdirSync(www);

const server = spawn(
  process.execPath,
  [join(here, 'serve-dir.mjs'), www, join(pki, 'server/cert.pem'), join(pki, 'server/key.pem')],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
process.on('exit', () => server.kill('SIGTERM'));
const port = await new Promise((resolve) =>
  server.stdout.once('data', (d) => resolve(Number(String(d).trim()))),
);
const base = `https://127.0.0.1:${port}`;

function makeList(i, version) {
  const id = `list-${i}`;
  const now = Date.now();
  return JSON.stringify(
    {
      'hv:imagelist': {
        'dc:date:created': fmt(new Date(now - 3600_000 + version * 1000)),
        'dc:date:expires': fmt(new Date(now + 28 * 86_400_000)),
        'dc:description': `Bench list ${i}`,
        'dc:identifier': `${id}-${runId}`,
        'dc:source': base,
        'dc:title': `Bench list ${i}`,
        'hv:endorser': {
          'hv:x509': { 'dc:creator': 'Owen Synge', 'hv:ca': ca, 'hv:dn': dn, 'hv:email': 'owen@example.org' },
        },
        'hv:images': Array.from({ length: M }, (_, j) => ({
          'hv:image': {
            'dc:description': `Image ${j} of list ${i}`,
            'dc:identifier': `img-${i}-${j}-${runId}`,
            'dc:title': `Image ${j}`,
            'hv:format': 'qcow2',
            'hv:hypervisor': 'kvm',
            'hv:size': 1073741824 + j,
            'hv:uri': `${base}/images/${i}/${j}.qcow2`,
            'hv:version': `${version}`,
            'sl:arch': 'x86_64',
            'sl:checksum:sha512': 'ab'.repeat(64),
            'sl:comments': '',
            'sl:os': 'Linux',
            'sl:osversion': 'AlmaLinux 9',
          },
        })),
        'hv:uri': `${base}/${id}.smime`,
        'hv:version': `${version}`,
      },
    },
    null,
    4,
  );
}

const runId = randomUUID().slice(0, 8);
function publish(version) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const json = join(tmp, 'list.json');
    writeFileSync(json, makeList(i, version));
    execFileSync('openssl', [
      'smime',
      '-sign',
      '-signer',
      join(pki, 'endorser/usercert.pem'),
      '-inkey',
      join(pki, 'endorser/userkey.pem'),
      '-in',
      json,
      '-out',
      join(www, `list-${i}.smime`),
    ]);
  }
  return performance.now() - t0;
}
console.log(`signing ${N} lists with openssl: ${ms(publish(1))}`);

const store = await openStore(`sqlite:///${join(tmp, 'bench.db')}`);
await store.subscriber.createEndorser('owen', [{ subject: dn, issuer: ca }]);
const subs = createSubscriptions({ store, certDir });
let t0 = performance.now();
for (let i = 0; i < N; i++) await subs.subscribe(`${base}/list-${i}.smime`, { trustAnchor: 'igtf' });
console.log(`subscribe (sequential, ${N} lists): ${ms(performance.now() - t0)}`);

// Reference: the shell loop, fetch then verify (with CRL check) each list in turn.
const script = `set -e
for i in $(seq 0 ${N - 1}); do
  curl -sf --cacert "${join(pki, 'ca/ca.pem')}" -o "${tmp}/ref.smime" "${base}/list-$i.smime"
  openssl smime -verify -CApath "${certDir}" -crl_check -in "${tmp}/ref.smime" -out /dev/null 2>/dev/null
done`;
t0 = performance.now();
const ref = spawnSync('bash', ['-c', script], { stdio: 'inherit' });
const shellMs = performance.now() - t0;
if (ref.status !== 0) throw new Error('reference shell loop failed');

// Each -U records its run history as vmcatcher_subscribe does (an item per list and per accepted image).
const recorder = await store.subscriber.beginRun({ tool: 'subscribe' });
// CPU of this process (the server is another) beside each wall time: on a busy machine a run that writes
// waits for the disk (a WAL fsync per list's transaction), which the CPU time does not count.
const cpuMs = (c) => {
  const u = process.cpuUsage(c);
  return (u.user + u.system) / 1000;
};
t0 = performance.now();
let c0 = process.cpuUsage();
let r = await subs.update({}, { concurrency: CONCURRENCY, recorder });
const firstMs = performance.now() - t0;
const firstCpu = cpuMs(c0);
if (r.results.some((x) => x.error))
  throw new Error(`first update failed: ${JSON.stringify(r.results.find((x) => x.error)?.error?.message)}`);

t0 = performance.now();
c0 = process.cpuUsage();
r = await subs.update({}, { concurrency: CONCURRENCY, recorder });
const unchangedMs = performance.now() - t0;
const unchangedCpu = cpuMs(c0);

publish(2);
t0 = performance.now();
c0 = process.cpuUsage();
r = await subs.update({}, { concurrency: CONCURRENCY, recorder });
const newerMs = performance.now() - t0;
const newerCpu = cpuMs(c0);
if (r.results.some((x) => x.outcome !== 'updated')) throw new Error('newer update did not import every list');

console.log(`reference: curl + openssl smime -verify, ${N} lists sequentially: ${ms(shellMs)}`);
console.log(
  `-U first import (fetch, verify, store ${N * M} images): ${ms(firstMs)} (CPU ${ms(firstCpu)})  ratio ${(shellMs / firstMs).toFixed(2)}x`,
);
console.log(
  `-U unchanged lists (fetch, verify, no-op): ${ms(unchangedMs)} (CPU ${ms(unchangedCpu)})  ratio ${(shellMs / unchangedMs).toFixed(2)}x`,
);
console.log(
  `-U newer version of every list: ${ms(newerMs)} (CPU ${ms(newerCpu)})  ratio ${(shellMs / newerMs).toFixed(2)}x`,
);
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
console.log('(ratio > 1: faster than the shell loop)');

await recorder.end({ outcome: 'success', exitStatus: 0 });
await subs.close();
await store.close();
server.kill('SIGTERM');
rmSync(tmp, { recursive: true, force: true });
