// The whole path with the built bins, as a site runs it: a list signed with openssl and served on loopback,
// vmcatcher_endorser / vmcatcher_subscribe -U / vmcatcher_image -a, then `vmcatcher_cache -x vmcatcher-glance`
// into the real glance-api: an upload, a new version (replace) delivered late through --retry-events, a
// re-delivered event, a metadata-only change, sync --dry-run and sync, a hostile image refused and recorded,
// and an expiry.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@hepix/imagelist-store';
import {
  makeListJson,
  makePki,
  signWithOpenssl,
  startHttpServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { env, glanceImages, qcow2From, rawDisk, run, sha512File, tempDir, uniqueTag } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cliDist = join(root, 'packages/vmcatcher-cli/dist/bin');
const glanceBin = join(root, 'packages/glance-connector/dist/bin/vmcatcher-glance.js');
const SUB = 'e2e0e2e0-7a7a-4b4b-8c8c-000000000001';
const IMAGE = 'e2e0e2e0-7a7a-4b4b-8c8c-0000000000a1';
const HOSTILE = 'e2e0e2e0-7a7a-4b4b-8c8c-0000000000b2';

let dir: string;
let bin: string;
let pki: TestPki;
let server: TestServer;
let tag: string;
let listVersion = 0;
const base = Date.now() - 24 * 3600_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], extra: Record<string, string> = {}, input?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: siteEnv(extra), cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

function siteEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir,
    VMCATCHER_RDBMS: `sqlite:///${join(dir, 'vmcatcher.db')}`,
    VMCATCHER_DIR_CERT: pki.certDir,
    VMCATCHER_CACHE_DIR_CACHE: join(dir, 'cache'),
    VMCATCHER_CACHE_EVENT_TIMEOUT: '120',
    VMCATCHER_GLANCE_CONFIG: join(dir, 'glance.yaml'),
    OS_AUTH_TYPE: 'none',
    OS_IMAGE_URL: env('TEST_GLANCE_URL'),
    ...extra,
  };
}

