// Benchmark of several cache workers on one PostgreSQL store: the same BENCH_IMAGES images (BENCH_MIB each)
// served by nginx on 127.0.0.1, cached by 1, 2 and 3 `vmcatcher_cache` processes started together (each a
// plain run: it claims images until none is left for it, then exits), into one local cache directory and, unless
// BENCH_S3=0, into one s3:// bucket of Swift's s3api. Every configuration starts from a fresh database and cache,
// subscribed with the real vmcatcher_endorser / vmcatcher_subscribe -s -U / vmcatcher_image -a; the wall time is
// from the start of the first worker to the exit of the last, and the ratios are against one worker in the same
// run. Checks that every image was cached once and verified. Run after `pnpm build`:
//   node bench/workers.mjs          env: BENCH_IMAGES (12), BENCH_MIB (64), BENCH_WORKERS (1,2,3), BENCH_S3 (1)
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { makeListJson, makePki, signWithOpenssl } from '../../test-support/dist/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '../../..');
const bins = join(repo, 'packages/vmcatcher-cli/dist/bin');
const tmp = mkdtempSync(join(tmpdir(), 'hepix-workers-bench-'));
const count = Number(process.env.BENCH_IMAGES ?? 12);
const mib = Number(process.env.BENCH_MIB ?? 64);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2,3').split(',').map(Number);
const withS3 = process.env.BENCH_S3 !== '0';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let nginxPid;
process.on('exit', () => {
  if (nginxPid) {
    try {
      process.kill(nginxPid, 'SIGTERM');
    } catch {}
  }
  rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

function started(script) {
  const out = execFileSync('bash', [join(repo, 'scripts', script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const vars = {};
  for (const m of out.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) vars[m[1]] = m[2].trim();
  return vars;
}
const admin = process.env.TEST_POSTGRES_URL || started('start-postgres.sh').TEST_POSTGRES_URL;
const s3 = !withS3 ? undefined : process.env.TEST_S3_ENDPOINT ? process.env : started('start-swift.sh');

async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// nginx with sendfile on loopback, as in image-cache's cache bench.
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

const pki = makePki(join(tmp, 'pki'));
const dn = pki.endorser.subject;
const ca = pki.endorser.issuer;

const images = Array.from({ length: count }, () => {
  const id = randomUUID();
  const data = randomFillSync(Buffer.alloc(mib << 20));
  writeFileSync(join(www, `${id}.img`), data);
  return { id, size: data.length, sha512: createHash('sha512').update(data).digest('hex') };
});

const listId = randomUUID();
const listUri = `${base}/${listId}.smime`;
const listJson = makeListJson({
  identifier: listId,
  version: '1',
  created: new Date(Date.now() - 3600_000),
  expires: new Date(Date.now() + 28 * 86_400_000),
  uri: listUri,
  dn,
  ca,
  images: images.map((i) => ({
    identifier: i.id,
    sha512: i.sha512,
    size: i.size,
    uri: `${base}/${i.id}.img`,
  })),
});
writeFileSync(join(www, `${listId}.smime`), signWithOpenssl(listJson, pki.endorser));

async function newDatabase() {
  const name = `hepix_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`create database ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return { url: u.href, name };
}

async function dropDatabase(name) {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`drop database if exists ${name} with (force)`);
  await c.end();
}

/** A fresh site on a fresh database: endorser, subscription, -U, every image selected. */
async function site(storage) {
  const dir = mkdtempSync(join(tmp, 'site-'));
  const db = await newDatabase();
  const env = {
    ...process.env,
    HOME: dir,
    VMCATCHER_RDBMS: db.url,
    VMCATCHER_DIR_CERT: pki.certDir,
    VMCATCHER_CACHE_DIR_CACHE: join(dir, 'cache'),
    ...(storage === 's3'
      ? {
          VMCATCHER_CACHE_URL: `s3://bench-${randomUUID().slice(0, 18)}/fed`,
          AWS_ENDPOINT_URL_S3: s3.TEST_S3_ENDPOINT,
          AWS_ACCESS_KEY_ID: s3.TEST_S3_ACCESS_KEY,
          AWS_SECRET_ACCESS_KEY: s3.TEST_S3_SECRET_KEY,
          AWS_REGION: s3.TEST_S3_REGION,
        }
      : {}),
  };
  delete env.NODE_OPTIONS;
  const run = (bin, args) =>
    execFileSync(process.execPath, [join(bins, `${bin}.js`), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  run('vmcatcher_endorser', ['--create', '--endorser_uuid', 'bench', '--subject', dn, '--issuer', ca]);
  run('vmcatcher_subscribe', ['-s', listUri]);
  run('vmcatcher_subscribe', ['-U']);
  for (const i of images) run('vmcatcher_image', ['-a', '-u', i.id]);
  return { dir, env, db };
}

/** `n` workers started together; resolves with the wall time and what each cached. */
async function workers(n, env, dir) {
  const t0 = performance.now();
  const runs = Array.from({ length: n }, (_, w) => {
    const p = spawn(
      process.execPath,
      [join(bins, 'vmcatcher_cache.js'), '--json', '-p', join(dir, `partial-${w}`)],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    return new Promise((resolve, reject) =>
      p.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker ${w} exited ${code}: ${out}`)),
      ),
    );
  });
  const summaries = await Promise.all(runs);
  return { ms: performance.now() - t0, summaries };
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const total = count * mib;
console.log(
  `bench: ${count} images x ${mib} MiB = ${total} MiB, nginx ${base}, PostgreSQL, load average ${load()}, node ${process.version}`,
);
for (const storage of ['local', ...(withS3 ? ['s3'] : [])]) {
  console.log(`\n== cache ${storage === 's3' ? 'in an s3:// bucket (Swift s3api)' : 'in a local directory'}`);
  let one;
  for (const n of workerCounts) {
    const s = await site(storage);
    try {
      const r = await workers(n, s.env, s.dir);
      const got = r.summaries.flatMap((x) => x.downloaded);
      if (got.length !== count || new Set(got).size !== count)
        throw new Error(
          `${n} workers cached ${got.length} images (${new Set(got).size} distinct), not ${count}`,
        );
      if (storage === 'local')
        for (const i of images) {
          const sum = createHash('sha512')
            .update(readFileSync(join(s.dir, 'cache', i.id)))
            .digest('hex');
          if (sum !== i.sha512) throw new Error(`${i.id}: wrong bytes in the cache`);
        }
      one ??= r.ms;
      const shares = r.summaries.map((x) => x.downloaded.length).join('/');
      console.log(
        `${n} worker${n > 1 ? 's' : ' '}: ${(r.ms / 1000).toFixed(2)} s, ${(total / (r.ms / 1000)).toFixed(0)} MiB/s, ` +
          `${(one / r.ms).toFixed(2)}x one worker, images per worker ${shares}, load ${load()}`,
      );
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
      await dropDatabase(s.db.name);
    }
  }
}
