// Benchmark of the image cache as a site runs it, against the physical limit of the machine, in ONE run:
// BENCH_IMAGES images totalling BENCH_TOTAL_MB served by nginx on 127.0.0.1 (page cache warm), a list signed with
// `openssl smime -sign`, then per contender:
//   curl -o F URL                       the I/O limit (loopback read + write into the page cache)
//   dd conv=fsync                       the disk limit: the same bytes written and fsynced, as the cache must
//   openssl dgst -sha512 F…             the hash limit on one core; and two of them in parallel (two cores)
//   curl URL | tee F | sha512sum        a one-pass shell pipeline
//   curl -o F URL && sha512sum F        what the originals did (download, then hash)
//   vmcatcher_cache                     the real CLI, after vmcatcher_endorser, vmcatcher_subscribe -s / -U and
//                                       vmcatcher_image -a, on a fresh site database per run
// and prints ratios against the physical limit (the slower of curl -o and one openssl dgst), peak RSS and CPU
// seconds per GiB of the cache (from /usr/bin/time). Run after `pnpm build`:
//   node bench/cache.mjs
// env: BENCH_TOTAL_MB (2048), BENCH_IMAGES (4); BENCH_LARGE=1 adds 8192 MiB in 8 images (needs ~20 GiB free
// disk); BENCH_CONCURRENCY=2,4 (the cache runs, each its own fresh site; default: the CLI default alone);
// BENCH_TMPDIR; BENCH_CACHE_ONLY=1 skips the references (profiling); BENCH_NODE_ARGS (node options of the cache, e.g.
// --cpu-prof --cpu-prof-dir=DIR) and BENCH_WRAP (a command the cache runs under, e.g. strace -c -f -o FILE, or
// perf record -g -o FILE --) for profiling.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '../../..');
const bins = join(repo, 'packages/vmcatcher-cli/dist/bin');
const tmp = mkdtempSync(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'hepix-cache-bench-'));
const cacheOnly = process.env.BENCH_CACHE_ONLY === '1';
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '').split(',').filter(Boolean).map(Number);
const sizes = [[Number(process.env.BENCH_TOTAL_MB ?? 2048), Number(process.env.BENCH_IMAGES ?? 4)]];
if (process.env.BENCH_LARGE === '1') sizes.push([8192, 8]);

const GiB = 1 << 30;
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
let nginxPid;
process.on('exit', () => {
  if (nginxPid) {
    try {
      process.kill(nginxPid, 'SIGTERM');
    } catch {}
  }
  rmSync(tmp, { recursive: true, force: true });
});

// Interrupted: still stop nginx and remove the files (the 'exit' handler above).
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/** CPU seconds (user + system) of every child waited for so far: /proc/self/stat cutime + cstime. */
function childCpu() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

function sh(script) {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`failed: ${script}`);
  return String(r.stdout);
}
function timed(fn) {
  sh('sync'); // every contender starts without another one's dirty pages to write back
  const cpu = childCpu();
  const started = performance.now();
  const out = fn();
  return { ms: performance.now() - started, out, cpu: childCpu() - cpu };
}
const q = (p) => `'${p.replaceAll("'", "'\\''")}'`;
async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// The realistic server: nginx with sendfile, plain HTTP on loopback.
const www = join(tmp, 'www');
mkdirSync(www);
const port = await freePort();
const nginxDir = join(tmp, 'nginx');
mkdirSync(join(nginxDir, 'tmp'), { recursive: true });
writeFileSync(
  join(nginxDir, 'nginx.conf'),
  `${process.getuid?.() === 0 ? 'user root root;' : ''}
daemon on; worker_processes 1; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path ${nginxDir}/tmp/body; proxy_temp_path ${nginxDir}/tmp/proxy;
  fastcgi_temp_path ${nginxDir}/tmp/fastcgi; uwsgi_temp_path ${nginxDir}/tmp/uwsgi; scgi_temp_path ${nginxDir}/tmp/scgi;
  server { listen 127.0.0.1:${port}; root ${www}; }
}
`,
);
execFileSync('nginx', ['-c', join(nginxDir, 'nginx.conf'), '-p', nginxDir], { stdio: 'inherit' });
nginxPid = Number(readFileSync(join(nginxDir, 'nginx.pid'), 'utf8'));
const base = `http://127.0.0.1:${port}`;

// The endorser's PKI and the site's trust directory.
execFileSync('bash', [join(repo, 'scripts/make-test-pki.sh'), join(tmp, 'pki')], { stdio: 'ignore' });
const pki = join(tmp, 'pki');
const dn = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
const ca = '/C=DE/O=GermanGrid/CN=HEPiX Test CA';

