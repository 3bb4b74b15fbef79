// The connector against the real glance-api (noauth pipeline) of scripts/start-glance.sh: uploads with the
// consumers' properties and a verified hash, idempotence, metadata-only updates, replacement, expiry, sharing,
// conversion, and refusals that leave Glance unchanged.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGlanceConnector,
  factsFromMetadata,
  type GlanceConnectorError,
  type GlanceConnectorOptions,
  type ImageFacts,
  type Mapping,
} from '../src/index.js';
import {
  env,
  files,
  glanceImages,
  glanceMembers,
  noauthCloud,
  qcow2From,
  rawDisk,
  run,
  sha512File,
  tempDir,
  uniqueTag,
} from './helpers.js';

let dir: string;
let scratch: string;
const SUB = '3f1b7c3e-0000-4000-8000-00000000c0de';

beforeAll(() => {
  dir = tempDir('hepix-glance-connector-');
  scratch = join(dir, 'scratch');
  mkdirSync(scratch);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function facts(
  identifier: string,
  path: string,
  image: Record<string, unknown> = {},
  vo = 'vo.example.org',
): ImageFacts {
  const entry: Record<string, unknown> = {
    'dc:identifier': identifier,
    'sl:checksum:sha512': sha512File(path),
    'hv:size': 0,
    'hv:imagelist.dc:identifier': SUB,
    'hv:imagelist.ad:vo': vo,
  };
  const img = {
    'dc:identifier': identifier,
    'dc:title': `Test image ${identifier.slice(0, 8)}`,
    'dc:description': 'An image for the connector tests',
    'hv:format': 'raw',
    'hv:version': '1.0',
    'hv:hypervisor': 'kvm',
    'hv:ram_minimum': '2048',
    'sl:arch': 'amd64',
    'sl:os': 'Linux',
    'sl:osname': 'Ubuntu',
    'sl:osversion': 'Ubuntu 22.04 LTS',
    'ad:mpuri': `https://appdb.example.org/store/vm/image/${identifier}:7/`,
    hw_firmware_type: 'uefi',
    ...image,
  };
  for (const [k, v] of Object.entries(img)) if (v !== undefined) entry[`hv:image.${k}`] = v;
  return factsFromMetadata(entry);
}

function connector(tag: string, over: Partial<GlanceConnectorOptions> = {}) {
  return createGlanceConnector({ cloud: noauthCloud(), tag, scratchDir: scratch, ...over });
}

async function failure(p: Promise<unknown>): Promise<GlanceConnectorError> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: GlanceConnectorError) => e,
  );
}

