// Test PKI made with the openssl CLI by scripts/make-test-pki.sh (fresh per test file).
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../../scripts/make-test-pki.sh', import.meta.url));

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  caConf: string;
  trustDir: string;
  serverCert: string;
  serverKey: string;
  userCert: string;
  userKey: string;
}

export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'hepix-upload-pki-'));
  execFileSync('bash', [script, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    dir,
    ca: join(dir, 'ca/ca.pem'),
    caKey: join(dir, 'ca/ca.key'),
    caConf: join(dir, 'ca/openssl.cnf'),
    trustDir: join(dir, 'certificates'),
    serverCert: join(dir, 'server/cert.pem'),
    serverKey: join(dir, 'server/key.pem'),
    userCert: join(dir, 'endorser/usercert.pem'),
    userKey: join(dir, 'endorser/userkey.pem'),
  };
}

/** A server certificate from the test CA for a name that is NOT 127.0.0.1/localhost. */
export function wrongNameCert(pki: Pki): { cert: string; key: string } {
  const key = join(pki.dir, 'wrong.key');
  const csr = join(pki.dir, 'wrong.csr');
  const cert = join(pki.dir, 'wrong.pem');
  const ext = join(pki.dir, 'wrong.ext');
  execFileSync('sh', [
    '-c',
    `printf 'subjectAltName=DNS:wrong.example.org\\nextendedKeyUsage=serverAuth\\n' > "$1"`,
    'sh',
    ext,
  ]);
  execFileSync(
    'openssl',
    [
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
      '/CN=wrong.example.org',
    ],
    {
      stdio: 'ignore',
    },
  );
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.ca,
      '-CAkey',
      pki.caKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '3650',
      '-extfile',
      ext,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