function makeImages(totalMb, count) {
  const per = Math.floor((totalMb * 1024 * 1024) / count);
  const images = [];
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const file = join(www, `${id}.img`);
    const fd = openSync(file, 'w');
    const hash = createHash('sha512');
    for (let left = per; left > 0; ) {
      const n = Math.min(left, block.length);
      randomFillSync(block, 0, n);
      hash.update(block.subarray(0, n));
      writeSync(fd, block, 0, n);
      left -= n;
    }
    closeSync(fd);
    images.push({ id, file, size: per, sha512: hash.digest('hex'), url: `${base}/${id}.img` });
  }
  return images;
}

function publishList(images) {
  const fmt = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const id = randomUUID();
  const uri = `${base}/${id}.smime`;
  const doc = {
    'hv:imagelist': {
      'dc:date:created': fmt(new Date(Date.now() - 3600_000)),
      'dc:date:expires': fmt(new Date(Date.now() + 28 * 86_400_000)),
      'dc:description': 'cache bench',
      'dc:identifier': id,
      'dc:source': base,
      'dc:title': 'cache bench',
      'hv:endorser': {
        'hv:x509': { 'dc:creator': 'Owen Synge', 'hv:ca': ca, 'hv:dn': dn, 'hv:email': 'owen@example.org' },
      },
      'hv:images': images.map((i) => ({
        'hv:image': {
          'dc:description': 'bench image',
          'dc:identifier': i.id,
          'dc:title': i.id,
          'hv:format': 'raw',
          'hv:hypervisor': 'kvm',
          'hv:size': i.size,
          'hv:uri': i.url,
          'hv:version': '1',
          'sl:arch': 'x86_64',
          'sl:checksum:sha512': i.sha512,
          'sl:comments': '',
          'sl:os': 'Linux',
          'sl:osversion': '1',
        },
      })),
      'hv:uri': uri,
      'hv:version': '1',
    },
  };
  const json = join(tmp, 'list.json');
  writeFileSync(json, JSON.stringify(doc, null, 2));
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
    join(www, `${id}.smime`),
  ]);
  return uri;
}

function checkSums(out, images) {
  const sums = out
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/).find((w) => /^[0-9a-f]{128}$/.test(w)));
  if (sums.join() !== images.map((i) => i.sha512).join()) throw new Error('reference produced wrong sha512');
}

function references(images) {
  const out = join(tmp, 'out');
  const fresh = () => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
  };
  const r = {};
  fresh();
  r.curl = timed(() => {
    for (const i of images) sh(`curl -sf -o ${q(join(out, i.id))} ${q(i.url)}`);
  });
  fresh();
  // A cache makes each image durable before it is available: writing the same bytes to the disk and fsyncing them,
  // without network or hash, is a limit of its own (the disk's write rate).
  r.disk = timed(() => {
    for (const i of images) sh(`dd if=${q(i.file)} of=${q(join(out, i.id))} bs=1M conv=fsync status=none`);
  });
  fresh();
  const dgst = timed(() => sh(`openssl dgst -sha512 -r ${images.map((i) => q(i.file)).join(' ')}`));
  checkSums(dgst.out, images);
  r.dgst = dgst;
  rmSync(out, { recursive: true, force: true });
  return r;
}

/** The other references, after the cache (so the limits and the cache are measured close together). */
function pipelines(images) {
  const out = join(tmp, 'out');
  const fresh = () => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
  };
  const r = {};
  fresh();
  const half = Math.ceil(images.length / 2);
  const files = (list) => list.map((i) => q(i.file)).join(' ');
  r.dgst2 = timed(() =>
    sh(
      `openssl dgst -sha512 -r ${files(images.slice(0, half))} >/dev/null & openssl dgst -sha512 -r ${files(images.slice(half))} >/dev/null; wait`,
    ),
  );
  const tee = timed(() =>
    images.map((i) => sh(`curl -sf ${q(i.url)} | tee ${q(join(out, i.id))} | sha512sum`)).join(''),
  );
  checkSums(tee.out, images);
  r.tee = tee;
  fresh();
  const twoPass = timed(() =>
    images
      .map((i) => sh(`curl -sf -o ${q(join(out, i.id))} ${q(i.url)} && sha512sum ${q(join(out, i.id))}`))
      .join(''),
  );
  checkSums(twoPass.out, images);
  r.twoPass = twoPass;
  rmSync(out, { recursive: true, force: true });
  return r;
}

