// Issue 18, status and history: runs of the real bins (vmcatcher_subscribe -U, vmcatcher_cache) that fail in
// different ways (an unreachable list, a bad signature, a download that fails its sha512) are recorded in the
// store; `vmcatcher history` shows them; `vmcatcher status` judges them as a monitoring probe (each exit status);
// `--prometheus` writes textfile metrics that a Prometheus text-format parser reads.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@hepix/imagelist-store';
import {
  type ImageServer,
  makeListJson,
  makePki,
  signList,
  startHttpServer,
  startImageServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageData, sha512 } from '../../image-cache/test/helpers.js';
import { binDir, run } from './helpers/bins.js';
import { parseMetrics, sample } from './prometheus-format.js';

const DAY = 86_400_000;
const A = randomUUID();
const B = randomUUID();
const C = randomUUID();
const IMG = { a1: randomUUID(), a2: randomUUID(), b1: randomUUID(), c1: randomUUID() };

let root: string;
let work: string;
let pki: TestPki;
let lists: TestServer;
let listsB: TestServer;
let images: ImageServer;
let env: NodeJS.ProcessEnv;
let db: string;
const data = { a1: imageData(40_000), a2: imageData(30_000), b1: imageData(20_000), c1: imageData(10_000) };

function imageSpec(key: keyof typeof IMG) {
  return {
    identifier: IMG[key],
    uri: `${images.url}/${key}.img`,
    size: data[key].length,
    sha512: sha512(data[key]),
  };
}

function signed(identifier: string, url: string, keys: (keyof typeof IMG)[], version = '1.0'): Buffer {
  return signList(
    makeListJson({
      identifier,
      version,
      created: new Date(Date.now() - DAY),
      expires: new Date(Date.now() + 10 * DAY),
      uri: url,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: keys.map(imageSpec),
    }),
    pki.endorser,
  );
}

const urlA = () => `${lists.url}/a.list`;
const urlB = () => `${listsB.url}/b.list`;
const urlC = () => `${lists.url}/c.list`;

function vmcatcher(args: string[], extra: NodeJS.ProcessEnv = {}) {
  return run('vmcatcher', args, { cwd: work, env: { ...env, ...extra } });
}

