// What a list says an image is (`hv:format`) and what its bytes say it is (magic numbers), as plain values.
import { GlanceConnectorError } from '../errors.js';

/** Disk formats by their Glance `disk_format` names (qemu calls vhd `vpc`). */
export type DiskFormat = 'raw' | 'qcow2' | 'vmdk' | 'vdi' | 'vhd' | 'vhdx' | 'iso';
export const DISK_FORMATS: readonly DiskFormat[] = ['raw', 'qcow2', 'vmdk', 'vdi', 'vhd', 'vhdx', 'iso'];
export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** The qemu-img driver for a disk format (`-f`, `-O`). ISO images are raw to qemu. */
export function qemuFormat(format: DiskFormat): string {
  if (format === 'vhd') return 'vpc';
  if (format === 'iso') return 'raw';
  return format;
}

export interface DeclaredFormat {
  /** The value as published. */
  text: string;
  disk?: DiskFormat;
  /** An OVA (or plain tar) wrapping the disk. */
  archive?: 'ova';
  compression?: Compression;
}

const DISK_TOKENS: Record<string, DiskFormat> = {
  raw: 'raw',
  img: 'raw',
  // A file-system image is raw bytes to qemu and Glance.
  ext2: 'raw',
  ext3: 'raw',
  ext4: 'raw',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vdi: 'vdi',
  vhd: 'vhd',
  vpc: 'vhd',
  vhdx: 'vhdx',
  iso: 'iso',
};
const COMPRESSION_TOKENS: Record<string, Compression> = {
  gz: 'gzip',
  gzip: 'gzip',
  tgz: 'gzip',
  bz2: 'bzip2',
  bzip2: 'bzip2',
  xz: 'xz',
  zst: 'zstd',
  zstd: 'zstd',
};
const UNSUPPORTED_COMPRESSION = new Set(['zip', 'lz4', '7z', 'rar', 'lzma', 'z', 'lz', 'lzo', 'br']);

/**
 * `hv:format` read as disk format, archive and compression: `QCOW2`, `raw.gz`, `OVA`, `vmdk.xz`, `tar.gz`, …
 * (case-insensitive, `.`-separated in any order). Undefined when the list has none.
 */
export function parseDeclaredFormat(value: unknown, image?: string): DeclaredFormat | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = String(value);
  const out: DeclaredFormat = { text };
  for (const raw of text
    .toLowerCase()
    .trim()
    .split(/[.\s]+/)) {
    if (raw === '') continue;
    if (raw === 'tgz') out.archive = 'ova';
    if (DISK_TOKENS[raw]) out.disk = DISK_TOKENS[raw];
    else if (COMPRESSION_TOKENS[raw]) out.compression = COMPRESSION_TOKENS[raw];
    else if (raw === 'ova' || raw === 'tar' || raw === 'ovf') out.archive = 'ova';
    else if (UNSUPPORTED_COMPRESSION.has(raw))
      throw new GlanceConnectorError(
        'ERR_GLANCE_COMPRESSION_UNSUPPORTED',
        `hv:format ${text}: ${raw} is not supported`,
        {
          declared: text,
          ...(image ? { image } : {}),
        },
      );
    else
      throw new GlanceConnectorError(
        'ERR_GLANCE_FORMAT_UNSUPPORTED',
        `hv:format ${text}: unknown format ${raw}`,
        {
          declared: text,
          ...(image ? { image } : {}),
        },
      );
  }
  return out;
}

/** What the first bytes (and the last 512, for a fixed VHD) of a file are. */
export type ContentKind =
  | { kind: 'compressed'; compression: Compression }
  | { kind: 'unsupported-compression'; name: string }
  | { kind: 'tar' }
  | { kind: 'disk'; format: DiskFormat }
  | { kind: 'unsupported-disk'; name: string }
  | { kind: 'vmdk-descriptor' };

function at(buf: Uint8Array, offset: number, bytes: number[]): boolean {
  if (buf.length < offset + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buf[offset + i] !== bytes[i]) return false;
  return true;
}
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** Bytes of the head of a file `detectContent` needs (the ISO 9660 descriptor is at 32 769). */
export const HEAD_BYTES = 65_536;

/**
 * The content type from magic numbers. `head` is the start of the file (up to HEAD_BYTES), `tail` its last
 * 512 bytes. Anything without a known signature is raw.
 */
