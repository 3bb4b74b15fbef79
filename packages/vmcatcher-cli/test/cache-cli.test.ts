// Drives the built vmcatcher_cache and vmcatcher_eventHndlExpl bins as an administrator would.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readIndex } from '@hepix/image-cache';
import { type ImageServer, makePki, type TestPki as Pki, startImageServer } from '@hepix/test-support';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { imageData, prepareStore, publish, sha512, type TestImage } from '../../image-cache/test/helpers.js';

const dist = new URL('../dist/bin/', import.meta.url).pathname;
const SUB = 'c0ffee00-1111-4222-8333-444455556666';

let root: string;
let bin: string;
let pki: Pki;
let server: ImageServer;
let work: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-cli-'));
  bin = join(root, 'bin');
  await mkdir(bin);
  for (const name of ['vmcatcher', 'vmcatcher_cache', 'vmcatcher_eventHndlExpl']) {
    await chmod(join(dist, `${name}.js`), 0o755);
    await symlink(join(dist, `${name}.js`), join(bin, name));
  }
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  work = await mkdtemp(join(root, 'case-'));
  server.images.clear();
  server.requests.length = 0;
  server.range = true;
});

function image(identifier: string, size: number, rate?: number): TestImage {
  const data = imageData(size);
  const path = `/images/${randomUUID()}.img`;
  server.images.set(path, { data, ...(rate ? { rate } : {}) });
  return { identifier, data, uri: `${server.url}${path}` };
}

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env.PATH}`, HOME: work };
  return { ...env, ...extra };
}

function start(
  args: string[],
  env: NodeJS.ProcessEnv,
): ChildProcess & { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn('vmcatcher_cache', args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return Object.assign(child, { done });
}

function runCache(args: string[], env: NodeJS.ProcessEnv) {
  return start(args, env).done;
}

async function jsonLines(path: string): Promise<Record<string, string>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

describe('vmcatcher_cache', () => {
  it("runs the manual's cron set-up: environment, missing directories, the example handler", async () => {
    const id = '9f3c2b1a-0000-4000-8000-000000000001';
    const img = image(id, 200_000);
    const db = join(work, 'lib', 'vmcatcher.db');
    await mkdir(join(work, 'lib'));
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [img], { vo: 'dteam' });
    await store.close();
    const foo = join(work, 'foo');
    const env = baseEnv({
      VMCATCHER_RDBMS: `sqlite:///${db}`,
      VMCATCHER_CACHE_DIR_CACHE: `${work}/vmimages/endorsed/`,
      VMCATCHER_CACHE_DIR_DOWNLOAD: `${work}/vmimages/partial/`,
      VMCATCHER_CACHE_DIR_EXPIRE: `${work}/vmimages/expired/`,
      VMCATCHER_CACHE_EVENT: `vmcatcher_eventHndlExpl --output_file=${foo} --datetime`,
    });
    const r = await runCache([], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha512(await readFile(join(work, 'vmimages/endorsed', id)))).toBe(sha512(img.data));
    const lines = await jsonLines(foo);
    expect(lines.map((l) => l.VMCATCHER_EVENT_TYPE)).toEqual([
      'ProcessPrefix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    const available = lines[2];
    expect(available).toMatchObject({
      VMCATCHER_EVENT_DC_IDENTIFIER: id,
      VMCATCHER_EVENT_FILENAME: id,
      VMCATCHER_EVENT_HV_URI: img.uri,
      VMCATCHER_EVENT_SL_CHECKSUM_SHA512: sha512(img.data),
      VMCATCHER_EVENT_HV_SIZE: '200000',
      VMCATCHER_EVENT_HV_FORMAT: 'raw',
      VMCATCHER_EVENT_AD_MPURI: `https://mp.example/${id}`,
      VMCATCHER_EVENT_VO: 'dteam',
      VMCATCHER_EVENT_IL_DC_IDENTIFIER: SUB,
      VMCATCHER_CACHE_DIR_CACHE: join(work, 'vmimages/endorsed'),
      VMCATCHER_RDBMS: `sqlite:///${db}`,
    });
    expect(available.DATETIME).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(new Set(lines.map((l) => l.VMCATCHER_EVENT_UUID_SESSION)).size).toBe(1);
    // Without --generator minium every known variable is present, padded with "".
    expect(lines[0].VMCATCHER_EVENT_DC_IDENTIFIER).toBe('');
  });

  it('ends with a correct cache when killed with SIGKILL during a download and run again', async () => {
    const id = '9f3c2b1a-0000-4000-8000-000000000002';
    const size = 6 * 1024 * 1024;
    const img = image(id, size, 2 * 1024 * 1024);
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await store.close();
    const log = join(work, 'events.log');
    const env = baseEnv({
      VMCATCHER_RDBMS: `sqlite:///${db}`,
      VMCATCHER_CACHE_EVENT: `echo "$VMCATCHER_EVENT_TYPE" >> '${log}'`,
    });
    const child = start(['-C', join(work, 'cache')], env);
    const partial = join(work, 'cache', 'partial', id);
    for (let i = 0; i < 200; i++) {
      const s = await stat(partial).catch(() => undefined);
      if (s && s.size > 1024 * 1024) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    const killed = await child.done;
    expect(killed.code).toBeNull();
    const kept = (await stat(partial)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(size);
    expect(await readIndex(join(work, 'cache'))).toEqual({});
    server.images.get(new URL(img.uri).pathname)!.rate = undefined;
    const r = await runCache(['-C', join(work, 'cache'), '-v'], env);
    expect(r.code).toBe(0);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    const last = server.requests.at(-1)!;
    expect(last.status).toBe(206);
    expect(Number(/^bytes=(\d+)-$/.exec(last.range ?? '')?.[1])).toBeGreaterThanOrEqual(kept);
    expect(r.stderr).toMatch(/resuming at byte \d+/);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual([
      'ProcessPrefix',
      'ProcessPrefix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    expect(Object.keys(await readIndex(join(work, 'cache')))).toEqual([id]);
    expect(await readIndex(join(work, 'cache', 'partial'))).toEqual({});
  });

  it('serialises overlapping runs (cron) with the store lock', async () => {
    const ids = ['9f3c2b1a-0000-4000-8000-0000000000a1', '9f3c2b1a-0000-4000-8000-0000000000a2'];
    const imgs = ids.map((id) => image(id, 1024 * 1024, 4 * 1024 * 1024));
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, ids);
    await publish(store, pki, work, SUB, imgs);
    await store.close();
    const log = join(work, 'events.log');
    const env = baseEnv({
      VMCATCHER_RDBMS: `sqlite:///${db}`,
      VMCATCHER_CACHE_EVENT: `echo "$VMCATCHER_EVENT_TYPE" >> '${log}'`,
    });
    const [a, b] = await Promise.all([runCache(['--json'], env), runCache(['--json'], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const downloaded = [...JSON.parse(a.stdout).downloaded, ...JSON.parse(b.stdout).downloaded].sort();
    expect(downloaded).toEqual(ids);
    const kinds = (await readFile(log, 'utf8')).trim().split('\n');
    expect(kinds.filter((k) => k === 'AvailablePostfix')).toHaveLength(2);
    expect(kinds.indexOf('ProcessPostfix')).toBeLessThan(kinds.lastIndexOf('ProcessPrefix'));
    for (const i of imgs)
      expect(sha512(await readFile(join(work, 'cache', i.identifier)))).toBe(sha512(i.data));
  });

  it('honours -E alone (no download), -s, and the VMCATCHER_CACHE_ACTION_* variables', async () => {
    const id = '9f3c2b1a-0000-4000-8000-0000000000b1';
    const img = image(id, 10_000);
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await store.close();
    const env = baseEnv({ VMCATCHER_RDBMS: `sqlite:///${db}` });
    const onlyExpire = await runCache(['-E', '--json'], env);
    expect(onlyExpire.code).toBe(0);
    expect(JSON.parse(onlyExpire.stdout).downloaded).toEqual([]);
    const viaEnv = await runCache(['--json'], { ...env, VMCATCHER_CACHE_ACTION_DOWNLOAD: '1' });
    expect(JSON.parse(viaEnv.stdout).downloaded).toEqual([id]);
    const checked = await runCache(['-s', '--json'], env);
    expect(JSON.parse(checked.stdout).verified).toEqual([id]);
    expect(JSON.parse(checked.stdout).downloaded).toEqual([]);
  });

  it('kills a hung handler at --event-timeout and exits 89 (an event failed); --retry-events re-delivers', async () => {
    const id = '9f3c2b1a-0000-4000-8000-0000000000c1';
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [image(id, 10_000)]);
    await store.close();
    const log = join(work, 'events.log');
    const env = baseEnv({ VMCATCHER_RDBMS: `sqlite:///${db}` });
    const started = Date.now();
    const r = await runCache(
      [
        '-x',
        `[ "$VMCATCHER_EVENT_TYPE" = AvailablePostfix ] && sleep 1000; exit 0`,
        '--event-timeout',
        '0.5',
      ],
      env,
    );
    expect(r.code).toBe(89);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stderr).toMatch(/AvailablePostfix: handler timed out/);
    const retry = await runCache(
      ['--retry-events', '-x', `echo "$VMCATCHER_EVENT_TYPE $VMCATCHER_EVENT_FILENAME" >> '${log}'`],
      env,
    );
    expect(retry.code).toBe(0);
    expect((await readFile(log, 'utf8')).trim()).toBe(`AvailablePostfix ${id}`);
  });

  it('shows download progress on a terminal (script(1) gives it a pty)', async () => {
    const id = '9f3c2b1a-0000-4000-8000-0000000000d1';
    const img = image(id, 3 * 1024 * 1024, 4 * 1024 * 1024);
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await store.close();
    const child = spawn('script', ['-qec', `vmcatcher_cache -d 'sqlite:///${db}'`, '/dev/null'], {
      cwd: work,
      env: baseEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
    expect(out).toMatch(
      // Rate and ETA come with the second count; how many counts are drawn depends on the machine's load.
      new RegExp(`${id} +\\d+%  [\\d.]+ [KM]iB of 3\\.0 MiB`),
    );
    expect(screen(out)).toEqual([expect.stringMatching(/^1 downloaded: 3\.0 MiB in /)]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  });

  it('is also `vmcatcher cache`', async () => {
    const id = '9f3c2b1a-0000-4000-8000-0000000000e1';
    const img = image(id, 10_000);
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, [id]);
    await publish(store, pki, work, SUB, [img]);
    await store.close();
    const child = spawn('vmcatcher', ['cache', '--json', '-d', `sqlite:///${db}`], {
      cwd: work,
      env: baseEnv(),
    });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
    expect(JSON.parse(stdout).downloaded).toEqual([id]);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  });

  it('exits 2 on a usage error', async () => {
    const r = await runCache(['--no-such-option'], baseEnv());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such option: --no-such-option/);
  });
});

describe('vmcatcher_eventHndlExpl', () => {
  it('appends only the set variables with --generator minium', async () => {
    const out = join(work, 'events.jsonl');
    const env = baseEnv({
      VMCATCHER_EVENT_TYPE: 'ExpirePostfix',
      VMCATCHER_EVENT_FILENAME: 'x.2026-01-01_00-00-00',
    });
    for (let i = 0; i < 2; i++) {
      const child = spawn('vmcatcher_eventHndlExpl', ['--output_file', out, '--generator', 'minium'], {
        env,
      });
      expect(await new Promise((r) => child.on('close', r))).toBe(0);
    }
    expect(await jsonLines(out)).toEqual([
      { VMCATCHER_EVENT_FILENAME: 'x.2026-01-01_00-00-00', VMCATCHER_EVENT_TYPE: 'ExpirePostfix' },
      { VMCATCHER_EVENT_FILENAME: 'x.2026-01-01_00-00-00', VMCATCHER_EVENT_TYPE: 'ExpirePostfix' },
    ]);
  });
});

/** The rows of a terminal after `output` (\n, \r, ESC[nA, ESC[J, ESC[K; other escapes are kept out). */
function screen(output: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i];
    if (c === '\x1b') {
      const m = /^\x1b\[(\d*)([A-Za-z])/.exec(output.slice(i)) as RegExpExecArray;
      i += m[0].length - 1;
      if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || 1));
      else if (m[2] === 'J') {
        rows.length = row + 1;
        rows[row] = rows[row].slice(0, col);
      } else if (m[2] === 'K') rows[row] = rows[row].slice(0, col);
      continue;
    }
    if (c === '\n') {
      row++;
      col = 0;
      if (rows.length <= row) rows.push('');
    } else if (c === '\r') col = 0;
    else {
      rows[row] = rows[row].slice(0, col) + c + rows[row].slice(col + 1);
      col++;
    }
  }
  return rows.filter((r) => r !== '');
}

