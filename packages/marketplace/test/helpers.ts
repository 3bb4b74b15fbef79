// Test fixtures: lists written as JSON and signed with `openssl smime` (the image-cache PKI helpers), real
// databases (a SQLite file, or a fresh database on the PostgreSQL of scripts/start-postgres.sh), and a real
// marketplace on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, fmtDate, signWithOpenssl, type TestPki } from '@hepix/test-support';
import { expect, inject } from 'vitest';
import { MarketplaceError } from '../src/index.js';

export { issueCert, makePki, revoke, type TestPki } from '@hepix/test-support';

export const DAY = 86_400_000;
export type Dialect = 'sqlite' | 'postgres';

/** Both dialects; HEPIX_STORE_DIALECTS=sqlite narrows it locally (ignored under CI=true). */
export function dialects(): Dialect[] {
  if (process.env.HEPIX_STORE_DIALECTS === 'sqlite' && process.env.CI !== 'true') return ['sqlite'];
  return ['sqlite', 'postgres'];
}

export function tempDir(prefix = 'hepix-market-'): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A fresh empty database; `dispose` removes it. */
export async function testDatabase(dialect: Dialect): Promise<{ url: string; dispose(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const t = tempDir();
    return { url: `sqlite:///${join(t.dir, 'marketplace.db')}`, dispose: async () => t.dispose() };
  }
  process.env.TEST_POSTGRES_URL ||= inject('TEST_POSTGRES_URL');
  const db = await createTestDatabase('hepix_market');
  return { url: db.url, dispose: db.drop };
}

export interface ImageSpec {
  identifier: string;
  title?: string;
  description?: string;
  os?: string;
  osversion?: string;
  arch?: string;
  hypervisor?: string;
  format?: string;
  size?: number;
  sha512?: string;
  uri?: string;
  version?: string;
  /** Any further keys of the entry (sl:deprecated, sl:locations, dc:date:expires, …). */
  extra?: Record<string, unknown>;
}

export interface ListSpec {
  identifier: string;
  version: string;
  created?: Date;
  expires?: Date;
  title?: string;
  email?: string;
  vo?: string;
  /** Endorser DN and CA written into the list (default: the PKI endorser's). */
  dn?: string;
  ca?: string;
  images: ImageSpec[];
}

export function sha(seed: string): string {
  return Buffer.from(seed).toString('hex').padEnd(128, '0').slice(0, 128);
}

/** The list JSON in vmilisttool's layout (sorted keys, indent 4). */
export function listJson(pki: TestPki, spec: ListSpec): string {
  const now = Date.now();
  const body: Record<string, unknown> = {
    'dc:date:created': fmtDate(spec.created ?? new Date(now - DAY)),
    'dc:date:expires': fmtDate(spec.expires ?? new Date(now + 28 * DAY)),
    'dc:description': `Test list ${spec.identifier}`,
    'dc:identifier': spec.identifier,
    'dc:source': 'https://example.org/',
    'dc:title': spec.title ?? 'Test list',
    'hv:endorser': {
      'hv:x509': {
        'dc:creator': 'Owen Synge',
        'hv:ca': spec.ca ?? pki.endorser.issuer,
        'hv:dn': spec.dn ?? pki.endorser.subject,
        'hv:email': spec.email ?? 'owen@example.org',
      },
    },
    'hv:images': spec.images.map((i) => ({
      'hv:image': {
        'dc:description': i.description ?? `Image ${i.identifier}`,
        'dc:identifier': i.identifier,
        'dc:title': i.title ?? `Image ${i.identifier.slice(0, 8)}`,
        ...(i.format ? { 'hv:format': i.format } : {}),
        'hv:hypervisor': i.hypervisor ?? 'kvm',
        'hv:size': i.size ?? 1024,
        'hv:uri': i.uri ?? `https://example.org/${i.identifier}.img`,
        'hv:version': i.version ?? '1',
        'sl:arch': i.arch ?? 'x86_64',
        'sl:checksum:sha512': i.sha512 ?? sha(i.identifier),
        'sl:comments': '',
        'sl:os': i.os ?? 'Linux',
        'sl:osversion': i.osversion ?? 'SL 6.4',
        ...(i.extra ?? {}),
      },
    })),
    'hv:uri': `https://example.org/${spec.identifier}.list`,
    'hv:version': spec.version,
    ...(spec.vo ? { 'ad:vo': spec.vo } : {}),
  };
  return `${JSON.stringify({ 'hv:imagelist': body }, null, 4)}\n`;
}

/** The list signed with `openssl smime -sign` (detached multipart/signed, as vmcaster publishes). */
export function signedList(
  pki: TestPki,
  spec: ListSpec,
  work: string,
  signer: { cert: string; key: string } = pki.endorser,
): Uint8Array {
  return new Uint8Array(signWithOpenssl(listJson(pki, spec), signer, work));
}

/** A signed list with one byte of the signed content changed (its signature no longer matches). */
export function tampered(data: Uint8Array): Uint8Array {
  const text = Buffer.from(data).toString('latin1');
  const at = text.indexOf('"dc:title": "');
  if (at < 0) throw new Error('no dc:title to tamper with');
  const out = Buffer.from(data);
  out[at + 13] = out[at + 13] === 0x58 ? 0x59 : 0x58;
  return new Uint8Array(out);
}

/** Asserts that `p` rejects with a MarketplaceError of `code`. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<MarketplaceError> {
  const err = await p.then(
    () => {
      throw new Error(`expected ${code}, but it resolved`);
    },
    (e: unknown) => e,
  );
  expect(err, String(err)).toBeInstanceOf(MarketplaceError);
  expect((err as MarketplaceError).code, (err as Error).message).toBe(code);
  return err as MarketplaceError;
}

/** An opaque (`-nodetach`) signature with the openssl CLI, as S/MIME (base64) or DER. */
export function signOpaque(
  pki: TestPki,
  spec: ListSpec,
  work: string,
  outform: 'SMIME' | 'DER' = 'SMIME',
): Uint8Array {
  const dir = mkdtempSync(join(work, 'opaque-'));
  const input = join(dir, 'list.json');
  const output = join(dir, 'list.p7m');
  writeFileSync(input, listJson(pki, spec));
  execFileSync('openssl', [
    'smime',
    '-sign',
    '-nodetach',
    '-signer',
    pki.endorser.cert,
    '-inkey',
    pki.endorser.key,
    '-in',
    input,
    '-out',
    output,
    '-outform',
    outform,
  ]);
  const data = new Uint8Array(readFileSync(output));
  rmSync(dir, { recursive: true, force: true });
  return data;
}

/** A MIME message split into its Content-Type header value and its body. */
export function splitMime(data: Uint8Array): { contentType: string; body: Uint8Array } {
  const buf = Buffer.from(data);
  const end = buf.indexOf('\n\n');
  const head = buf.subarray(0, end).toString('latin1');
  const m = /^Content-Type:\s*(.+(?:\n[ \t].+)*)/im.exec(head);
  if (!m) throw new Error('no Content-Type header');
  return { contentType: m[1].replace(/\s*\n\s*/g, ' ').trim(), body: new Uint8Array(buf.subarray(end + 2)) };
}