export function detectContent(head: Uint8Array, tail: Uint8Array = new Uint8Array()): ContentKind {
  if (at(head, 0, [0x1f, 0x8b])) return { kind: 'compressed', compression: 'gzip' };
  if (at(head, 0, ascii('BZh')) && head[3] >= 0x31 && head[3] <= 0x39)
    return { kind: 'compressed', compression: 'bzip2' };
  if (at(head, 0, [0xfd, ...ascii('7zXZ'), 0x00])) return { kind: 'compressed', compression: 'xz' };
  if (at(head, 0, [0x28, 0xb5, 0x2f, 0xfd])) return { kind: 'compressed', compression: 'zstd' };
  if (at(head, 0, [0x50, 0x4b, 0x03, 0x04])) return { kind: 'unsupported-compression', name: 'zip' };
  if (at(head, 0, [0x04, 0x22, 0x4d, 0x18])) return { kind: 'unsupported-compression', name: 'lz4' };
  if (at(head, 0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]))
    return { kind: 'unsupported-compression', name: '7z' };
  if (at(head, 0, ascii('Rar!'))) return { kind: 'unsupported-compression', name: 'rar' };
  if (at(head, 0, ascii('LZIP'))) return { kind: 'unsupported-compression', name: 'lzip' };
  if (at(head, 0, [0x1f, 0x9d])) return { kind: 'unsupported-compression', name: 'compress' };
  if (at(head, 257, ascii('ustar'))) return { kind: 'tar' };
  if (at(head, 0, [0x51, 0x46, 0x49, 0xfb])) return { kind: 'disk', format: 'qcow2' };
  if (at(head, 0, [0x51, 0x46, 0x49, 0x00]) || at(head, 0, ascii('QFI')))
    return { kind: 'unsupported-disk', name: 'qcow' };
  if (at(head, 0, ascii('KDMV'))) return { kind: 'disk', format: 'vmdk' };
  if (at(head, 0, ascii('COWD'))) return { kind: 'unsupported-disk', name: 'vmdk (ESX COWD)' };
  if (at(head, 0, ascii('# Disk DescriptorFile'))) return { kind: 'vmdk-descriptor' };
  if (at(head, 0x40, [0x7f, 0x10, 0xda, 0xbe])) return { kind: 'disk', format: 'vdi' };
  if (at(head, 0, ascii('vhdxfile'))) return { kind: 'disk', format: 'vhdx' };
  if (at(head, 0, ascii('conectix')) || at(tail, 0, ascii('conectix')))
    return { kind: 'disk', format: 'vhd' };
  if (at(head, 0, ascii('QED\0'))) return { kind: 'unsupported-disk', name: 'qed' };
  if (at(head, 0, ascii('WithoutFreeSpace')) || at(head, 0, ascii('WithouFreSpacExt')))
    return { kind: 'unsupported-disk', name: 'parallels' };
  if (at(head, 0, [...ascii('LUKS'), 0xba, 0xbe])) return { kind: 'unsupported-disk', name: 'luks' };
  if (at(head, 0x8001, ascii('CD001'))) return { kind: 'disk', format: 'iso' };
  return { kind: 'disk', format: 'raw' };
}

/** What a qcow2 header says before qemu-img ever opens the file. */
export interface Qcow2Header {
  version: number;
  virtualSize: number;
  backingFile?: string;
  /** Set when the image keeps its data in another file (incompatible feature bit 2 or the DATA extension). */
  dataFile?: string | true;
  encrypted: boolean;
}

/**
 * Parses the qcow2 header (big-endian, qcow2 spec §Header and §Header extensions) from the first bytes of the
 * file. The backing file name is read only when it lies within `head`.
 */
export function parseQcow2Header(head: Uint8Array): Qcow2Header {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 72) throw new GlanceConnectorError('ERR_GLANCE_PROBE', 'qcow2 header truncated');
  const version = v.getUint32(4);
  const backingOffset = Number(v.getBigUint64(8));
  const backingSize = v.getUint32(16);
  const virtualSize = Number(v.getBigUint64(24));
  const encrypted = v.getUint32(32) !== 0;
  const out: Qcow2Header = { version, virtualSize, encrypted };
  if (backingOffset !== 0) {
    out.backingFile =
      backingOffset + backingSize <= head.length && backingSize > 0
        ? Buffer.from(head.subarray(backingOffset, backingOffset + backingSize)).toString('utf8')
        : '(beyond the header)';
  }
  let extensions = 72;
  if (version >= 3 && head.length >= 104) {
    const incompatible = v.getBigUint64(72);
    if (incompatible & 4n) out.dataFile = true;
    extensions = v.getUint32(100);
  }
  // Header extensions: type, length, data padded to 8 bytes, until type 0.
  for (let i = 0; i < 64 && extensions + 8 <= head.length; i++) {
    const type = v.getUint32(extensions);
    const length = v.getUint32(extensions + 4);
    if (type === 0) break;
    if (type === 0x44415441 /* 'DATA': external data file name */) {
      out.dataFile =
        extensions + 8 + length <= head.length
          ? Buffer.from(head.subarray(extensions + 8, extensions + 8 + length)).toString('utf8')
          : true;
    }
    extensions += 8 + Math.ceil(length / 8) * 8;
  }
  return out;
}

/** What a sparse VMDK header (`KDMV`, little-endian) and its embedded descriptor say. */
export interface VmdkSparseHeader {
  virtualSize: number;
  descriptorOffset: number;
  descriptorSize: number;
}

export function parseVmdkSparseHeader(head: Uint8Array): VmdkSparseHeader {
  if (head.length < 44) throw new GlanceConnectorError('ERR_GLANCE_PROBE', 'vmdk header truncated');
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return {
    virtualSize: Number(v.getBigUint64(12, true)) * 512,
    descriptorOffset: Number(v.getBigUint64(28, true)) * 512,
    descriptorSize: Number(v.getBigUint64(36, true)) * 512,
  };
}

export interface VmdkDescriptor {
  createType?: string;
  extents: { access: string; sectors: number; type: string; file?: string }[];
}

/** The `createType` and extent lines of a VMDK descriptor text. */
export function parseVmdkDescriptor(text: string): VmdkDescriptor {
  const out: VmdkDescriptor = { extents: [] };
  for (const line of text.split(/\r?\n/)) {
    const l = line.replace(/\0+$/, '').trim();
    const ct = /^createType\s*=\s*"([^"]*)"/i.exec(l);
    if (ct) out.createType = ct[1];
    const ex = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)")?/i.exec(l);
    if (ex) {
      out.extents.push({
        access: ex[1],
        sectors: Number(ex[2]),
        type: ex[3].toUpperCase(),
        ...(ex[4] !== undefined ? { file: ex[4] } : {}),
      });
    }
  }
  return out;
}

/** The single-file VMDK subformats (Glance's `vmdk_allowed_types`): every other one names other files. */
export const SINGLE_FILE_VMDK = new Set(['monolithicSparse', 'streamOptimized']);