describe('vmcatcher_cache progress on a terminal', () => {
  // `script` runs the bin on a pseudo-terminal and copies what it writes there to its own stdout.
  const onTerminal = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const command = ['vmcatcher_cache', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const child = spawn('script', ['-qefc', command, '/dev/null'], {
        cwd: work,
        env: { ...env, COLUMNS: '200', LINES: '50' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('close', (code) => resolve({ code, out }));
    });

  async function twoSlowImages() {
    const ids = ['9f3c2b1a-0000-4000-8000-0000000000a1', '9f3c2b1a-0000-4000-8000-0000000000a2'];
    // Slow enough for several progress events per image, both at once (--concurrency 2).
    const imgs = ids.map((id) => image(id, 600_000, 400_000));
    const db = join(work, 'vmcatcher.db');
    const store = await prepareStore(db, SUB, ids);
    await publish(store, pki, work, SUB, imgs, {});
    await store.close();
    return {
      ids,
      imgs,
      env: baseEnv({ VMCATCHER_RDBMS: `sqlite:///${db}`, VMCATCHER_CACHE_DIR_CACHE: join(work, 'cache') }),
    };
  }

  it('draws one line per parallel download, then a summary', async () => {
    const { ids, imgs, env } = await twoSlowImages();
    const r = await onTerminal(['--concurrency', '2'], env);
    expect(r.code, r.out).toBe(0);
    for (const [i, id] of ids.entries()) {
      expect(r.out).toMatch(new RegExp(`${id} +\\d+%  [\\d.]+ KiB of 585\\.9 KiB`));
      expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(imgs[i].data));
    }
    // Both lines at once: the renderer moved up over two lines to redraw them.
    expect(r.out).toContain('\x1b[2A');
    const rows = screen(r.out);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/^2 downloaded: 1\.1 MiB in \d+:\d\d/);
  });

  it('--no-progress draws nothing on the terminal', async () => {
    const { ids, env } = await twoSlowImages();
    const quiet = await onTerminal(['--no-progress'], env);
    expect(quiet.code, quiet.out).toBe(0);
    expect(quiet.out).toBe('');
    for (const id of ids) expect((await stat(join(work, 'cache', id))).size).toBe(600_000);
  });
});
