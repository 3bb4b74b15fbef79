// Safe ingestion: before any byte of a publisher's image reaches Glance, find out what it really is (magic
// numbers, the qcow2/VMDK headers, `qemu-img info` in the sandbox), compare that with the list's hv:format,
// refuse what can make a hypervisor or Glance read other files (backing files, external data files, VMDK
// extents) or exhaust the host (virtual size, decompression bombs), unwrap compression and OVA, and convert
// to a format the site wants. Everything written goes to one scratch directory removed after use.
import { constants } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@hepix/common';
import { GlanceConnectorError, type GlanceErrorCode } from '../errors.js';
import {
  type Compression,
  type DeclaredFormat,
  type DiskFormat,
  detectContent,
  HEAD_BYTES,
  parseDeclaredFormat,
  parseQcow2Header,
  parseVmdkDescriptor,
  parseVmdkSparseHeader,
  qemuFormat,
  SINGLE_FILE_VMDK,
} from './formats.js';
import { findExecutable, type ResourceLimits, type Sandbox, type SandboxResult } from './sandbox.js';
import { diskMembers, extractMember, listTar } from './tar.js';

export interface IngestOptions {
  /** Where decompressed, extracted and converted files go (one private directory per image, removed after). */
  scratchDir: string;
  /** The Glance disk formats the site wants, preferred first; an image in another format is converted to the first. */
  formats: readonly DiskFormat[];
  /** Largest virtual size accepted (bytes). */
  maxVirtualSize: number;
  /** Largest file a decompression, extraction or conversion may write (default maxVirtualSize + 1 GiB). */
  maxFileSize?: number;
  /** Resource limits of each tool. */
  limits?: Partial<Omit<ResourceLimits, 'fileSizeBytes'>>;
  sandbox: Sandbox;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface IngestInput {
  /** The verified cache file. */
  path: string;
  /** For messages and error context. */
  identifier: string;
  /** The list's `hv:format` (any case; `raw.gz`, `OVA`, …). */
  declaredFormat?: unknown;
}

export interface PreparedImage {
  /** The file to upload: the cache file itself when nothing had to change. */
  path: string;
  diskFormat: DiskFormat;
  containerFormat: 'bare';
  virtualSize: number;
  /** Bytes of `path`. */
  size: number;
  /** True when `path` is not the cache file (decompressed, extracted from an OVA or converted). */
  transformed: boolean;
  /** What was found: the outer compression, an OVA, the disk format of the content. */
  detected: { compression?: Compression; archive?: 'ova'; innerCompression?: Compression; disk: DiskFormat };
  /** What was done, in order: `gzip -d`, `ova: disk.vmdk`, `convert vmdk → qcow2`. */
  steps: string[];
  /** How the tools ran. */
  sandbox: Sandbox['kind'];
  /** Removes the scratch files (never the cache file). */
  cleanup(): Promise<void>;
}

const GiB = 1024 ** 3;
const DEFAULT_LIMITS = { addressSpaceBytes: 4 * GiB, cpuSeconds: 3600, wallClockMs: 2 * 3600_000 };

async function readHeadTail(path: string): Promise<{ head: Buffer; tail: Buffer; size: number }> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await fh.read(head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(512, size));
    await fh.read(tail, 0, tail.length, Math.max(0, size - 512));
    return { head, tail, size };
  } finally {
    await fh.close();
  }
}

