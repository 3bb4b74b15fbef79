// Benchmark: verify a signed image list of BENCH_IMAGES images (default 10,000, about 7 MB) with chain and CRL,
// against `openssl smime -verify -CApath DIR -crl_check` on the same file, in the same run.
// Runs against dist/ (the package's `bench` script builds this package and @hepix/test-support first).
// Env: BENCH_IMAGES, BENCH_RUNS.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { OpensslPki, removeDir, signList } from '@hepix/test-support';

const images = Number(process.env.BENCH_IMAGES ?? 10000);
const runs = Number(process.env.BENCH_RUNS ?? 7);
const here = fileURLToPath(new URL('.', import.meta.url));
const pki = new OpensslPki();
const dir = pki.dir;
const env = { ...process.env, OPENSSL_CONF: '/dev/null' };

try {
  // Root, intermediate and endorser, with CRLs and policy files in an IGTF trust directory.
  const root = pki.rootCa('root', { subject: '/C=DE/O=GermanGrid/CN=HEPiX Test Root CA' });
  const inter = root.subCa('inter', { subject: '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA' });
  const endorser = inter.issue('endorser', { subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge' });
  pki.trustDir('trust', { cas: [root, inter] });
  const list = {
    'hv:imagelist': {
      'dc:date:created': '2026-01-01T00:00:00Z',
      'dc:date:expires': '2099-01-01T00:00:00Z',
      'dc:identifier': '4e186b44-2c64-40ea-97d5-e9e3d81e5e13',
      'dc:description': 'Benchmark list',
      'hv:endorser': {
        'hv:x509': {
          'dc:creator': 'Owen Synge',
          'hv:ca': '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA',
          'hv:dn': '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
          'hv:email': 'owen.synge@desy.de',
        },
      },
      'hv:images': Array.from({ length: images }, (_, i) => ({
        'hv:image': {
          'dc:description': `SL6 worker node ${i}`,
          'dc:identifier': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          'dc:title': `SL6 worker node ${i}`,
          'hv:hypervisor': 'QEMU,KVM',
          'hv:format': 'raw',
          'hv:size': 2147483648 + i,
          'hv:uri': `https://images.example.org/sl6/worker-node-${i}.img.gz`,
          'hv:version': `1.${i}.0`,
          'sl:arch': 'x86_64',
          'sl:checksum:sha512': 'a1b2c3d4'.repeat(16),
          'sl:os': 'Linux',
          'sl:osname': 'Scientific Linux',
          'sl:osversion': '6.10',
        },
      })),
      'hv:uri': 'https://images.example.org/imagelist.smime',
      'hv:version': '3.0.0',
    },
  };
  const content = join(dir, 'list.json');
  writeFileSync(content, `${JSON.stringify(list, null, 4)}\n`);
  const msg = join(dir, 'list.smime');
  writeFileSync(msg, signList(readFileSync(content), endorser, { certfile: inter.cert }));
  const size = statSync(msg).size;
  const trustDir = join(dir, 'trust');

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

  // openssl: the whole command, as an administrator would run it.
  const osslTimes = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(
      'openssl',
      ['smime', '-verify', '-CApath', trustDir, '-crl_check', '-in', msg, '-out', '/dev/null'],
      { env },
    );
    osslTimes.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`openssl verify failed: ${r.stderr}`);
  }

  // Library, in process (Node start-up excluded): read the file and verify; trust store loaded once.
  const lib = await import('../dist/index.js');
  const t0 = performance.now();
  const trust = await lib.TrustStore.fromDirectory(trustDir);
  const trustMs = performance.now() - t0;
  await lib.verifySmime(readFileSync(msg), { trust }); // warm-up
  const libTimes = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const v = await lib.verifySmime(readFileSync(msg), { trust });
    libTimes.push(performance.now() - t);
    if (v.signer.subject !== '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge') throw new Error('wrong signer');
  }
  // Cold: a fresh store each time, as a one-shot CLI would do.
  const coldTimes = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const store = await lib.TrustStore.fromDirectory(trustDir);
    await lib.verifySmime(readFileSync(msg), { trust: store });
    coldTimes.push(performance.now() - t);
  }

  // Peak memory in a fresh process: max RSS after verifying minus max RSS after loading (Node's baseline).
  const child = spawnSync(process.execPath, [join(here, 'verify-child.mjs'), msg, trustDir], {
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(child.stderr);
  const mem = JSON.parse(child.stdout);

  const o = median(osslTimes);
  const l = median(libTimes);
  const c = median(coldTimes);
  const mb = (b) => (b / 1048576).toFixed(1);
  console.log(
    `message: ${images} images, ${mb(size)} MB, detached, SHA-256, chain + CRL, runs: ${runs} (median)`,
  );
  console.log(`openssl smime -verify -CApath -crl_check (whole command): ${o.toFixed(1)} ms`);
  console.log(
    `verifySmime (read + verify, store loaded):                ${l.toFixed(1)} ms   ratio ${(l / o).toFixed(2)}x of openssl`,
  );
  console.log(
    `TrustStore.fromDirectory + verifySmime (cold store):        ${c.toFixed(1)} ms   ratio ${(c / o).toFixed(2)}x of openssl`,
  );
  console.log(`TrustStore.fromDirectory alone (first load):                ${trustMs.toFixed(1)} ms`);
  console.log(
    `peak memory above baseline: ${mb(mem.peakAboveBaseline)} MB = ${(mem.peakAboveBaseline / size).toFixed(2)}x message size (target < 4x)`,
  );
  console.log(
    `target (library verify no slower than openssl's whole command): ${l <= o ? 'met' : 'NOT met'}`,
  );
} finally {
  removeDir(dir);
}
