// Safe ingestion against real images made here with qemu-img, the decompressors and tar, and the real tools
// (qemu-img info/convert) under prlimit and bubblewrap. Every refusal asserts its code, that the cache file is
// unchanged and that the scratch directory is left empty.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSandbox,
  type DiskFormat,
  GlanceConnectorError,
  type IngestOptions,
  prepareImage,
  type Sandbox,
} from '../src/index.js';
import { compress, files, hasBwrap, ova, qcow2From, rawDisk, run, sha512File, tempDir } from './helpers.js';

let dir: string;
let scratch: string;
let sandbox: Sandbox;
let raw: string;
let qcow2: string;
const MiB = 1 << 20;

beforeAll(async () => {
  dir = tempDir('hepix-ingest-');
  scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  sandbox = await createSandbox({ mode: 'auto' });
  raw = rawDisk(join(dir, 'disk.raw'), 2 * MiB);
  qcow2 = qcow2From(raw, join(dir, 'disk.qcow2'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function opts(over: Partial<IngestOptions> = {}): IngestOptions {
  return {
    scratchDir: scratch,
    formats: ['raw', 'qcow2', 'vmdk'],
    maxVirtualSize: 1 << 30,
    sandbox,
    ...over,
  };
}

async function refused(
  path: string,
  declaredFormat: unknown,
  code: string,
  over: Partial<IngestOptions> = {},
) {
  const before = sha512File(path);
  const err = await prepareImage({ path, identifier: 'img-1', declaredFormat }, opts(over)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GlanceConnectorError);
  expect((err as GlanceConnectorError).code).toBe(code);
  expect((err as GlanceConnectorError).image).toBe('img-1');
  expect(sha512File(path)).toBe(before);
  expect(files(scratch)).toEqual([]);
  return err as GlanceConnectorError;
}

describe('the sandbox', () => {
  it('is bubblewrap when it is installed', () => {
    expect(sandbox.kind).toBe(hasBwrap() ? 'bwrap' : 'prlimit');
  });

  it('shows a tool no host file but its input, and no network', async () => {
    const limits = { addressSpaceBytes: 1 << 30, cpuSeconds: 10, fileSizeBytes: MiB, wallClockMs: 60_000 };
    const inside = await sandbox.run({ inputs: [raw], limits }, (p) => ['/usr/bin/head', '-c', '16', p(raw)]);
    expect(inside.code).toBe(0);
    expect(Buffer.from(inside.stdout, 'latin1').length).toBeGreaterThan(0);
    const host = await sandbox.run({ limits }, () => ['/usr/bin/cat', '/etc/passwd']);
    const net = await sandbox.run({ limits }, () => ['/usr/bin/cat', '/proc/net/dev']);
    if (sandbox.kind === 'bwrap') {
      expect(host.code).not.toBe(0);
      // Only the loopback device exists in the new network namespace.
      expect(net.stdout).not.toMatch(/eth|ens|enp|veth/);
    } else {
      expect(host.code).toBe(0);
    }
  });

  it('stops a tool at the file size limit', async () => {
    const out = join(scratch, 'big');
    const fd = openSync(out, 'w');
    try {
      const r = await sandbox.run(
        {
          stdout: fd,
          limits: { addressSpaceBytes: 1 << 30, cpuSeconds: 10, fileSizeBytes: MiB, wallClockMs: 60_000 },
        },
        () => ['/usr/bin/head', '-c', String(4 * MiB), '/dev/zero'],
      );
      expect(r.signal).toBe('SIGXFSZ');
    } finally {
      closeSync(fd);
      rmSync(out);
    }
  });
});

describe('prepareImage: images that pass', () => {
  it('uploads a raw image as cached: no copy, no conversion', async () => {
    const p = await prepareImage({ path: raw, identifier: 'a', declaredFormat: 'RAW' }, opts());
    expect(p).toMatchObject({
      path: raw,
      diskFormat: 'raw',
      virtualSize: 2 * MiB,
      size: 2 * MiB,
      transformed: false,
      steps: [],
      sandbox: hasBwrap() ? 'bwrap' : 'prlimit',
    });
    await p.cleanup();
    expect(files(scratch)).toEqual([]);
  });

  it('keeps a qcow2 the site takes, converts it for a site that wants raw', async () => {
    const kept = await prepareImage({ path: qcow2, identifier: 'q', declaredFormat: 'QCOW2' }, opts());
    expect(kept).toMatchObject({
      path: qcow2,
      diskFormat: 'qcow2',
      virtualSize: 2 * MiB,
      transformed: false,
    });
    await kept.cleanup();
    const conv = await prepareImage(
      { path: qcow2, identifier: 'q', declaredFormat: 'qcow2' },
      opts({ formats: ['raw'] }),
    );
    try {
      expect(conv).toMatchObject({
        diskFormat: 'raw',
        virtualSize: 2 * MiB,
        transformed: true,
        steps: ['convert qcow2 → raw'],
      });
      expect(conv.path.startsWith(scratch)).toBe(true);
      expect(sha512File(conv.path)).toBe(sha512File(raw));
    } finally {
      await conv.cleanup();
    }
    expect(files(scratch)).toEqual([]);
  });

  for (const tool of ['gzip', 'bzip2', 'xz', 'zstd'] as const) {
    it(`decompresses ${tool}`, async () => {
      const packed = compress(tool, raw);
      const declared = { gzip: 'raw.gz', bzip2: 'raw.bz2', xz: 'RAW.xz', zstd: 'raw.zst' }[tool];
      const p = await prepareImage({ path: packed, identifier: tool, declaredFormat: declared }, opts());
      try {
        expect(p).toMatchObject({
          diskFormat: 'raw',
          transformed: true,
          steps: [`${tool} -d`],
          detected: { compression: tool },
        });
        expect(sha512File(p.path)).toBe(sha512File(raw));
      } finally {
        await p.cleanup();
      }
    });
  }

  it('takes the single disk of an OVA (streamOptimized VMDK) and converts it', async () => {
    const d = join(dir, 'ova-one');
    mkdirSync(d);
    run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized',
      raw,
      join(d, 'disk1.vmdk'),
    ]);
    const archive = ova(d, join(dir, 'one.ova'), ['disk1.vmdk']);
    const p = await prepareImage(
      { path: archive, identifier: 'ova', declaredFormat: 'OVA' },
      opts({ formats: ['qcow2'] }),
    );
    try {
      expect(p).toMatchObject({
        diskFormat: 'qcow2',
        virtualSize: 2 * MiB,
        transformed: true,
        detected: { archive: 'ova', disk: 'vmdk' },
      });
      expect(p.steps).toEqual(['ova: disk1.vmdk', 'convert vmdk → qcow2']);
      const back = join(dir, 'back.raw');
      run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', p.path, back]);
      expect(sha512File(back)).toBe(sha512File(raw));
    } finally {
      await p.cleanup();
    }
    const gz = compress('gzip', archive);
    const q = await prepareImage({ path: gz, identifier: 'ova', declaredFormat: 'ova.gz' }, opts());
    expect(q).toMatchObject({
      diskFormat: 'vmdk',
      detected: { compression: 'gzip', archive: 'ova', disk: 'vmdk' },
    });
    await q.cleanup();
  });
});

describe('prepareImage: refusals', () => {
  it('a qcow2 with a backing file', async () => {
    const evil = join(dir, 'backing.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', '-b', '/etc/passwd', '-F', 'raw', evil, '1M']);
    const e = await refused(evil, 'qcow2', 'ERR_GLANCE_BACKING_FILE');
    expect(e.message).toContain('/etc/passwd');
  });

  it('a qcow2 with an external data file (CVE-2024-32498)', async () => {
    const evil = join(dir, 'datafile.qcow2');
    run('qemu-img', [
      'create',
      '-f',
      'qcow2',
      '-o',
      `data_file=${join(dir, 'datafile.raw')},data_file_raw=on`,
      evil,
      '1M',
    ]);
    const e = await refused(evil, 'qcow2', 'ERR_GLANCE_DATA_FILE');
    expect(e.message).toContain('datafile.raw');
  });

  it('VMDK descriptors with extents', async () => {
    for (const sub of ['twoGbMaxExtentSparse', 'monolithicFlat']) {
      const d = join(dir, `vmdk-${sub}`);
      mkdirSync(d);
      run('qemu-img', ['create', '-f', 'vmdk', '-o', `subformat=${sub}`, join(d, 'disk.vmdk'), '8M']);
      await refused(join(d, 'disk.vmdk'), 'vmdk', 'ERR_GLANCE_VMDK_EXTENTS');
    }
  });

  it('a virtual size over the cap', async () => {
    const huge = join(dir, 'huge.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', huge, '2T']);
    await refused(huge, 'qcow2', 'ERR_GLANCE_VIRTUAL_SIZE');
    const hugeVmdk = join(dir, 'huge.vmdk');
    run('qemu-img', ['create', '-f', 'vmdk', hugeVmdk, '2T']);
    await refused(hugeVmdk, 'vmdk', 'ERR_GLANCE_VIRTUAL_SIZE');
  });

  it('content that is not the hv:format', async () => {
    const e = await refused(qcow2, 'raw', 'ERR_GLANCE_FORMAT_MISMATCH');
    expect(e).toMatchObject({ detected: 'qcow2', declared: 'raw' });
    await refused(raw, 'QCOW2', 'ERR_GLANCE_FORMAT_MISMATCH');
    await refused(compress('gzip', qcow2), 'qcow2', 'ERR_GLANCE_FORMAT_MISMATCH');
    await refused(raw, 'OVA', 'ERR_GLANCE_FORMAT_MISMATCH');
  });

  it('unknown formats and compressions', async () => {
    await refused(raw, 'cpio.bz2', 'ERR_GLANCE_FORMAT_UNSUPPORTED');
    await refused(raw, 'raw.zip', 'ERR_GLANCE_COMPRESSION_UNSUPPORTED');
    const lz4 = join(dir, 'disk.lz4');
    writeFileSync(
      lz4,
      Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), readFileSync(raw).subarray(0, 4096)]),
    );
    await refused(lz4, 'raw', 'ERR_GLANCE_COMPRESSION_UNSUPPORTED');
    const twice = compress('gzip', compress('xz', raw));
    await refused(twice, 'raw.gz', 'ERR_GLANCE_COMPRESSION_UNSUPPORTED');
  });

  it('corrupt and exploding compressed data', async () => {
    const corrupt = join(dir, 'corrupt.gz');
    writeFileSync(
      corrupt,
      Buffer.concat([readFileSync(compress('gzip', raw)).subarray(0, 4096), Buffer.alloc(4096, 7)]),
    );
    await refused(corrupt, 'raw.gz', 'ERR_GLANCE_DECOMPRESSION');
    const zeros = join(dir, 'zeros.raw');
    writeFileSync(zeros, Buffer.alloc(64 * MiB));
    const bomb = compress('xz', zeros);
    await refused(bomb, 'raw.xz', 'ERR_GLANCE_TOO_LARGE', { maxFileSize: 8 * MiB });
  });

  it('OVAs without exactly one disk, and broken archives', async () => {
    const d = join(dir, 'ova-two');
    mkdirSync(d);
    run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized',
      raw,
      join(d, 'a.vmdk'),
    ]);
    run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized',
      raw,
      join(d, 'b.vmdk'),
    ]);
    await refused(ova(d, join(dir, 'two.ova'), ['a.vmdk', 'b.vmdk']), 'ova', 'ERR_GLANCE_OVA_DISKS');
    await refused(ova(d, join(dir, 'none.ova'), []), 'ova', 'ERR_GLANCE_OVA_DISKS');
    const whole = readFileSync(ova(d, join(dir, 'cut.ova'), ['a.vmdk']));
    const cut = join(dir, 'cut-short.ova');
    writeFileSync(cut, whole.subarray(0, 4096));
    await refused(cut, 'ova', 'ERR_GLANCE_OVA_INVALID');
  });

  it('a conversion that hits the file size limit', async () => {
    const big = join(dir, 'sparse.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', big, '64M']);
    await refused(big, 'qcow2', 'ERR_GLANCE_CONVERSION', {
      formats: ['raw'] as DiskFormat[],
      maxFileSize: 8 * MiB,
    });
  });
});