async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const b = Buffer.alloc(length);
    const { bytesRead } = await fh.read(b, 0, length, offset);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const human = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${n} bytes`);

/** The format facts a refusal reports. */
function refuse(
  code: GlanceErrorCode,
  message: string,
  input: IngestInput,
  extra: { detected?: string; declared?: string; cause?: unknown } = {},
): GlanceConnectorError {
  return new GlanceConnectorError(code, `${input.identifier}: ${message}`, {
    image: input.identifier,
    ...extra,
  });
}

function tooLarge(r: SandboxResult): boolean {
  return r.signal === 'SIGXFSZ' || /file too large|file size limit/i.test(r.stderr);
}

/** The qemu-img info JSON fields the checks read. */
interface QemuInfo {
  format?: string;
  'virtual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type?: string; data?: Record<string, unknown> };
}

/**
 * Makes an image safe to give to Glance, or refuses it with its own code. See the module comment; the caller
 * uploads `path` and calls `cleanup()` (on success and failure).
 */
export async function prepareImage(input: IngestInput, options: IngestOptions): Promise<PreparedImage> {
  const log = options.log ?? (() => {});
  const maxFile = options.maxFileSize ?? options.maxVirtualSize + GiB;
  const limits: Omit<ResourceLimits, 'fileSizeBytes'> = { ...DEFAULT_LIMITS, ...options.limits };
  const sandbox = options.sandbox;
  const declared: DeclaredFormat | undefined = parseDeclaredFormat(input.declaredFormat, input.identifier);
  const qemuImg = await findExecutable('qemu-img', options.env);
  if (!qemuImg)
    throw new GlanceConnectorError('ERR_GLANCE_SANDBOX', 'qemu-img (qemu-utils) is not installed');

  const work = await mkdtemp(join(options.scratchDir, 'ingest-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  try {
    let current = input.path;
    const steps: string[] = [];
    const detected: PreparedImage['detected'] = { disk: 'raw' };
    let stage = 0;

    const decompress = async (compression: Compression): Promise<void> => {
      const tool = { gzip: 'gzip', bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' }[compression];
      const exe = await findExecutable(tool, options.env);
      if (!exe)
        throw refuse(
          'ERR_GLANCE_COMPRESSION_UNSUPPORTED',
          `${compression} data but ${tool} is not installed`,
          input,
        );
      const out = join(work, `stage-${++stage}`);
      const inFh = await open(current, constants.O_RDONLY);
      const outFh = await open(out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      let r: SandboxResult;
      try {
        // The decompressor reads and writes file descriptors only: it sees no path of this machine.
        r = await sandbox.run(
          { stdin: inFh.fd, stdout: outFh.fd, limits: { ...limits, fileSizeBytes: maxFile } },
          () => [exe, '-dc'],
        );
      } finally {
        await inFh.close();
        await outFh.close();
      }
      if (r.code !== 0) {
        if (tooLarge(r))
          throw refuse('ERR_GLANCE_TOO_LARGE', `${compression} data expands past ${human(maxFile)}`, input);
        throw refuse(
          'ERR_GLANCE_DECOMPRESSION',
          `${compression} data is corrupt: ${r.stderr.trim() || r.signal || `exit ${r.code}`}`,
          input,
        );
      }
      if ((await stat(out)).size > maxFile)
        throw refuse('ERR_GLANCE_TOO_LARGE', `${compression} data expands past ${human(maxFile)}`, input);
      steps.push(`${tool} -d`);
      current = out;
    };

    // Unwrap: at most one compression outside an OVA and one around its disk.
    for (;;) {
      const { head, tail } = await readHeadTail(current);
      const kind = detectContent(head, tail);
      if (kind.kind === 'compressed') {
        if (detected.archive ? detected.innerCompression : detected.compression)
          throw refuse('ERR_GLANCE_COMPRESSION_UNSUPPORTED', `nested ${kind.compression} compression`, input);
        if (detected.archive) detected.innerCompression = kind.compression;
        else detected.compression = kind.compression;
        await decompress(kind.compression);
        continue;
      }
      if (kind.kind === 'unsupported-compression')
        throw refuse(
          'ERR_GLANCE_COMPRESSION_UNSUPPORTED',
          `${kind.name} compression is not supported`,
          input,
          {
            detected: kind.name,
          },
        );
      if (kind.kind === 'tar') {
        if (detected.archive) throw refuse('ERR_GLANCE_OVA_INVALID', 'an archive inside the OVA', input);
        detected.archive = 'ova';
        const members = await listTar(current).catch((err) => {
          throw err instanceof GlanceConnectorError
            ? new GlanceConnectorError(err.code, `${input.identifier}: ${err.message}`, {
                image: input.identifier,
              })
            : err;
        });
        const disks = diskMembers(members);
        if (disks.length !== 1)
          throw refuse(
            'ERR_GLANCE_OVA_DISKS',
            `the OVA holds ${disks.length} disks (${disks.map((d) => JSON.stringify(d.name)).join(', ') || 'none'}); exactly one is needed`,
            input,
          );
        const out = join(work, `stage-${++stage}`);
        await extractMember(current, disks[0], out);
        steps.push(`ova: ${disks[0].name}`);
        current = out;
        continue;
      }
      if (kind.kind === 'vmdk-descriptor')
        throw refuse(
          'ERR_GLANCE_VMDK_EXTENTS',
          'a VMDK descriptor file: its data is in other files (extents)',
          input,
          {
            detected: 'vmdk',
          },
        );
      if (kind.kind === 'unsupported-disk')
        throw refuse('ERR_GLANCE_FORMAT_UNSUPPORTED', `${kind.name} images are not supported`, input, {
          detected: kind.name,
        });
      detected.disk = kind.format;
      break;
    }

    // The list's word against the content's.
    const found = [detected.compression, detected.archive, detected.innerCompression, detected.disk]
      .filter(Boolean)
      .join('+');
    let disk = detected.disk;
    if (!declared) {
      log('warn', `${input.identifier}: no hv:format in the list; the content is ${found}`, {
        image: input.identifier,
      });
    } else {
      const mismatch = (what: string) =>
        refuse(
          'ERR_GLANCE_FORMAT_MISMATCH',
          `hv:format ${declared.text} but the content is ${found} (${what})`,
          input,
          {
            detected: found,
            declared: declared.text,
          },
        );
      // Compression inside an OVA is the OVF's business; hv:format describes the published file.
      if (declared.compression !== detected.compression) throw mismatch('compression');
      if (Boolean(declared.archive) !== Boolean(detected.archive)) throw mismatch('archive');
      // An OVA's hv:format rarely names the disk inside; when it does, it must match.
      if (declared.disk && declared.disk !== detected.disk) {
        // An ISO is raw bytes: a list may call it raw.
        if (!(declared.disk === 'raw' && detected.disk === 'iso')) throw mismatch('disk format');
        disk = 'raw';
      }
      if (!declared.disk && !declared.archive) throw mismatch('no disk format declared');
    }

    // Our own reading of the headers, before qemu-img opens anything.
    const { head } = await readHeadTail(current);
    if (detected.disk === 'qcow2') {
      const h = parseQcow2Header(head);
      if (h.backingFile !== undefined)
        throw refuse(
          'ERR_GLANCE_BACKING_FILE',
          `qcow2 with a backing file (${JSON.stringify(h.backingFile)})`,
          input,
        );
      if (h.dataFile !== undefined)
        throw refuse(
          'ERR_GLANCE_DATA_FILE',
          `qcow2 with an external data file${typeof h.dataFile === 'string' ? ` (${JSON.stringify(h.dataFile)})` : ''}`,
          input,
        );
      if (h.encrypted) throw refuse('ERR_GLANCE_FORMAT_UNSUPPORTED', 'an encrypted qcow2 image', input);
      if (h.virtualSize > options.maxVirtualSize)
        throw refuse(
          'ERR_GLANCE_VIRTUAL_SIZE',
          `virtual size ${human(h.virtualSize)} is over ${human(options.maxVirtualSize)}`,
          input,
        );
    }
    if (detected.disk === 'vmdk') {
      const h = parseVmdkSparseHeader(head);
      if (h.virtualSize > options.maxVirtualSize)
        throw refuse(
          'ERR_GLANCE_VIRTUAL_SIZE',
          `virtual size ${human(h.virtualSize)} is over ${human(options.maxVirtualSize)}`,
          input,
        );
      if (h.descriptorSize > 0) {
        const d = parseVmdkDescriptor(
          (await readRange(current, h.descriptorOffset, Math.min(h.descriptorSize, 1 << 20))).toString(
            'latin1',
          ),
        );
        if (!d.createType || !SINGLE_FILE_VMDK.has(d.createType))
          throw refuse(
            'ERR_GLANCE_VMDK_EXTENTS',
            `VMDK create type ${d.createType ?? '(none)'} keeps data in other files`,
            input,
          );
        if (d.extents.length !== 1 || d.extents[0].type !== 'SPARSE')
          throw refuse('ERR_GLANCE_VMDK_EXTENTS', `VMDK with ${d.extents.length} extents`, input);
      }
    }

    const info = async (path: string, format: string): Promise<QemuInfo> => {
      let inside = '';
      const r = await sandbox.run({ inputs: [path], limits: { ...limits, fileSizeBytes: 1 << 20 } }, (p) => {
        inside = p(path);
        return [qemuImg, 'info', '--output=json', '-f', format, inside];
      });
      if (r.code !== 0)
        throw refuse(
          'ERR_GLANCE_PROBE',
          `qemu-img info failed: ${r.stderr.trim() || r.signal || `exit ${r.code}`}`,
          input,
        );
      let parsed: QemuInfo;
      try {
        parsed = JSON.parse(r.stdout) as QemuInfo;
      } catch (cause) {
        throw refuse('ERR_GLANCE_PROBE', 'qemu-img info gave no JSON', input, { cause });
      }
      // Belt and braces: qemu-img's own view of what the image refers to.
      if (parsed['backing-filename'] || parsed['full-backing-filename'])
        throw refuse(
          'ERR_GLANCE_BACKING_FILE',
          `backing file ${JSON.stringify(parsed['backing-filename'])}`,
          input,
        );
      const data = parsed['format-specific']?.data ?? {};
      if (data['data-file'] !== undefined)
        throw refuse(
          'ERR_GLANCE_DATA_FILE',
          `external data file ${JSON.stringify(data['data-file'])}`,
          input,
        );
      if (parsed['format-specific']?.type === 'vmdk') {
        const createType = String(data['create-type'] ?? '');
        const extents = Array.isArray(data.extents) ? (data.extents as { filename?: string }[]) : [];
        if (
          !SINGLE_FILE_VMDK.has(createType) ||
          extents.some((e) => e.filename !== inside) ||
          extents.length > 1
        )
          throw refuse(
            'ERR_GLANCE_VMDK_EXTENTS',
            `VMDK ${createType} with extents ${extents.map((e) => e.filename).join(', ')}`,
            input,
          );
      }
      const vsize = parsed['virtual-size'];
      if (typeof vsize !== 'number' || !(vsize >= 0))
        throw refuse('ERR_GLANCE_PROBE', 'qemu-img info gave no virtual size', input);
      if (vsize > options.maxVirtualSize)
        throw refuse(
          'ERR_GLANCE_VIRTUAL_SIZE',
          `virtual size ${human(vsize)} is over ${human(options.maxVirtualSize)}`,
          input,
        );
      if (parsed.format !== format)
        throw refuse(
          'ERR_GLANCE_PROBE',
          `qemu-img reads the image as ${parsed.format}, not ${format}`,
          input,
        );
      return parsed;
    };

    const probed = await info(current, qemuFormat(detected.disk));
    let virtualSize = probed['virtual-size'] as number;

    const target: DiskFormat = options.formats.includes(disk) ? disk : options.formats[0];
    if (!target) throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'no disk formats configured');
    if (target !== disk) {
      const out = join(work, `converted.${target}`);
      const r = await sandbox.run(
        { inputs: [current], outputDir: work, limits: { ...limits, fileSizeBytes: maxFile } },
        (p) => [
          qemuImg,
          'convert',
          '-f',
          qemuFormat(detected.disk),
          '-O',
          qemuFormat(target),
          p(current),
          p(out),
        ],
      );
      if (r.code !== 0)
        throw refuse(
          'ERR_GLANCE_CONVERSION',
          `qemu-img convert ${disk} → ${target} failed${tooLarge(r) ? ` (output over ${human(maxFile)})` : ''}: ${r.stderr.trim() || r.signal || `exit ${r.code}`}`,
          input,
        );
      steps.push(`convert ${disk} → ${target}`);
      current = out;
      virtualSize = (await info(current, qemuFormat(target)))['virtual-size'] as number;
      disk = target;
    }
    const size = (await stat(current)).size;
    log(
      'info',
      `${input.identifier}: ${found} → ${disk} (${steps.join(', ') || 'as cached'}; sandbox ${sandbox.kind})`,
      {
        image: input.identifier,
      },
    );
    return {
      path: current,
      diskFormat: disk,
      containerFormat: 'bare',
      virtualSize,
      size,
      transformed: current !== input.path,
      detected,
      steps,
      sandbox: sandbox.kind,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