async function ok(cmd: string, args: string[], extra: Record<string, string> = {}): Promise<Ran> {
  const r = await sh(cmd, args, extra);
  expect(r.code, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

/** Signs and serves the next version of the list with these images (path → bytes served at /images/<id>). */
function publish(images: { id: string; path: string; format: string; version: string }[]): void {
  listVersion++;
  for (const i of images) server.serve(`/images/${i.id}-${listVersion}`, readBytes(i.path));
  const json = makeListJson({
    identifier: SUB,
    version: `1.${listVersion}`,
    created: new Date(base + listVersion * 60_000),
    expires: new Date(Date.now() + 365 * 24 * 3600_000),
    uri: `${server.url}/list.smime`,
    dn: pki.endorser.subject,
    ca: pki.endorser.issuer,
    images: images.map((i) => ({
      identifier: i.id,
      sha512: sha512File(i.path),
      size: readBytes(i.path).length,
      uri: `${server.url}/images/${i.id}-${listVersion}`,
      version: i.version,
      format: i.format,
    })),
    extra: { 'ad:vo': 'vo.e2e.example.org' },
  });
  server.serve('/list.smime', signWithOpenssl(json, pki.endorser, dir));
}

function readBytes(path: string): Buffer {
  return readFileSync(path);
}

async function failedEvents(): Promise<{ type: string; error: string; payload: Record<string, unknown> }[]> {
  const store = await openStore(`sqlite:///${join(dir, 'vmcatcher.db')}`, { mustExist: true });
  try {
    return await store.subscriber.listFailedEvents();
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = tempDir('hepix-glance-e2e-');
  bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const name of ['vmcatcher_endorser', 'vmcatcher_subscribe', 'vmcatcher_image', 'vmcatcher_cache']) {
    chmodSync(join(cliDist, `${name}.js`), 0o755);
    symlinkSync(join(cliDist, `${name}.js`), join(bin, name));
  }
  chmodSync(glanceBin, 0o755);
  symlinkSync(glanceBin, join(bin, 'vmcatcher-glance'));
  pki = makePki(join(dir, 'pki'));
  server = await startHttpServer();
  tag = uniqueTag();
  writeFileSync(
    join(dir, 'glance.yaml'),
    [
      `tag: ${tag}`,
      `scratch_dir: ${join(dir, 'scratch')}`,
      'formats: [qcow2, raw]',
      'max_virtual_size: 1G',
      'mapping:',
      '  rules:',
      '    - vo: vo.e2e.example.org',
      '      visibility: shared',
      '      project: e2e-project',
      '      members: [e2e-member]',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'scratch'));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('vmcatcher_cache -x vmcatcher-glance', () => {
  it('runs a site from a signed list to Glance and through every change', { timeout: 600_000 }, async () => {
    const v1 = rawDisk(join(dir, 'v1.raw'), 2 << 20);
    const v1q = qcow2From(v1, join(dir, 'v1.qcow2'));
    publish([{ id: IMAGE, path: v1q, format: 'QCOW2', version: '1' }]);
    await ok('vmcatcher_endorser', [
      '--create',
      '--endorser_uuid',
      'e2e',
      '--subject',
      pki.endorser.subject,
      '--issuer',
      pki.endorser.issuer,
    ]);
    await ok('vmcatcher_subscribe', ['-s', `${server.url}/list.smime`]);
    await ok('vmcatcher_subscribe', ['-U']);
    await ok('vmcatcher_image', ['-a', '-u', IMAGE]);
    await ok('vmcatcher_subscribe', ['-u', SUB, '--imagelist-newimage-subscribe']);

    // 1. The first cache run: downloaded, verified, uploaded with the properties and the list's hash.
    await ok('vmcatcher_cache', ['-x', 'vmcatcher-glance']);
    expect(await failedEvents()).toEqual([]);
    let images = await glanceImages(tag);
    expect(images).toHaveLength(1);
    const first = images[0];
    expect(first).toMatchObject({
      status: 'active',
      disk_format: 'qcow2',
      os_hash_algo: 'sha512',
      os_hash_value: sha512File(v1q),
      vmcatcher_event_dc_identifier: IMAGE,
      vmcatcher_event_il_dc_identifier: SUB,
      vmcatcher_event_hv_version: '1',
      vmcatcher_event_vo: 'vo.e2e.example.org',
      os_distro: 'scientific',
      os_version: '6.4',
      architecture: 'x86_64',
      owner: 'e2e-project',
      visibility: 'shared',
      min_disk: 1,
    });

    // 2. A new version while Glance is unreachable: the events fail and are recorded, in order.
    const v2 = rawDisk(join(dir, 'v2.raw'), 3 << 20);
    publish([{ id: IMAGE, path: v2, format: 'raw', version: '2' }]);
    await ok('vmcatcher_subscribe', ['-U']);
    // vmcatcher_cache exits 89 when an event failed (the images themselves were cached).
    const down = await sh('vmcatcher_cache', ['-x', 'vmcatcher-glance'], { OS_IMAGE_URL: 'http://127.0.0.1:9' });
    expect(down.code, down.stderr).toBe(89);
    const failed = await failedEvents();
    expect(failed.map((f) => f.type)).toEqual(['ExpirePostfix', 'AvailablePostfix', 'ProcessPostfix']);
    expect(failed[0].error).toMatch(/^exit 6: vmcatcher-glance: ERR_GLANCE_CONNECT/);
    expect((await glanceImages(tag)).map((i) => [i.id, i.status])).toEqual([[first.id, 'active']]);

    // 3. --retry-events delivers them in order: the old version deactivated (a newer one follows), the new
    //    one uploaded, then the old one deleted.
    const retried = await ok('vmcatcher_cache', ['--retry-events', '-x', 'vmcatcher-glance']);
    expect(await failedEvents(), retried.stderr).toEqual([]);
    images = await glanceImages(tag);
    expect(images).toHaveLength(1);
    const second = images[0];
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({
      status: 'active',
      disk_format: 'raw',
      os_hash_value: sha512File(v2),
      vmcatcher_event_hv_version: '2',
    });

    // 4. The same AvailablePostfix delivered once more: nothing changes.
    const payload = JSON.stringify(failed[1].payload);
    const again = await sh('vmcatcher-glance', [], { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' }, payload);
    expect(again.code, again.stderr).toBe(0);
    expect(await glanceImages(tag)).toEqual(images);

    // 5. A metadata-only change (same bytes, new hv:version): the properties follow, nothing is uploaded.
    publish([{ id: IMAGE, path: v2, format: 'raw', version: '2.1' }]);
    await ok('vmcatcher_subscribe', ['-U']);
    await ok('vmcatcher_cache', ['-x', 'vmcatcher-glance']);
    images = await glanceImages(tag);
    expect(images.map((i) => [i.id, i.vmcatcher_event_hv_version, i.os_hash_value])).toEqual([
      [second.id, '2.1', sha512File(v2)],
    ]);

    // 6. sync --dry-run prints the plan and changes nothing; sync carries it out.
    await fetch(`${env('TEST_GLANCE_URL')}/v2/images/${second.id}/actions/deactivate`, { method: 'POST' });
    const dry = await ok('vmcatcher-glance', ['sync', '--dry-run']);
    expect(dry.stdout).toContain(`plan\treactivate ${IMAGE} ${second.id}`);
    expect((await glanceImages(tag))[0].status).toBe('deactivated');
    const synced = await ok('vmcatcher-glance', ['sync']);
    expect(synced.stdout).toContain(`done\treactivate ${IMAGE} ${second.id}`);
    expect((await glanceImages(tag))[0].status).toBe('active');
    expect((await ok('vmcatcher-glance', ['sync', '--dry-run'])).stdout).toBe('');

    // 7. A hostile image (qcow2 with a backing file) in the next list: cached (its sha512 is right) but
    //    refused by the connector, the failure recorded with its code, nothing in Glance.
    const evil = join(dir, 'evil.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', '-b', '/etc/passwd', '-F', 'raw', evil, '1M']);
    publish([
      { id: IMAGE, path: v2, format: 'raw', version: '2.1' },
      { id: HOSTILE, path: evil, format: 'qcow2', version: '1' },
    ]);
    await ok('vmcatcher_subscribe', ['-U']);
    // The image is cached; its event failed, so vmcatcher_cache exits 89.
    const hostile = await sh('vmcatcher_cache', ['-x', 'vmcatcher-glance']);
    expect(hostile.code, hostile.stderr).toBe(89);
    const refused = await failedEvents();
    expect(
      refused.map((f) => [
        f.type,
        f.payload.metadata && (f.payload.metadata as Record<string, unknown>)['dc:identifier'],
      ]),
    ).toEqual([['AvailablePostfix', HOSTILE]]);
    expect(refused[0].error).toMatch(/^exit 20: vmcatcher-glance: ERR_GLANCE_BACKING_FILE: .*\/etc\/passwd/);
    expect((await glanceImages(tag)).map((i) => i.vmcatcher_event_dc_identifier)).toEqual([IMAGE]);

    // 8. The list drops the image: expired from the cache, deactivated and deleted in Glance.
    publish([{ id: HOSTILE, path: evil, format: 'qcow2', version: '1' }]);
    await ok('vmcatcher_subscribe', ['-U']);
    await ok('vmcatcher_cache', ['-x', 'vmcatcher-glance']);
    expect(await glanceImages(tag)).toEqual([]);
  });
});
