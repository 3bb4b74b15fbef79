import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventEnvironment, runEventCommand, type VmcatcherEvent } from '../src/index.js';

const imageEvent: VmcatcherEvent = {
  type: 'AvailablePostfix',
  session: '3f1a3a52-0c7c-11ee-9b3c-0242ac120002',
  dirs: {
    cache: '/var/lib/vmcatcher/cache',
    partial: '/var/lib/vmcatcher/cache/partial',
    expired: '/x/expired',
  },
  database: 'sqlite:///vmcatcher.db',
  metadata: {
    'dc:identifier': 'a7b1c3d4-0000-4000-8000-000000000001',
    'dc:title': 'SL 6 base',
    'dc:description': '',
    'hv:uri': 'http://127.0.0.1:8080/sl6.img?x=1&y=$(touch /tmp/pwned)',
    'hv:size': 1048576,
    'hv:hypervisor': 'kvm',
    'hv:version': '1.2',
    'hv:image.hv:format': 'raw',
    'hv:image.ad:mpuri': 'https://appdb.example/mp/1',
    'sl:arch': 'x86_64',
    'sl:checksum:sha512': 'ab'.repeat(64),
    'sl:comments': 'none',
    'sl:os': 'Linux',
    'sl:osversion': 'SL 6',
    filename: 'a7b1c3d4-0000-4000-8000-000000000001',
    'hv:imagelist.dc:identifier': 'list-uuid',
    'hv:imagelist.ad:vo': 'dteam',
    message: 'the whole signed list, not an environment variable',
  },
};

describe('eventEnvironment', () => {
  it('maps an image event exactly as reference §3.5', () => {
    const env = eventEnvironment(imageEvent, {
      PATH: '/usr/bin',
      VMCATCHER_EVENT_HV_URI: 'stale',
      HOME: '/root',
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/root',
      VMCATCHER_EVENT_TYPE: 'AvailablePostfix',
      VMCATCHER_EVENT_UUID_SESSION: '3f1a3a52-0c7c-11ee-9b3c-0242ac120002',
      VMCATCHER_CACHE_DIR_CACHE: '/var/lib/vmcatcher/cache',
      VMCATCHER_CACHE_DIR_DOWNLOAD: '/var/lib/vmcatcher/cache/partial',
      VMCATCHER_CACHE_DIR_EXPIRE: '/x/expired',
      VMCATCHER_RDBMS: 'sqlite:///vmcatcher.db',
      VMCATCHER_EVENT_DC_IDENTIFIER: 'a7b1c3d4-0000-4000-8000-000000000001',
      VMCATCHER_EVENT_DC_TITLE: 'SL 6 base',
      VMCATCHER_EVENT_HV_URI: 'http://127.0.0.1:8080/sl6.img?x=1&y=$(touch /tmp/pwned)',
      VMCATCHER_EVENT_HV_SIZE: '1048576',
      VMCATCHER_EVENT_HV_HYPERVISOR: 'kvm',
      VMCATCHER_EVENT_HV_VERSION: '1.2',
      VMCATCHER_EVENT_HV_FORMAT: 'raw',
      VMCATCHER_EVENT_SL_ARCH: 'x86_64',
      VMCATCHER_EVENT_SL_CHECKSUM_SHA512: 'ab'.repeat(64),
      VMCATCHER_EVENT_SL_COMMENTS: 'none',
      VMCATCHER_EVENT_SL_OS: 'Linux',
      VMCATCHER_EVENT_SL_OSVERSION: 'SL 6',
      VMCATCHER_EVENT_FILENAME: 'a7b1c3d4-0000-4000-8000-000000000001',
      VMCATCHER_EVENT_IL_DC_IDENTIFIER: 'list-uuid',
      VMCATCHER_EVENT_AD_MPURI: 'https://appdb.example/mp/1',
      VMCATCHER_EVENT_VO: 'dteam',
    });
  });

  it('uses the legacy keys uuid, size and sha512 as fall-backs', () => {
    const env = eventEnvironment(
      { type: 'ExpirePrefix', session: 's', metadata: { uuid: 'u', size: 5, sha512: 'cd' } },
      {},
    );
    expect(env).toEqual({
      VMCATCHER_EVENT_TYPE: 'ExpirePrefix',
      VMCATCHER_EVENT_UUID_SESSION: 's',
      VMCATCHER_EVENT_DC_IDENTIFIER: 'u',
      VMCATCHER_EVENT_HV_SIZE: '5',
      VMCATCHER_EVENT_SL_CHECKSUM_SHA512: 'cd',
    });
  });

  it('gives process events no image variables', () => {
    const env = eventEnvironment({ ...imageEvent, type: 'ProcessPrefix' }, {});
    expect(Object.keys(env).sort()).toEqual([
      'VMCATCHER_CACHE_DIR_CACHE',
      'VMCATCHER_CACHE_DIR_DOWNLOAD',
      'VMCATCHER_CACHE_DIR_EXPIRE',
      'VMCATCHER_EVENT_TYPE',
      'VMCATCHER_EVENT_UUID_SESSION',
      'VMCATCHER_RDBMS',
    ]);
  });

  it('does not set HV_FORMAT, AD_MPURI or VO for the raw image of SubscriptionImageNew', () => {
    const env = eventEnvironment(
      {
        type: 'SubscriptionImageNew',
        session: 's',
        metadata: { 'dc:identifier': 'i', 'hv:format': 'raw', 'ad:mpuri': 'm', 'hv:uri': 'http://h/i' },
      },
      {},
    );
    expect(env).toEqual({
      VMCATCHER_EVENT_TYPE: 'SubscriptionImageNew',
      VMCATCHER_EVENT_UUID_SESSION: 's',
      VMCATCHER_EVENT_DC_IDENTIFIER: 'i',
      VMCATCHER_EVENT_HV_URI: 'http://h/i',
    });
  });

  it('drops NUL characters that an environment cannot carry', () => {
    const env = eventEnvironment(
      { type: 'ExpirePrefix', session: 's', metadata: { 'dc:title': 'a\0b' } },
      {},
    );
    expect(env.VMCATCHER_EVENT_DC_TITLE).toBe('ab');
  });
});

