// Test fixtures made with the openssl CLI at test time: a grid PKI (scripts/make-test-pki.sh), extra
// certificates from its CA, revocation, and lists signed with `openssl smime -sign`.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

export interface TestPki {
  dir: string;
  certDir: string;
  ca: { cert: string; key: string; config: string; crl: string };
  endorser: { cert: string; key: string; subject: string; issuer: string };
  server: { cert: string; key: string };
  caSubject: string;
  hash: string;
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function makeTempDir(prefix = 'hepix-sub-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makePki(dir: string = makeTempDir('hepix-pki-'), cn = 'Owen Synge'): TestPki {
  execFileSync('bash', [join(repoRoot, 'scripts/make-test-pki.sh'), dir, cn], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ca = join(dir, 'ca');
  const hash = openssl(['x509', '-in', join(ca, 'ca.pem'), '-noout', '-hash']).trim();
  return {
    dir,
    certDir: join(dir, 'certificates'),
    ca: {
      cert: join(ca, 'ca.pem'),
      key: join(ca, 'ca.key'),
      config: join(ca, 'openssl.cnf'),
      crl: join(ca, 'ca.crl.pem'),
    },
    endorser: {
      cert: join(dir, 'endorser/usercert.pem'),
      key: join(dir, 'endorser/userkey.pem'),
      subject: `/C=DE/O=GermanGrid/OU=DESY/CN=${cn}`,
      issuer: '/C=DE/O=GermanGrid/CN=HEPiX Test CA',
    },
    server: { cert: join(dir, 'server/cert.pem'), key: join(dir, 'server/key.pem') },
    caSubject: '/C=DE/O=GermanGrid/CN=HEPiX Test CA',
    hash,
  };
}

/** Issues another certificate from the PKI's CA. `ext` is a section of its openssl.cnf, or `san:` + names. */
export function issueCert(
  pki: TestPki,
  name: string,
  subject: string,
  ext = 'v3_endorser',
): { cert: string; key: string } {
  const out = join(pki.dir, name);
  mkdirSync(out, { recursive: true });
  const key = join(out, 'key.pem');
  const cert = join(out, 'cert.pem');
  const csr = join(out, 'req.csr');
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
    subject,
    '-config',
    pki.ca.config,
  ]);
  let config = pki.ca.config;
  let extName = ext;
  if (ext.startsWith('san:')) {
    config = join(out, 'openssl.cnf');
    const base = execFileSync('cat', [pki.ca.config], { encoding: 'utf8' });
    writeFileSync(
      config,
      `${base}\n[ v3_custom_server ]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = ${ext.slice(4)}\n`,
    );
    extName = 'v3_custom_server';
  }
  openssl(['ca', '-batch', '-config', config, '-extensions', extName, '-in', csr, '-out', cert, '-notext']);
  rmSync(csr);
  return { cert, key };
}

/** Revokes a certificate and writes the new CRL into `certDir` (default: the PKI's trust directory). */
export function revoke(pki: TestPki, cert: string, certDir = pki.certDir): void {
  openssl(['ca', '-config', pki.ca.config, '-revoke', cert]);
  openssl(['ca', '-batch', '-config', pki.ca.config, '-gencrl', '-out', pki.ca.crl]);
  cpSync(pki.ca.crl, join(certDir, `${pki.hash}.r0`));
}

/** A copy of the trust directory, optionally without its CRLs. */
export function copyCertDir(pki: TestPki, target: string, options: { withoutCrl?: boolean } = {}): string {
  mkdirSync(target, { recursive: true });
  for (const f of readdirSync(pki.certDir)) {
    if (options.withoutCrl && /\.r\d+$/.test(f)) continue;
    cpSync(join(pki.certDir, f), join(target, f));
  }
  return target;
}

/** Signs `content` (detached, as vmcaster/vmilisttool do) with the openssl CLI; returns the S/MIME bytes. */
export function signWithOpenssl(
  content: string,
  signer: { cert: string; key: string },
  workDir: string,
): Buffer {
  const dir = mkdtempSync(join(workDir, 'sign-'));
  const inFile = join(dir, 'list.json');
  const outFile = join(dir, 'list.smime');
  writeFileSync(inFile, content);
  openssl(['smime', '-sign', '-signer', signer.cert, '-inkey', signer.key, '-in', inFile, '-out', outFile]);
  const data = execFileSync('cat', [outFile]);
  rmSync(dir, { recursive: true, force: true });
  return data;
}

export function fmtDate(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ListSpec {
  identifier: string;
  version: string;
  created: Date;
  expires: Date;
  uri: string;
  dn: string;
  ca: string;
  images: {
    identifier: string;
    sha512?: string;
    size?: number;
    uri?: string;
    version?: string;
    format?: string;
  }[];
  extra?: Record<string, unknown>;
}

/** A HEPiX image list JSON text in the vmilisttool layout (sorted keys, indent 4). */
export function makeListJson(spec: ListSpec): string {
  const list = {
    'hv:imagelist': {
      'dc:date:created': fmtDate(spec.created),
      'dc:date:expires': fmtDate(spec.expires),
      'dc:description': `Test list ${spec.identifier}`,
      'dc:identifier': spec.identifier,
      'dc:source': 'https://example.org/',
      'dc:title': 'Test list',
      'hv:endorser': {
        'hv:x509': {
          'dc:creator': 'Owen Synge',
          'hv:ca': spec.ca,
          'hv:dn': spec.dn,
          'hv:email': 'owen@example.org',
        },
      },
      'hv:images': spec.images.map((i) => ({
        'hv:image': {
          'dc:description': `Image ${i.identifier}`,
          'dc:identifier': i.identifier,
          'dc:title': `Image ${i.identifier.slice(0, 8)}`,
          ...(i.format ? { 'hv:format': i.format } : {}),
          'hv:hypervisor': 'kvm',
          'hv:size': i.size ?? 1024,
          'hv:uri': i.uri ?? `https://example.org/${i.identifier}.img`,
          'hv:version': i.version ?? '1',
          'sl:arch': 'x86_64',
          'sl:checksum:sha512': i.sha512 ?? 'a'.repeat(128),
          'sl:comments': '',
          'sl:os': 'Linux',
          'sl:osversion': 'SL 6.4',
        },
      })),
      'hv:uri': spec.uri,
      'hv:version': spec.version,
      ...(spec.extra ?? {}),
    },
  };
  return `${JSON.stringify(list, null, 4)}\n`;
}