/** A fresh site (database, trust, cache dirs) subscribed to the list and its images selected. */
function site(listUri, images) {
  const dir = mkdtempSync(join(tmp, 'site-'));
  const env = {
    ...process.env,
    HOME: dir,
    VMCATCHER_RDBMS: `sqlite:///${join(dir, 'vmcatcher.db')}`,
    VMCATCHER_DIR_CERT: join(pki, 'certificates'),
    VMCATCHER_CACHE_DIR_CACHE: join(dir, 'cache'),
    VMCATCHER_CACHE_DIR_DOWNLOAD: join(dir, 'cache/partial'),
    VMCATCHER_CACHE_DIR_EXPIRE: join(dir, 'cache/expired'),
  };
  delete env.NODE_OPTIONS;
  const run = (bin, args) =>
    execFileSync(process.execPath, [join(bins, `${bin}.js`), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  run('vmcatcher_endorser', ['--create', '--endorser_uuid', 'bench', '--subject', dn, '--issuer', ca]);
  run('vmcatcher_subscribe', ['-s', listUri]);
  const started = performance.now();
  run('vmcatcher_subscribe', ['-U']);
  const updateMs = performance.now() - started;
  for (const i of images) run('vmcatcher_image', ['-a', '-u', i.id]);
  return { dir, env, updateMs };
}

function cacheRun(listUri, images, concurrency) {
  const { dir, env, updateMs } = site(listUri, images);
  const timeFile = join(dir, 'time.txt');
  const argv = [
    '-f',
    '%e %U %S %M',
    '-o',
    timeFile,
    ...(process.env.BENCH_WRAP ?? '').split(' ').filter(Boolean),
    process.execPath,
    ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    join(bins, 'vmcatcher_cache.js'),
    ...(concurrency ? ['--concurrency', String(concurrency)] : []),
  ];
  sh('sync');
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`vmcatcher_cache failed (${r.status}): ${r.stdout}`);
  const [, user, sys, maxKb] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  // The result must be the images, verified: compare the cached files with the served ones.
  checkSums(
    sh(`openssl dgst -sha512 -r ${images.map((i) => q(join(dir, 'cache', i.id))).join(' ')}`),
    images,
  );
  rmSync(dir, { recursive: true, force: true });
  return { ms, cpu: user + sys, rssMib: maxKb / 1024, updateMs };
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`bench: nginx ${base}, load average ${load()}, node ${process.version}`);
for (const [totalMb, count] of sizes) {
  const free = statfsSync(tmp);
  if (Number(free.bavail) * Number(free.bsize) < totalMb * 1048576 * 2.2) {
    console.log(`skipping ${totalMb} MiB: not enough free disk in ${tmp}`);
    continue;
  }
  const images = makeImages(totalMb, count);
  const total = images.reduce((a, i) => a + i.size, 0);
  const listUri = publishList(images);
  sh(`cat ${images.map((i) => q(i.file)).join(' ')} > /dev/null`); // warm the page cache
  const rate = (ms) => `${(total / 1048576 / (ms / 1000)).toFixed(0)} MiB/s`;
  console.log(
    `\n== ${count} images x ${(images[0].size / 1048576).toFixed(0)} MiB = ${(total / 1048576).toFixed(0)} MiB`,
  );
  const limits = cacheOnly ? undefined : references(images);
  const runs = [];
  for (const c of concurrencies.length ? concurrencies : [undefined])
    runs.push([c, cacheRun(listUri, images, c)]);
  const ref = cacheOnly ? undefined : { ...limits, ...pipelines(images) };
  const limit = ref ? Math.max(ref.curl.ms, ref.dgst.ms) : undefined;
  const row = (name, ms, cpu) =>
    console.log(
      `${name.padEnd(44)} ${s(ms).padStart(9)}  ${rate(ms).padStart(10)}${limit ? `  ${(limit / ms).toFixed(2)} x limit` : ''}  CPU ${(cpu / (total / GiB)).toFixed(2)} s/GiB`,
    );
  if (ref) {
    row('curl -o F URL (I/O limit)', ref.curl.ms, ref.curl.cpu);
    row('dd conv=fsync of the files (disk limit)', ref.disk.ms, ref.disk.cpu);
    row('openssl dgst -sha512 (hash limit, one core)', ref.dgst.ms, ref.dgst.cpu);
    row('two openssl dgst in parallel (two cores)', ref.dgst2.ms, ref.dgst2.cpu);
    row('curl URL | tee F | sha512sum', ref.tee.ms, ref.tee.cpu);
    row('curl -o F URL && sha512sum F (the originals)', ref.twoPass.ms, ref.twoPass.cpu);
  }
  for (const [c, r] of runs) {
    row(`vmcatcher_cache${c ? ` --concurrency ${c}` : ' (default concurrency)'}`, r.ms, r.cpu);
    console.log(
      `${''.padEnd(44)} peak RSS ${r.rssMib.toFixed(0)} MiB, vmcatcher_subscribe -U ${s(r.updateMs)}`,
    );
  }
  if (limit) {
    console.log(`physical limit (slower of curl -o and openssl dgst): ${s(limit)}; target >= 0.80 x limit`);
    const durable = Math.max(limit, ref.disk.ms);
    for (const [c, r] of runs)
      console.log(
        `durable limit (slowest of those and dd conv=fsync): ${s(durable)}; vmcatcher_cache${c ? ` --concurrency ${c}` : ''} ${(durable / r.ms).toFixed(2)} x`,
      );
  }
  for (const i of images) rmSync(i.file);
}
console.log(`\nload average at the end ${load()}`);
