// The transport tests' view of the shared test PKI (@hepix/test-support): the CA, its IGTF directory, a
// server certificate for 127.0.0.1, a client certificate, and a few extra shapes.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCert, makePki as makeGridPki, type TestPki } from '@hepix/test-support';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  /** The CA certificate (PEM file). */
  caCert: string;
  caPem: string;
  /** make-test-pki's IGTF-style directory: <hash>.0, <hash>.r0, <hash>.namespaces, <hash>.signing_policy. */
  certDir: string;
  /** Server certificate for 127.0.0.1 and localhost. */
  server: KeyPair;
  /** A client certificate (clientAuth), its key also encrypted with `passphrase`. */
  client: KeyPair & { encryptedKey: string; passphrase: string; cn: string };
  grid: TestPki;
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tempDir(prefix = 'hepix-transport-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makePki(dir = tempDir('hepix-transport-pki-')): Pki {
  const grid = makeGridPki(dir, 'Transport Client');
  return {
    dir,
    caCert: grid.ca.cert,
    caPem: readFileSync(grid.ca.cert, 'utf8'),
    certDir: grid.certDir,
    server: { cert: grid.server.cert, key: grid.server.key },
    client: {
      cert: grid.endorser.cert,
      key: grid.endorser.key,
      encryptedKey: grid.endorser.encryptedKey,
      passphrase: grid.endorser.passphrase,
      cn: 'Transport Client',
    },
    grid,
  };
}

/** A server certificate from the PKI's CA with the given subjectAltName (e.g. `DNS:other.example`). */
export function issueServerCert(pki: Pki, name: string, san: string): KeyPair {
  const cert = issueCert(pki.grid, name, `/CN=${name}`, `san:${san}`);
  return { cert: cert.cert, key: cert.key };
}

/** A self-signed server certificate for 127.0.0.1. */
export function selfSigned(dir: string): KeyPair {
  const key = join(dir, 'self-key.pem');
  const cert = join(dir, 'self-cert.pem');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '36500',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { cert, key };
}

/**
 * A CA directory as a site has it: the CA under its own name, the CRL, the IGTF policy files, and the
 * `<hash>.0` / `<hash>.r0` links that `openssl rehash` makes.
 */
export function rehashedDirectory(pki: Pki, dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(pki.caCert, join(dir, 'HEPiX-Test-CA.pem'));
  const hash = openssl(['x509', '-in', pki.caCert, '-noout', '-hash']).trim();
  copyFileSync(join(pki.certDir, `${hash}.namespaces`), join(dir, `${hash}.namespaces`));
  copyFileSync(join(pki.certDir, `${hash}.signing_policy`), join(dir, `${hash}.signing_policy`));
  copyFileSync(pki.grid.ca.crl, join(dir, 'HEPiX-Test-CA.crl'));
  openssl(['rehash', dir]);
  return dir;
}
