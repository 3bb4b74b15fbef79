// A throwaway PKI made with the openssl CLI at test time (scripts/make-test-pki.sh plus a few extra
// certificates), kept small until @hepix/test-support replaces it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

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
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tempDir(prefix = 'hepix-transport-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makePki(dir = tempDir('hepix-transport-pki-')): Pki {
  execFileSync('bash', [join(repoRoot, 'scripts/make-test-pki.sh'), dir, 'Transport Client'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return {
    dir,
    caCert: join(dir, 'ca/ca.pem'),
    caPem: readFileSync(join(dir, 'ca/ca.pem'), 'utf8'),
    certDir: join(dir, 'certificates'),
    server: { cert: join(dir, 'server/cert.pem'), key: join(dir, 'server/key.pem') },
    client: {
      cert: join(dir, 'endorser/usercert.pem'),
      key: join(dir, 'endorser/userkey.pem'),
      encryptedKey: join(dir, 'endorser/userkey-enc.pem'),
      passphrase: readFileSync(join(dir, 'endorser/passphrase.txt'), 'utf8').trim(),
      cn: 'Transport Client',
    },
  };
}

/** A server certificate from the PKI's CA with the given subjectAltName (e.g. `DNS:other.example`). */
export function issueServerCert(pki: Pki, name: string, san: string): KeyPair {
  const out = join(pki.dir, name);
  mkdirSync(out, { recursive: true });
  const key = join(out, 'key.pem');
  const cert = join(out, 'cert.pem');
  const csr = join(out, 'req.csr');
  const config = join(out, 'openssl.cnf');
  writeFileSync(
    config,
    `${readFileSync(join(pki.dir, 'ca/openssl.cnf'), 'utf8')}\n[ v3_test_server ]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = ${san}\n`,
  );
  openssl([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${name}`,
    '-config',
    config,
  ]);
  openssl([
    'ca',
    '-batch',
    '-config',
    config,
    '-extensions',
    'v3_test_server',
    '-in',
    csr,
    '-out',
    cert,
    '-notext',
  ]);
  return { cert, key };
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
  copyFileSync(join(pki.dir, 'ca/ca.crl.pem'), join(dir, 'HEPiX-Test-CA.crl'));
  openssl(['rehash', dir]);
  return dir;
}
