// Streams BENCH_MB (1024) MiB from a loopback nginx over HTTPS (scripts/start-nginx.sh, in a private state
// directory) through @hepix/transport, through the previous image-download client (node:https with a
// keep-alive agent, as image-cache's cache/http.ts did) and through `curl -o /dev/null`, BENCH_RUNS (3) times
// each, interleaved, and prints the best throughput of each and the ratios.
// Run after `pnpm build`:  node bench/stream.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { Agent, get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTransport } from '@hepix/transport';

const MB = Number(process.env.BENCH_MB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'hepix-transport-bench-'));
const state = join(tmp, 'nginx');

const out = execFileSync('bash', [join(repo, 'scripts/start-nginx.sh')], {
  env: { ...process.env, HEPIX_NGINX_DIR: state },
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'ignore'],
});
const vars = Object.fromEntries(
  out
    .split('\n')
    .map((l) => /^([A-Z_]+)=(.*)$/.exec(l.trim()))
    .filter(Boolean)
    .map((m) => [m[1], m[2]]),
);
const nginxPid = Number(readFileSync(join(state, 'nginx.pid'), 'utf8'));

try {
  const size = MB * 1024 * 1024;
  const file = join(vars.TEST_DAV_ROOT, 'bench.img');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(8 * 1024 * 1024, 0x5a);
  for (let left = size; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(left, block.length));
  closeSync(fd);
  spawnSync('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] }); // into the page cache
  const url = `${vars.TEST_DAV_URL}bench.img`;
  const ca = readFileSync(vars.TEST_DAV_CA, 'utf8');
  console.log(`bench: ${MB} MiB over https from loopback nginx, best of ${RUNS}`);

  const contenders = {
    'curl -o /dev/null': async () => {
      const r = spawnSync(
        'curl',
        ['-sf', '--cacert', vars.TEST_DAV_CA, '-o', '/dev/null', '-w', '%{size_download}', url],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0 || Number(r.stdout) !== size) throw new Error(`curl failed: ${r.stderr}`);
    },
    '@hepix/transport': async () => {
      const transport = createTransport();
      try {
        const res = await transport.request(url, { tls: { mode: 'ca', ca: [ca] } });
        let n = 0;
        await new Promise((resolve, reject) => {
          res.body.on('data', (c) => {
            n += c.length;
          });
          res.body.on('end', resolve);
          res.body.on('error', reject);
        });
        if (n !== size) throw new Error(`transport read ${n} bytes`);
      } finally {
        await transport.close();
      }
    },
    'node:https (previous image client)': async () => {
      const agent = new Agent({ keepAlive: true, ca });
      try {
        const n = await new Promise((resolve, reject) => {
          get(url, { agent }, (res) => {
            let n = 0;
            res.on('data', (c) => {
              n += c.length;
            });
            res.on('end', () => resolve(n));
            res.on('error', reject);
          }).on('error', reject);
        });
        if (n !== size) throw new Error(`node:https read ${n} bytes`);
      } finally {
        agent.destroy();
      }
    },
  };
  const best = Object.fromEntries(Object.keys(contenders).map((k) => [k, Number.POSITIVE_INFINITY]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const started = performance.now();
      await fn();
      best[name] = Math.min(best[name], performance.now() - started);
    }
  }
  const rate = (ms) => `${(MB / (ms / 1000)).toFixed(0)} MiB/s`;
  for (const [name, ms] of Object.entries(best))
    console.log(`${name.padEnd(36)} ${ms.toFixed(0).padStart(6)} ms  ${rate(ms)}`);
  const t = best['@hepix/transport'];
  console.log(`transport throughput vs curl:       ${((best['curl -o /dev/null'] / t) * 100).toFixed(0)}%`);
  console.log(
    `transport throughput vs node:https: ${((best['node:https (previous image client)'] / t) * 100).toFixed(0)}%`,
  );
} finally {
  try {
    process.kill(nginxPid, 'SIGTERM');
  } catch {
    // already gone
  }
  rmSync(tmp, { recursive: true, force: true });
}