describe('uploads', () => {
  it('puts a verified raw image into Glance with the properties consumers read, once', async () => {
    const tag = uniqueTag();
    const c = connector(tag);
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`), 3 << 20);
    const f = facts(id, disk);
    const first = await c.available(f, disk);
    expect(first.actions.map((a) => a.kind)).toEqual(['upload']);
    expect(first.results[0].prepared).toMatchObject({ transformed: false, diskFormat: 'raw' });
    const [img, ...more] = await glanceImages(tag);
    expect(more).toEqual([]);
    expect(img).toMatchObject({
      status: 'active',
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'private',
      os_hash_algo: 'sha512',
      os_hash_value: sha512File(disk),
      size: 3 << 20,
      min_ram: 2048,
      min_disk: 1,
      name: `Test image ${id.slice(0, 8)}`,
      vmcatcher_event_dc_identifier: id,
      vmcatcher_event_il_dc_identifier: SUB,
      vmcatcher_event_sl_checksum_sha512: sha512File(disk),
      vmcatcher_event_ad_mpuri: `https://appdb.example.org/store/vm/image/${id}:7/`,
      vmcatcher_event_dc_description: 'An image for the connector tests',
      vmcatcher_event_hv_version: '1.0',
      vmcatcher_event_vo: 'vo.example.org',
      os_distro: 'ubuntu',
      os_version: '22.04',
      architecture: 'x86_64',
      hw_firmware_type: 'uefi',
      vmcatcher_source_format: 'raw',
    });
    expect(img.tags).toEqual([tag]);
    expect(JSON.parse(String(img.APPLIANCE_ATTRIBUTES))).toEqual(f.image);
    expect(img.vmcatcher_converted_sha512).toBeUndefined();

    // The same event again: nothing to do, nothing changed.
    const second = await c.available(f, disk);
    expect(second.actions).toEqual([]);
    expect(await glanceImages(tag)).toEqual([img]);
    expect(files(scratch)).toEqual([]);
    await c.close();
  });

  it('updates only the metadata when the list changed and the bytes did not', async () => {
    const tag = uniqueTag();
    const c = connector(tag);
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    await c.available(facts(id, disk), disk);
    const [before] = await glanceImages(tag);
    const changed = facts(id, disk, {
      'dc:description': 'A better description',
      hw_firmware_type: undefined,
      'hv:version': '1.1',
    });
    const r = await c.available(changed, disk);
    expect(r.actions.map((a) => a.kind)).toEqual(['update']);
    const [after, ...more] = await glanceImages(tag);
    expect(more).toEqual([]);
    expect(after.id).toBe(before.id);
    expect(after).toMatchObject({
      vmcatcher_event_dc_description: 'A better description',
      vmcatcher_event_hv_version: '1.1',
      os_hash_value: before.os_hash_value,
      status: 'active',
    });
    expect(after.hw_firmware_type).toBeUndefined();
    expect(JSON.parse(String(after.APPLIANCE_ATTRIBUTES))['dc:description']).toBe('A better description');
    await c.close();
  });

  it('replaces an older version: the new one active, the old one deleted', async () => {
    const tag = uniqueTag();
    const c = connector(tag);
    const id = randomUUID();
    const v1 = rawDisk(join(dir, `${id}-1.raw`));
    await c.available(facts(id, v1), v1);
    const [old] = await glanceImages(tag);
    const v2 = rawDisk(join(dir, `${id}-2.raw`));
    const r = await c.available(facts(id, v2, { 'hv:version': '2.0' }), v2);
    expect(r.actions).toMatchObject([{ kind: 'upload', replaces: [old.id] }]);
    const images = await glanceImages(tag);
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({
      status: 'active',
      os_hash_value: sha512File(v2),
      vmcatcher_event_hv_version: '2.0',
    });
    expect(images[0].id).not.toBe(old.id);
    expect((await fetch(`${env('TEST_GLANCE_URL')}/v2/images/${old.id}`)).status).toBe(404);
    await c.close();
  });

  it('converts for a site that wants raw and records the converted hash', async () => {
    const tag = uniqueTag();
    const c = connector(tag, { formats: ['raw'] });
    const id = randomUUID();
    const raw = rawDisk(join(dir, `${id}.raw`));
    const q = qcow2From(raw, join(dir, `${id}.qcow2`));
    const r = await c.available(facts(id, q, { 'hv:format': 'QCOW2' }), q);
    expect(r.results[0].prepared).toMatchObject({ transformed: true, steps: ['convert qcow2 → raw'] });
    const [img] = await glanceImages(tag);
    expect(img).toMatchObject({
      status: 'active',
      disk_format: 'raw',
      os_hash_value: sha512File(raw),
      vmcatcher_converted_sha512: sha512File(raw),
      vmcatcher_event_sl_checksum_sha512: sha512File(q),
      vmcatcher_source_format: 'qcow2',
      vmcatcher_ingest_steps: 'convert qcow2 → raw',
    });
    expect(files(scratch)).toEqual([]);
    await c.close();
  });

  it('finds its images by property, never by name, and removes an unfinished upload', async () => {
    const tag = uniqueTag();
    const g = env('TEST_GLANCE_URL');
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    const f = facts(id, disk);
    const post = (body: Record<string, unknown>) =>
      fetch(`${g}/v2/images`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ id: string }>);
    // Same name, not managed (no tag): left alone. Same identifier, never uploaded (a crash): removed.
    const stranger = await post({
      name: `Test image ${id.slice(0, 8)}`,
      disk_format: 'raw',
      container_format: 'bare',
    });
    const crashed = await post({
      name: 'x',
      disk_format: 'raw',
      container_format: 'bare',
      tags: [tag],
      vmcatcher_event_dc_identifier: id,
    });
    const c = connector(tag);
    const r = await c.available(f, disk);
    expect(r.actions.map((a) => a.kind)).toEqual(['delete', 'upload']);
    const images = await glanceImages(tag);
    expect(images.map((i) => i.status)).toEqual(['active']);
    expect(images[0].id).not.toBe(crashed.id);
    expect((await (await fetch(`${g}/v2/images/${stranger.id}`)).json()) as { status: string }).toMatchObject(
      { status: 'queued' },
    );
    await fetch(`${g}/v2/images/${stranger.id}`, { method: 'DELETE' });
    await c.close();
  });
});