/** A killed process may stay a zombie until some reaper collects it; it no longer runs either way. */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

describe('runEventCommand', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hepix-events-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes values through the environment only, never through the shell', async () => {
    const out = join(dir, 'env.txt');
    const marker = join(dir, 'pwned');
    const event: VmcatcherEvent = {
      ...imageEvent,
      metadata: { ...imageEvent.metadata, 'hv:uri': `http://h/$(touch ${marker})\`touch ${marker}\`` },
    };
    const r = await runEventCommand(`env > '${out}'`, event, { env: { PATH: process.env.PATH } });
    expect(r).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l.startsWith('VMCATCHER_'));
    const expected = eventEnvironment(event, {});
    expect(lines.sort()).toEqual(
      Object.entries(expected)
        .map(([k, v]) => `${k}=${v}`)
        .sort(),
    );
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes the whole event as JSON on standard input', async () => {
    const r = await runEventCommand('cat', imageEvent);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(imageEvent);
  });

  it('survives a handler that does not read its input', async () => {
    const big: VmcatcherEvent = { ...imageEvent, metadata: { message: 'x'.repeat(4 * 1024 * 1024) } };
    const r = await runEventCommand('exit 0', big);
    expect(r.exitCode).toBe(0);
  });

  it('logs a non-zero exit as an error with its output', async () => {
    const logs: [string, string][] = [];
    const r = await runEventCommand('echo out; echo err >&2; exit 3', imageEvent, {
      log: (level, msg) => logs.push([level, msg]),
    });
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, stdout: 'out\n', stderr: 'err\n' });
    // The handler's stderr is in the error line itself, not only at info level.
    expect(logs).toContainEqual(['error', 'event AvailablePostfix: handler failed (exit 3); stderr: err']);
    expect(logs).toContainEqual(['info', 'event AvailablePostfix stdout: out\n']);
    expect(logs.filter(([l]) => l === 'info' || l === 'error')).toHaveLength(2);
  });

  it('kills the whole process group of a handler that sleeps forever, even one ignoring SIGTERM', async () => {
    const pidFile = join(dir, 'pids');
    const logs: [string, string][] = [];
    const started = Date.now();
    // The shell and its background child both ignore SIGTERM; only SIGKILL to the group ends them.
    const r = await runEventCommand(
      `trap '' TERM; sleep 1000 & echo $! > '${pidFile}'; echo $$ >> '${pidFile}'; wait`,
      imageEvent,
      { timeoutMs: 500, killGraceMs: 300, log: (level, msg) => logs.push([level, msg]) },
    );
    const elapsed = Date.now() - started;
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.signal).toBe('SIGKILL');
    expect(elapsed).toBeLessThan(5000);
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(await running(pid)).toBe(false);
    expect(logs).toContainEqual([
      'error',
      'event AvailablePostfix: handler timed out after 500 ms and was killed',
    ]);
  });

  it('ends a handler that honours SIGTERM without waiting for the grace period', async () => {
    const started = Date.now();
    const r = await runEventCommand('sleep 1000', imageEvent, { timeoutMs: 200, killGraceMs: 10_000 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGTERM');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('does not wait for a background process that keeps the pipes open', async () => {
    const started = Date.now();
    const r = await runEventCommand('sleep 30 & echo started', imageEvent, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ exitCode: 0, timedOut: false });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
