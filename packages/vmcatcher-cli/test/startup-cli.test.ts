// What a `vmcatcher_cache` run loads (issue 14: every vmcatcher_* start compiled all of the stack). A run that
// downloads nothing, through the real bin, must not load the S3 SDK, amqplib, the X.509/S/MIME stack or the
// list schema: those are loaded by what needs them (--cache-url, --events, vmcatcher_subscribe).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binFile, run } from './helpers/bins.js';

const preload = new URL('./helpers/loaded-modules.mjs', import.meta.url).pathname;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-startup-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function loadedBy(args: string[], name: string): Promise<{ code: number | null; stderr: string; urls: string[] }> {
  const out = join(root, `${name}.txt`);
  const r = await run(process.execPath, ['--import', preload, binFile('vmcatcher_cache'), ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: root,
      HEPIX_LOADED_MODULES: out,
      VMCATCHER_RDBMS: `sqlite:///${join(root, `${name}.db`)}`,
    },
  });
  const urls = (await readFile(out, 'utf8')).trim().split('\n');
  return { code: r.code, stderr: r.stderr, urls };
}

const HEAVY = [
  /\/@aws-sdk\//,
  /\/amqplib\//,
  /\/@peculiar\//,
  /\/ajv\//,
  /\/smime-x509\/(dist|src)\/index\./,
  /\/imagelist-client\//,
  /\/hepix-imagelist-schema\//,
];

describe('vmcatcher_cache with nothing to download', () => {
  it('loads the store and the cache, and none of the S3, AMQP, X.509 or schema code', async () => {
    const r = await loadedBy(['-C', join(root, 'cache')], 'plain');
    expect(r.code, r.stderr).toBe(0);
    // The hook saw the run: the bin, the cache entry and the SQLite driver it needs.
    expect(r.urls.some((u) => u.endsWith('/vmcatcher-cli/dist/bin/vmcatcher_cache.js'))).toBe(true);
    expect(r.urls.some((u) => /\/image-cache\/dist\/cache\.js$/.test(u))).toBe(true);
    expect(r.urls.some((u) => /\/libsql\//.test(u))).toBe(true);
    expect(r.urls.filter((u) => HEAVY.some((re) => re.test(u)))).toEqual([]);
  });

  it('with --events: amqplib is loaded when the run publishes its process events, and the run still works', async () => {
    // Port 1 refuses: the events stay in the outbox (a warning), the run succeeds.
    const r = await loadedBy(['-C', join(root, 'cache-ev'), '--events', 'amqp://127.0.0.1:1/'], 'events');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/events not published yet/);
    expect(r.urls.some((u) => /\/amqplib\//.test(u))).toBe(true);
    expect(r.urls.filter((u) => /\/@aws-sdk\//.test(u))).toEqual([]);
  });
});