describe('expiry', () => {
  it('deactivates, then deletes', async () => {
    const tag = uniqueTag();
    const c = connector(tag);
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    await c.available(facts(id, disk), disk);
    const r = await c.expire(facts(id, disk), 'not-endorsed');
    expect(r.actions.map((a) => a.kind)).toEqual(['deactivate', 'delete']);
    expect(await glanceImages(tag)).toEqual([]);
    // Delivered again: nothing left to do.
    expect((await c.expire(facts(id, disk))).actions).toEqual([]);
    await c.close();
  });

  it('keeps the image deactivated when configured so, and withdraws its members', async () => {
    const tag = uniqueTag();
    const mapping: Mapping = {
      rules: [{ vo: 'vo.example.org', visibility: 'shared', members: ['project-b'], project: 'project-a' }],
    };
    const c = connector(tag, { expire: 'deactivate', mapping });
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    await c.available(facts(id, disk), disk);
    const [img] = await glanceImages(tag);
    expect(await glanceMembers(String(img.id))).toEqual(['project-b']);
    await c.expire(facts(id, disk), 'expired');
    const [kept, ...more] = await glanceImages(tag);
    expect(more).toEqual([]);
    expect(kept).toMatchObject({ id: img.id, status: 'deactivated' });
    expect(await glanceMembers(String(img.id))).toEqual([]);
    // Endorsed again later (a renewed list): reactivated, not uploaded again, members back.
    const back = await c.available(facts(id, disk), disk);
    expect(back.actions.map((a) => a.kind)).toEqual(['reactivate', 'share']);
    expect((await glanceImages(tag))[0]).toMatchObject({ id: img.id, status: 'active' });
    expect(await glanceMembers(String(img.id))).toEqual(['project-b']);
    await c.close();
  });
});

describe('the mapping', () => {
  it('sets owner, visibility and members, and follows changes of the mapping', async () => {
    const tag = uniqueTag();
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    const shared: Mapping = {
      rules: [
        { subscription: 'another-list', visibility: 'public', members: [] },
        {
          vo: 'vo.example.org',
          project: 'project-a',
          visibility: 'shared',
          members: ['project-b', 'project-c'],
        },
      ],
    };
    const c1 = connector(tag, { mapping: shared });
    await c1.available(facts(id, disk), disk);
    const [img] = await glanceImages(tag);
    expect(img).toMatchObject({ owner: 'project-a', visibility: 'shared' });
    expect(await glanceMembers(String(img.id))).toEqual(['project-b', 'project-c']);

    const fewer: Mapping = {
      rules: [
        {
          vo: 'vo.example.org',
          project: 'project-a',
          visibility: 'shared',
          members: ['project-c', 'project-d'],
        },
      ],
    };
    const c2 = connector(tag, { mapping: fewer });
    const r2 = await c2.available(facts(id, disk), disk);
    expect(r2.actions).toMatchObject([{ kind: 'share', add: ['project-d'], remove: ['project-b'] }]);
    expect(await glanceMembers(String(img.id))).toEqual(['project-c', 'project-d']);

    const community: Mapping = { rules: [], default: { visibility: 'community', members: [] } };
    const c3 = connector(tag, { mapping: community });
    const r3 = await c3.available(facts(id, disk), disk);
    expect(r3.actions.map((a) => a.kind)).toEqual(['share', 'update']);
    expect((await glanceImages(tag))[0]).toMatchObject({ id: img.id, visibility: 'community' });

    // A VO the mapping does not name, and no default: not put into Glance at all.
    const none: Mapping = { rules: [{ vo: 'other-vo', visibility: 'private', members: [] }] };
    const other = randomUUID();
    const r4 = await connector(tag, { mapping: none }).available(facts(other, disk), disk);
    expect(r4).toMatchObject({ actions: [], unmapped: [other] });
    expect((await glanceImages(tag)).map((i) => i.vmcatcher_event_dc_identifier)).toEqual([id]);
    for (const c of [c1, c2, c3]) await c.close();
  });
});

