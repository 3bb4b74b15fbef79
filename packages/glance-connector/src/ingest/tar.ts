// A small tar reader for OVA archives: reads the headers (ustar, GNU long names, pax) with positioned reads
// and copies one member's bytes out. Member names are never used as paths on this machine.
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { GlanceConnectorError } from '../errors.js';

export interface TarMember {
  name: string;
  /** The ustar type flag: `0` file, `5` directory, `2` symlink, … */
  type: string;
  size: number;
  /** Where the member's data starts in the archive. */
  offset: number;
}

const BLOCK = 512;

function invalid(message: string, path: string): GlanceConnectorError {
  return new GlanceConnectorError('ERR_GLANCE_OVA_INVALID', `OVA ${message}`, { path });
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return Buffer.from(end === -1 ? b : b.subarray(0, end)).toString('utf8');
}

function octal(b: Uint8Array, path: string): number {
  // GNU base-256 for sizes of 8 GiB and more: the high bit of the first byte is set.
  if (b[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n + (b[0] & 0x3f) * 256 ** (b.length - 1);
  }
  const s = cString(b).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw invalid(`header field ${JSON.stringify(s)} is not octal`, path);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Uint8Array, path: string): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === octal(h.subarray(148, 156), path);
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = Number(data.subarray(i, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) break;
    const rec = data.subarray(space + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** The members of a tar archive. `ERR_GLANCE_OVA_INVALID` for a malformed or truncated archive. */
export async function listTar(path: string, maxMembers = 10_000): Promise<TarMember[]> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const members: TarMember[] = [];
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let pax: Record<string, string> = {};
    let globalPax: Record<string, string> = {};
    for (let n = 0; n < maxMembers * 4; n++) {
      if (pos + BLOCK > size) throw invalid('is truncated (no end-of-archive blocks)', path);
      await fh.read(header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) return members;
      if (!checksumOk(header, path)) throw invalid(`header at ${pos} has a bad checksum`, path);
      const type = String.fromCharCode(header[156] || 0x30);
      let memberSize = octal(header.subarray(124, 136), path);
      const dataOffset = pos + BLOCK;
      if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
        if (memberSize > 1 << 20) throw invalid('has an oversized extended header', path);
        if (dataOffset + memberSize > size) throw invalid('is truncated', path);
        const data = Buffer.alloc(memberSize);
        await fh.read(data, 0, memberSize, dataOffset);
        if (type === 'x') pax = paxRecords(data);
        else if (type === 'g') globalPax = { ...globalPax, ...paxRecords(data) };
        else if (type === 'L') longName = cString(data);
        pos = dataOffset + Math.ceil(memberSize / BLOCK) * BLOCK;
        continue;
      }
      if (type === 'S') throw invalid('has a GNU sparse member, which is not supported', path);
      const magic = header.subarray(257, 262).toString('ascii');
      const prefix = magic === 'ustar' ? cString(header.subarray(345, 500)) : '';
      let name = cString(header.subarray(0, 100));
      if (prefix) name = `${prefix}/${name}`;
      const attrs = { ...globalPax, ...pax };
      if (attrs.path) name = attrs.path;
      if (longName !== undefined) name = longName;
      if (attrs.size !== undefined) {
        if (!/^\d+$/.test(attrs.size)) throw invalid('has a bad pax size', path);
        memberSize = Number(attrs.size);
      }
      // Only files carry data in the archive; links and directories have none whatever the header says.
      const dataSize = type === '0' || type === '7' || type === '\0' ? memberSize : 0;
      if (dataOffset + dataSize > size) throw invalid(`member ${JSON.stringify(name)} is truncated`, path);
      members.push({ name, type, size: dataSize, offset: dataOffset });
      if (members.length > maxMembers) throw invalid(`has more than ${maxMembers} members`, path);
      longName = undefined;
      pax = {};
      pos = dataOffset + Math.ceil(dataSize / BLOCK) * BLOCK;
    }
    throw invalid('has too many headers', path);
  } finally {
    await fh.close();
  }
}

/** Copies a member's bytes into `out` (created exclusively). */
export async function extractMember(archive: string, member: TarMember, out: string): Promise<void> {
  const source =
    member.size === 0
      ? createReadStream(archive, { start: 0, end: -1 })
      : createReadStream(archive, { start: member.offset, end: member.offset + member.size - 1 });
  await pipeline(source, createWriteStream(out, { flags: 'wx', mode: 0o600 }));
}

const DESCRIPTOR = /\.(ovf|mf|cert|crt|pem|xml|nvram|txt|json|sha1|sha256|sha512|md5|sig|asc)$/i;

/** The OVA members that are disks: regular files that are not descriptors, manifests or certificates. */
export function diskMembers(members: TarMember[]): TarMember[] {
  return members.filter(
    (m) =>
      (m.type === '0' || m.type === '7' || m.type === '\0') &&
      !DESCRIPTOR.test(m.name) &&
      !m.name.endsWith('/'),
  );
}
