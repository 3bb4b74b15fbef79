#!/usr/bin/env node
// Benchmark: `vmcaster --upload-image` of a large file to a local directory and to sftp on loopback, against
// `sha512sum FILE && cp FILE DEST` and `sha512sum FILE && scp FILE HOST:DEST` measured in the same run; and the
// local copy alone (the upload backend's chunked copy with progress, in a node process) against `cp`.
// Size: VMCASTER_BENCH_MB (default 2048). Runs: VMCASTER_BENCH_RUNS (default 1; the best is kept).
// Needs a build (`pnpm build`) and, for sftp, scripts/start-sshd.sh (started when TEST_SSH_HOST is unset).
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const preload = fileURLToPath(new URL('./max-rss.mjs', import.meta.url));
const mb = Number(process.env.VMCASTER_BENCH_MB ?? 2048);
const runs = Math.max(1, Number(process.env.VMCASTER_BENCH_RUNS ?? 1));
// Only the local backend's copy against cp (no vmcaster runs, no sftp): VMCASTER_BENCH_COPY_ONLY=1.
const copyOnly = process.env.VMCASTER_BENCH_COPY_ONLY === '1';
const work = mkdtempSync(join(process.env.VMCASTER_BENCH_DIR ?? tmpdir(), 'vmcaster-bench-'));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}
function timed(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

try {
  if (!process.env.TEST_SSH_HOST) {
    const r = sh('bash', [join(root, 'scripts/start-sshd.sh')]);
    for (const line of r.stdout.split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m) process.env[m[1]] = m[2];
    }
  }
  const ssh = {
    host: process.env.TEST_SSH_HOST,
    port: process.env.TEST_SSH_PORT,
    user: process.env.TEST_SSH_USER,
    key: process.env.TEST_SSH_KEY,
    knownHosts: process.env.TEST_SSH_KNOWN_HOSTS,
    root: join(process.env.TEST_SSH_ROOT, `bench-${randomUUID()}`),
  };

  console.log(`vmcaster --upload-image benchmark: ${mb} MiB, best of ${runs}`);
  console.log(`load average at the start: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
  const image = join(work, 'image.raw');
  const fd = openSync(image, 'w');
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < mb; i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk);
  }
  closeSync(fd);

  const home = join(work, 'home');
  const local = join(work, 'local');
  mkdirSync(home, { recursive: true });
  mkdirSync(local, { recursive: true });
  mkdirSync(ssh.root, { recursive: true });
  writeFileSync(
    join(home, '.vmcaster.cfg'),
    [
      '[local]',
      'server = "local.example"',
      'protocol = "local"',
      'uriMatch = "https://local.example/"',
      `uriReplace = ${JSON.stringify(`${local}/`)}`,
      '[sftp]',
      'server = "sftp.example"',
      'protocol = "sftp"',
      'uriMatch = "https://sftp.example/"',
      `uriReplace = ${JSON.stringify(`${ssh.user}@${ssh.host}:${ssh.root}/`)}`,
      `port = ${ssh.port}`,
      `identityFile = ${JSON.stringify(ssh.key)}`,
      `knownHosts = ${JSON.stringify(ssh.knownHosts)}`,
      '',
    ].join('\n'),
  );
  const rssFile = join(work, 'rss');
  const env = { PATH: process.env.PATH, HOME: home, VMCASTER_BENCH_RSS_FILE: rssFile };
  const vm = (args) => sh(process.execPath, ['--import', preload, cli, ...args], { cwd: home, env });
  const list = randomUUID();
  vm(['--imagelist-add', list]);
  const images = { local: randomUUID(), sftp: randomUUID() };
  for (const [name, id] of Object.entries(images)) {
    vm(['image', 'add', id]);
    vm(['imagelist', 'bind-image', list, id]);
    vm(['image', 'set', id, 'hv:uri', `https://${name}.example/images/${id}.img`]);
    vm(['image', 'set', id, 'hv:format', 'raw']);
  }

  const results = [];
  // Uploaded copies are removed after every measurement, so a 2 GiB run needs little disk.
  const clean = () => {
    for (const d of [local, ssh.root]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
    }
  };
  const best = (fn) => {
    let t = Number.POSITIVE_INFINITY;
    let rss = 0;
    let copy = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) {
      // Each measurement starts with no dirty pages of an earlier one left to write back (it would pay for them).
      sh('sync', []);
      const r = fn();
      copy = Math.min(copy, r.copy ?? Number.POSITIVE_INFINITY);
      clean();
      t = Math.min(t, r.t);
      rss = Math.max(rss, r.rss ?? 0);
    }
    return { t, rss, copy };
  };
  const reference = copyOnly
    ? {}
    : {
        local: best(() => ({
          t: timed(() => {
            sh('sha512sum', [image]);
            sh('cp', [image, join(local, 'reference.img')]);
          }),
        })),
        // The local backend fsyncs before renaming into place (a published file must survive a crash); cp does not.
        localSync: best(() => ({
          t: timed(() => {
            sh('sha512sum', [image]);
            sh('cp', [image, join(local, 'reference-sync.img')]);
            sh('sync', [join(local, 'reference-sync.img')]);
          }),
        })),
        sftp: best(() => ({
          t: timed(() => {
            sh('sha512sum', [image]);
            sh('scp', [
              '-q',
              '-P',
              ssh.port,
              '-i',
              ssh.key,
              '-o',
              `UserKnownHostsFile=${ssh.knownHosts}`,
              '-o',
              'BatchMode=yes',
              image,
              `${ssh.user}@${ssh.host}:${ssh.root}/reference.img`,
            ]);
          }),
        })),
      };
  // The local backend's copy by itself (chunks with progress and abort checks) against cp, both as processes.
  const facade = new URL('../node_modules/@hepix/upload-facade/dist/index.js', import.meta.url).href;
  // It prints when the last byte was copied (before the fsync and the rename) and when put() returned, in
  // seconds from the start of the process: the copy compares with cp, the whole put with cp && sync.
  const copyScript = `const { localBackend } = await import(${JSON.stringify(facade)}); let n = 0; let copied;
    await localBackend({}).put(process.argv[1], process.argv[2], { signal: new AbortController().signal,
      onProgress: (p) => { n++; if (p.transferred === p.total) copied = performance.now(); } });
    if (n < 2) throw new Error('no progress reported');
    console.log(JSON.stringify({ copied: copied / 1000, done: performance.now() / 1000 }));`;
  const copyAlone = {
    mine: best(() => {
      let out;
      const t = timed(() => {
        out = sh(process.execPath, ['--input-type=module', '-e', copyScript, join(local, 'copy.img'), image]);
      });
      const { copied, done } = JSON.parse(out.stdout);
      // The process start (about the same for cp) is counted in both figures.
      return { t, copy: t - (done - copied) };
    }),
    ref: best(() => ({ t: timed(() => sh('cp', [image, join(local, 'cp.img')])) })),
    // The backend fsyncs the copy before renaming it into place; cp does not.
    refSync: best(() => ({
      t: timed(() => {
        sh('cp', [image, join(local, 'cp.img')]);
        sh('sync', [join(local, 'cp.img')]);
      }),
    })),
  };
  for (const name of copyOnly ? [] : ['local', 'sftp']) {
    for (const mode of ['new size', 'same size']) {
      const mine = best(() => {
        // Make the same file count as a new version. With a different published size vmcaster hashes while
        // uploading (one pass); with the same size it hashes first, since the file may be unchanged.
        vm(['image', 'set', images[name], 'sl:checksum:sha512', 'none']);
        vm(['image', 'set', images[name], 'hv:size', mode === 'new size' ? '0' : String(mb * 1048576)]);
        const t = timed(() => vm(['--upload-image', image, '--select-image', images[name], '--no-progress']));
        return { t, rss: Number(readFileSync(rssFile, 'utf8')) };
      });
      const ref = reference[name];
      const label = name === 'local' ? 'sha512sum && cp' : 'sha512sum && scp';
      results.push({ name: `${name} (${mode})`, mine, ref, label });
    }
  }
  const mib = mb;
  for (const r of [...results]) {
    if (r.name.startsWith('local'))
      results.push({
        ...r,
        name: r.name.replace('local', 'local/fsync'),
        ref: reference.localSync,
        label: 'sha512sum && cp && sync',
      });
  }
  for (const r of results) {
    console.log(
      `${r.name.padEnd(18)} vmcaster ${r.mine.t.toFixed(2)} s (${(mib / r.mine.t).toFixed(0)} MiB/s, peak RSS ${(r.mine.rss / 1048576).toFixed(0)} MiB)` +
        ` | ${r.label} ${r.ref.t.toFixed(2)} s (${(mib / r.ref.t).toFixed(0)} MiB/s)` +
        ` | ratio vmcaster/reference ${(r.mine.t / r.ref.t).toFixed(2)}`,
    );
  }
  // The copy up to its last byte compares with cp (both leave dirty pages behind); the whole put, which
  // fsyncs before the rename, with cp && sync (both end with the bytes on disk).
  for (const [what, mine, label, ref] of [
    ['copy, no fsync', copyAlone.mine.copy, 'cp', copyAlone.ref.t],
    ['copy + fsync', copyAlone.mine.t, 'cp && sync', copyAlone.refSync.t],
  ])
    console.log(
      `${`local ${what}`.padEnd(20)} backend ${mine.toFixed(2)} s (${(mib / mine).toFixed(0)} MiB/s)` +
        ` | ${label} ${ref.toFixed(2)} s (${(mib / ref).toFixed(0)} MiB/s)` +
        ` | speed backend/${label} ${(ref / mine).toFixed(2)}`,
    );
  console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
  rmSync(ssh.root, { recursive: true, force: true });
} finally {
  rmSync(work, { recursive: true, force: true });
}
