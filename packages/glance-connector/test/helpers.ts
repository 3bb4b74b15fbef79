// Shared test fixtures: disks and hostile images made at test time with qemu-img, gzip, bzip2, xz, zstd and
// tar; the real Glance of scripts/start-glance.sh; a sandbox as the connector builds it.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CloudConfig } from '../src/index.js';

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run scripts/start-glance.sh (test/setup/services.ts does)`);
  return v;
}

export function tempDir(prefix = 'hepix-glance-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
}

function sha512(data: Buffer | string): string {
  return createHash('sha512').update(data).digest('hex');
}

export function sha512File(path: string): string {
  return sha512(readFileSync(path));
}

/** A raw disk of random bytes (incompressible, so compressed variants differ from it). */
export function rawDisk(path: string, bytes = 1 << 20): string {
  writeFileSync(path, randomBytes(bytes));
  return path;
}

export function qcow2From(raw: string, out: string): string {
  run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, out]);
  return out;
}

export function compress(tool: 'gzip' | 'bzip2' | 'xz' | 'zstd', file: string): string {
  const ext = { gzip: 'gz', bzip2: 'bz2', xz: 'xz', zstd: 'zst' }[tool];
  const out = `${file}.${ext}`;
  const data = execFileSync(tool, tool === 'zstd' ? ['-q', '-c', file] : ['-c', file], {
    maxBuffer: 1 << 30,
  });
  writeFileSync(out, data);
  return out;
}

/** An OVA: a tar of an OVF descriptor, a manifest and the given disks (in `dir`). */
export function ova(dir: string, out: string, disks: string[]): string {
  writeFileSync(join(dir, 'appliance.ovf'), '<?xml version="1.0"?><Envelope/>\n');
  writeFileSync(join(dir, 'appliance.mf'), 'SHA256(appliance.ovf)= 0\n');
  run('tar', ['--format=ustar', '-cf', out, '-C', dir, 'appliance.ovf', 'appliance.mf', ...disks]);
  return out;
}

export function files(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** The noauth Glance as a cloud configuration. */
export function noauthCloud(url = env('TEST_GLANCE_URL')): CloudConfig {
  return { auth: { type: 'none' }, imageEndpoint: url, interface: 'public', verify: true };
}

export function hasBwrap(): boolean {
  try {
    execFileSync('bwrap', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A unique tag per test, so tests sharing the Glance never see each other's images. */
export function uniqueTag(): string {
  return `vmcatcher-test-${randomBytes(6).toString('hex')}`;
}

/** Images with a tag, straight from Glance's API (not through the code under test). */
export async function glanceImages(
  tag: string,
  url = env('TEST_GLANCE_URL'),
): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${url}/v2/images?tag=${encodeURIComponent(tag)}&visibility=all&limit=1000`);
  if (r.status !== 200) throw new Error(`glance list: ${r.status}`);
  return ((await r.json()) as { images: Record<string, unknown>[] }).images;
}

export async function glanceMembers(id: string, url = env('TEST_GLANCE_URL')): Promise<string[]> {
  const r = await fetch(`${url}/v2/images/${id}/members`);
  return ((await r.json()) as { members: { member_id: string }[] }).members.map((m) => m.member_id).sort();
}
