import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';

const run = promisify(execFile);

export const pki = (): string => inject('smimePki');
export const file = (...p: string[]): string => join(pki(), ...p);
export const read = (...p: string[]): string => readFileSync(file(...p), 'utf8');
export const readBytes = (...p: string[]): Buffer => readFileSync(file(...p));

/** Run the openssl CLI with an argv array; resolves with stdout/stderr and the exit status. */
export async function openssl(
  args: string[],
  input?: Buffer | string,
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const child = execFile('openssl', args, {
    encoding: 'buffer',
    maxBuffer: 1 << 30,
    env: { ...process.env, OPENSSL_CONF: '/dev/null' },
  });
  const done = new Promise<{ code: number; stdout: Buffer; stderr: string }>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
  });
  // openssl may exit without reading stdin (it read a file argument): ignore EPIPE there.
  child.stdin!.on('error', () => {});
  if (input === undefined) child.stdin!.end();
  else child.stdin!.end(input);
  return done;
}

export { run };

/** A realistic image list body (JSON, LF line endings) of roughly `images` entries. */
export function imageList(images = 3): string {
  const list = {
    'hv:imagelist': {
      'dc:date:created': '2026-01-01T00:00:00Z',
      'dc:date:expires': '2099-01-01T00:00:00Z',
      'dc:identifier': '4e186b44-2c64-40ea-97d5-e9e3d81e5e13',
      'dc:description': 'Test list',
      'hv:endorser': {
        'hv:x509': {
          'hv:dn': '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
          'hv:ca': '/C=DE/O=GermanGrid/CN=HEPiX Test Intermediate CA',
        },
      },
      'hv:images': Array.from({ length: images }, (_, i) => ({
        'hv:image': {
          'dc:identifier': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          'hv:uri': `https://example.org/images/img-${i}.img`,
          'sl:checksum:sha512': 'ab'.repeat(64),
          'hv:size': 1024 * (i + 1),
          'dc:title': `Image ${i} – ünïcödé`,
        },
      })),
      'hv:version': '1.0.0',
    },
  };
  return JSON.stringify(list, null, 4) + '\n';
}