/** A loopback proxy to Glance that flips one byte of every image upload on the way. */
async function corruptingProxy(target: string): Promise<{ url: string; server: Server }> {
  const t = new URL(target);
  const server = createServer((req, res) => {
    const upstream = request(
      { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    if (req.method === 'PUT' && /\/file$/.test(req.url ?? '')) {
      let flipped = false;
      req
        .pipe(
          new Transform({
            transform(chunk: Buffer, _e, cb) {
              if (!flipped && chunk.length > 10) {
                chunk[10] ^= 0xff;
                flipped = true;
              }
              cb(null, chunk);
            },
          }),
        )
        .pipe(upstream);
    } else req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('refusals leave Glance unchanged', () => {
  it('a hash Glance computed differently (bytes changed on the way): upload deleted', async () => {
    const tag = uniqueTag();
    const proxy = await corruptingProxy(env('TEST_GLANCE_URL'));
    try {
      const c = connector(tag, { cloud: noauthCloud(proxy.url) });
      const id = randomUUID();
      const disk = rawDisk(join(dir, `${id}.raw`));
      const e = await failure(c.available(facts(id, disk), disk));
      expect(e.code).toBe('ERR_GLANCE_HASH_MISMATCH');
      expect(await glanceImages(tag)).toEqual([]);
      await c.close();
    } finally {
      proxy.server.closeAllConnections();
      proxy.server.close();
    }
  });

  it('a cache file that is not the list sha512', async () => {
    const tag = uniqueTag();
    const c = connector(tag);
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    const other = rawDisk(join(dir, `${id}-other.raw`));
    const e = await failure(c.available(facts(id, other), disk));
    expect(e.code).toBe('ERR_GLANCE_HASH_MISMATCH');
    expect(await glanceImages(tag)).toEqual([]);
    await c.close();
  });

  it('a hostile image: refused before anything reaches Glance, an older version untouched', async () => {
    const tag = uniqueTag();
    const c = connector(tag);
    const id = randomUUID();
    const good = rawDisk(join(dir, `${id}.raw`));
    await c.available(facts(id, good), good);
    const before = await glanceImages(tag);
    const evil = join(dir, `${id}-evil.qcow2`);
    run('qemu-img', ['create', '-f', 'qcow2', '-b', '/etc/shadow', '-F', 'raw', evil, '1M']);
    const e = await failure(c.available(facts(id, evil, { 'hv:format': 'qcow2' }), evil));
    expect(e.code).toBe('ERR_GLANCE_BACKING_FILE');
    // The old version was taken out of use for its replacement, but is still there (nothing deleted).
    const after = await glanceImages(tag);
    expect(after.map((i) => i.id)).toEqual(before.map((i) => i.id));
    expect(after[0].status).toBe('deactivated');
    expect(files(scratch)).toEqual([]);
    await c.close();
  });

  it('an unreachable Glance', async () => {
    const c = connector(uniqueTag(), { cloud: noauthCloud('http://127.0.0.1:9') });
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    expect((await failure(c.available(facts(id, disk), disk))).code).toBe('ERR_GLANCE_CONNECT');
    await c.close();
  });
});