async function storeRows() {
  const store = await openStore(db);
  try {
    return {
      runs: await store.subscriber.listRuns({ limit: 1000 }),
      totals: await store.subscriber.runTotals(),
      subscriptions: await store.subscriber.listSubscriptions(),
    };
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-status-'));
  work = join(root, 'work');
  const bin = await binDir(root);
  pki = makePki(join(root, 'pki'));
  lists = await startHttpServer();
  listsB = await startHttpServer();
  images = await startImageServer();
  for (const key of Object.keys(IMG) as (keyof typeof IMG)[])
    images.images.set(`/${key}.img`, { data: data[key] });
  // a2's server sends other bytes than the list's sha512 says.
  images.images.set('/a2.img', { data: data.a2, body: imageData(data.a2.length) });
  lists.serve('/a.list', signed(A, urlA(), ['a1', 'a2']));
  listsB.serve('/b.list', signed(B, urlB(), ['b1']));
  lists.serve('/c.list', signed(C, urlC(), ['c1']));
  await import('node:fs/promises').then((fs) => fs.mkdir(work));
  db = `sqlite:///${join(work, 'vmcatcher.db')}`;
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: work,
    VMCATCHER_RDBMS: db,
    VMCATCHER_DIR_CERT: pki.certDir,
    VMCATCHER_CACHE_DIR_CACHE: join(work, 'cache'),
  };
  const endorser = await vmcatcher([
    'endorser',
    '-C',
    '-e',
    'owen',
    '-S',
    pki.endorser.subject,
    '-I',
    pki.endorser.issuer,
  ]);
  expect(endorser.code, endorser.stderr).toBe(0);
  for (const url of [urlA(), urlB(), urlC()]) {
    const r = await vmcatcher(['subscribe', '-s', url, '--imagelist-newimage-subscribe']);
    expect(r.code, r.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([lists?.close(), listsB?.close(), images?.close()]);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('run history, the status probe and the metrics file, through the real bins', () => {
  const prom = () => join(work, 'vmcatcher.prom');

  it("records a successful -U: history, the subscriptions' last attempt and success, the metrics file", async () => {
    const r = await run('vmcatcher_subscribe', ['-U', '--prometheus', prom()], { cwd: work, env });
    expect(r.code, r.stderr).toBe(0);
    const history = JSON.parse((await vmcatcher(['history', '--json'])).stdout);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      tool: 'subscribe',
      outcome: 'success',
      exitStatus: 0,
      pid: expect.any(Number),
    });
    expect(history[0].counts).toEqual({ updated: 3 });
    expect(history[0].bytes).toBeGreaterThan(0);
    const items = history[0].items.filter((i: { image: string | null }) => i.image === null);
    expect(
      items.map((i: { subscription: string; action: string }) => [i.subscription, i.action]).sort(),
    ).toEqual(
      [
        [A, 'updated'],
        [B, 'updated'],
        [C, 'updated'],
      ].sort(),
    );
    const { subscriptions } = await storeRows();
    for (const s of subscriptions) {
      expect(s.lastAttempt).toBeInstanceOf(Date);
      expect(s.lastSuccess).toEqual(s.lastAttempt);
      expect(s.lastError).toBeUndefined();
    }
    const metrics = parseMetrics(await readFile(prom(), 'utf8'));
    expect(sample(metrics, 'vmcatcher_runs_total', { tool: 'subscribe', outcome: 'success' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_subscription_update_failing', { subscription: A })).toBe(0);
    const expiry = sample(metrics, 'vmcatcher_imagelist_expiry_timestamp_seconds', {
      subscription: B,
    }) as number;
    expect(Math.abs(expiry - (Date.now() + 10 * DAY) / 1000)).toBeLessThan(DAY / 1000);
    expect(
      sample(metrics, 'vmcatcher_subscription_seconds_since_last_success', { subscription: C }),
    ).toBeGreaterThanOrEqual(0);
    // The cron environment names the cache directory: nothing is cached yet.
    expect(sample(metrics, 'vmcatcher_subscription_images_missing', { subscription: A })).toBe(2);
    // Written atomically: no temporary file is left beside it.
    expect((await readdir(work)).filter((f) => f.includes('.prom'))).toEqual(['vmcatcher.prom']);
  });

  it('status is CRITICAL (2) while subscribed images are missing in the cache', async () => {
    const r = await vmcatcher(['status']);
    expect(r.code, r.stderr).toBe(2);
    const [first, ...rest] = r.stdout.split('\n');
    expect(first).toMatch(/^VMCATCHER CRITICAL - /);
    expect(first).toContain(`${A}: 2 image(s) missing in the cache`);
    expect(first).toMatch(
      /\| subscriptions=3 images_cached=0 images_missing=4 images_outdated=0 events_queued=0 events_dead=0$/,
    );
    expect(rest.join('\n')).toContain('lock vmcatcher-cache: free');
  });

  it('records a cache run whose download fails its sha512: partial, the item with ERR_CACHE_VERIFY', async () => {
    const r = await run('vmcatcher_cache', ['--prometheus', prom()], { cwd: work, env });
    expect(r.code, r.stderr).toBe(83);
    const [last] = JSON.parse((await vmcatcher(['history', '--json', '--limit', '1'])).stdout);
    expect(last).toMatchObject({ tool: 'cache', outcome: 'partial', exitStatus: 83 });
    expect(last.counts).toMatchObject({ downloaded: 3, failed: 1 });
    expect(last.bytes).toBeGreaterThanOrEqual(data.a1.length + data.b1.length + data.c1.length);
    expect(last.items).toContainEqual(
      expect.objectContaining({ action: 'failed', image: IMG.a2, subscription: A, code: 'ERR_CACHE_VERIFY' }),
    );
    expect(last.items).toContainEqual(
      expect.objectContaining({ action: 'downloaded', image: IMG.b1, subscription: B }),
    );
    const metrics = parseMetrics(await readFile(prom(), 'utf8'));
    expect(sample(metrics, 'vmcatcher_runs_total', { tool: 'cache', outcome: 'partial' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_run_failures_total', { tool: 'cache' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_images_cached')).toBe(3);
    expect(sample(metrics, 'vmcatcher_subscription_images_missing', { subscription: A })).toBe(1);
    expect(sample(metrics, 'vmcatcher_downloaded_bytes_total', { tool: 'cache' })).toBe(last.bytes);
    const status = await vmcatcher(['status', '--json']);
    expect(status.code).toBe(2);
    const json = JSON.parse(status.stdout);
    expect(json).toMatchObject({ state: 'CRITICAL', exitStatus: 2 });
    expect(json.report.subscriptions.find((s: { identifier: string }) => s.identifier === A).images).toEqual({
      expected: 2,
      cached: 1,
      missing: [IMG.a2],
      outdated: [],
    });
  });

  it('status is OK (0) once everything is cached, WARNING (1) when a list expires within --warn-expiry', async () => {
    images.images.set('/a2.img', { data: data.a2 });
    const cache = await run('vmcatcher_cache', [], { cwd: work, env });
    expect(cache.code, cache.stderr).toBe(0);
    const ok = await vmcatcher(['status', '--prometheus', prom()]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe(
      'VMCATCHER OK - 3 subscription(s), 4 image(s) cached | subscriptions=3 images_cached=4 images_missing=0 images_outdated=0 events_queued=0 events_dead=0',
    );
    expect(
      sample(parseMetrics(await readFile(prom(), 'utf8')), 'vmcatcher_status_state', { state: 'OK' }),
    ).toBe(0);
    const soon = await vmcatcher(['status', '--warn-expiry=30']);
    expect(soon.code).toBe(1);
    expect(soon.stdout).toMatch(/^VMCATCHER WARNING - .*expires at .* \(within 30 days\)/);
  });

  it('records a -U where one list is unreachable and one has a bad signature; status WARNING (1) names both', async () => {
    await listsB.close();
    const tampered = signed(C, urlC(), ['c1'], '2.0').toString('latin1').replace('"2.0"', '"3.0"');
    lists.serve('/c.list', Buffer.from(tampered, 'latin1'));
    const before = await storeRows();
    const r = await run('vmcatcher_subscribe', ['-U', '--prometheus', prom()], { cwd: work, env });
    expect(r.code).toBe(11); // the worst of 10 (fetch) and 11 (signature)
    const [last] = JSON.parse((await vmcatcher(['history', '--json', '--limit', '1'])).stdout);
    expect(last).toMatchObject({ tool: 'subscribe', outcome: 'partial', exitStatus: 11 });
    expect(last.counts).toMatchObject({ unchanged: 1, rejected: 2 });
    const bySub = Object.fromEntries(last.items.map((i: { subscription: string }) => [i.subscription, i]));
    expect(bySub[A]).toMatchObject({ action: 'unchanged', code: null });
    expect(bySub[B]).toMatchObject({
      action: 'rejected',
      uri: urlB(),
      code: expect.stringMatching(/^ERR_(LIST_FETCH|TRANSPORT_CONNECT)$/),
    });
    expect(bySub[C]).toMatchObject({ action: 'rejected', code: 'ERR_LIST_SIGNATURE' });

    const after = await storeRows();
    const sub = (id: string) => after.subscriptions.find((s) => s.identifier === id);
    const old = (id: string) => before.subscriptions.find((s) => s.identifier === id);
    expect(sub(B)?.lastError?.code).toBe(bySub[B].code);
    expect(sub(B)?.lastSuccess).toEqual(old(B)?.lastSuccess);
    expect(sub(B)?.updated).toEqual(old(B)?.updated);
    expect(sub(C)?.lastError).toMatchObject({ code: 'ERR_LIST_SIGNATURE' });
    expect(sub(A)?.lastSuccess?.getTime()).toBeGreaterThan(old(A)?.lastSuccess?.getTime() as number);

    const metrics = parseMetrics(await readFile(prom(), 'utf8'));
    expect(sample(metrics, 'vmcatcher_subscription_update_failing', { subscription: B })).toBe(1);
    expect(sample(metrics, 'vmcatcher_subscription_update_failing', { subscription: A })).toBe(0);
    expect(sample(metrics, 'vmcatcher_runs_total', { tool: 'subscribe', outcome: 'partial' })).toBe(1);
    expect(sample(metrics, 'vmcatcher_last_run_success', { tool: 'subscribe' })).toBe(0);

    const status = await vmcatcher(['status']);
    expect(status.code).toBe(1);
    const first = status.stdout.split('\n')[0];
    expect(first).toMatch(/^VMCATCHER WARNING - /);
    expect(first).toContain(`${B}: last update failed`);
    expect(first).toContain(`${C}: last update failed at`);
    expect(first).toContain('ERR_LIST_SIGNATURE');
    expect(status.stdout).toContain(`subscription ${C} ${urlC()}`);
  });

  it('history shows the runs newest first, one line each, with their items; bad options exit 2 and change nothing', async () => {
    const all = await vmcatcher(['history']);
    expect(all.code, all.stderr).toBe(0);
    const runLines = all.stdout.split('\n').filter((l) => /^\d+\t/.test(l));
    expect(runLines.map((l) => l.split('\t').slice(1, 2).concat(l.split('\t').slice(4, 6)))).toEqual([
      ['subscribe', 'partial', '11'],
      ['cache', 'success', '0'],
      ['cache', 'partial', '83'],
      ['subscribe', 'success', '0'],
    ]);
    expect(all.stdout).toMatch(new RegExp(`^  \\S+\\tfailed\\t${A}\\t${IMG.a2}\\tERR_CACHE_VERIFY\\t`, 'm'));
    const one = await vmcatcher(['history', '--limit', '1', '--tool', 'cache']);
    expect(
      one.stdout
        .split('\n')
        .filter((l) => /^\d+\t/.test(l))
        .map((l) => l.split('\t')[4]),
    ).toEqual(['success']);
    const before = await storeRows();
    for (const args of [['--limit', '0'], ['--tool', 'vmcaster'], ['--bogus']]) {
      const bad = await vmcatcher(['history', ...args]);
      expect(bad.code, args.join(' ')).toBe(2);
    }
    expect(await storeRows()).toEqual(before);
  });

  it('a metrics file that cannot be written: ERR_CLI_PROMETHEUS, exit 1 after a good run; the run is recorded', async () => {
    const before = await storeRows();
    const r = await run(
      'vmcatcher_subscribe',
      ['-U', '-u', A, '--prometheus', join(work, 'missing', 'x.prom')],
      {
        cwd: work,
        env,
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Cannot write the metrics file');
    const after = await storeRows();
    expect(after.runs).toHaveLength(before.runs.length + 1);
    expect(after.runs[0]).toMatchObject({ tool: 'subscribe', outcome: 'success', exitStatus: 0 });
  });

  it('status is UNKNOWN (3) when the store cannot be read or an option is bad, and creates nothing', async () => {
    const missing = join(work, 'nowhere', 'vmcatcher.db');
    const cases: [string[], RegExp][] = [
      [['status', '-d', `sqlite:///${missing}`], /^VMCATCHER UNKNOWN - cannot read the store: /],
      [['status', '--warn-expiry=soon'], /^VMCATCHER UNKNOWN - --warn-expiry must be a number of days/],
      [['status', '--no-such-option'], /^VMCATCHER UNKNOWN - no such option: --no-such-option/],
    ];
    for (const [args, line] of cases) {
      const r = await vmcatcher(args);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stdout).toMatch(line);
      expect(r.stdout.split('\n')).toHaveLength(2);
    }
    await expect(readdir(join(work, 'nowhere'))).rejects.toMatchObject({ code: 'ENOENT' });
    const json = await vmcatcher(['status', '--json', '-d', `sqlite:///${missing}`]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({
      state: 'UNKNOWN',
      exitStatus: 3,
      code: 'ERR_STORE_OPEN',
    });
  });
});
