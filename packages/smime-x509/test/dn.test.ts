// formatOnelineDn against OpenSSL's own X509_NAME_oneline(), through a small C helper built here with gcc.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOpenssl } from '@hepix/test-support';
// The entry first: it loads reflect-metadata, which the certificate classes need.
import { canonicalDn, certificateInfo, dnEquals, formatOnelineDn, loadCertificate } from '../src/index.js';
import { certModel } from '../src/cert.js';
import { subjectHash } from '../src/hash.js';
import { file, read } from './helpers.js';

let helper: string;
let libMajor: number;
let certs: string[];
let helperDir: string;
afterAll(() => rmSync(helperDir, { recursive: true, force: true }));

beforeAll(async () => {
  helperDir = mkdtempSync(join(tmpdir(), 'smime-dn-'));
  helper = join(helperDir, 'oneline');
  const src = fileURLToPath(new URL('./fixtures/oneline.c', import.meta.url));
  execFileSync('gcc', ['-o', helper, src, '-lcrypto']);
  // The version of the library the helper links against (Debian's libssl-dev).
  const v = execFileSync('openssl', ['version']).toString();
  libMajor = Number(/OpenSSL (\d+)\./.exec(v)![1]);
  certs = [
    ...readdirSync(file('leaf'))
      .filter((f) => f.endsWith('.pem'))
      .map((f) => file('leaf', f)),
    ...['root', 'inter', 'ecca', 'rogue'].map((ca) => file(ca, 'cert.pem')),
  ];
});

function oneline(path: string): [string, string] {
  // X509_NAME_oneline output is bytes in 0x20..0x7e only, so latin1 is exact.
  const [s, i] = execFileSync(helper, [path]).toString('latin1').split('\n');
  return [s, i];
}

const plain = (dn: string) => !/[\\+]/.test(dn.replace(/\\x[0-9A-F]{2}/g, ''));

describe('formatOnelineDn', () => {
  it('equals X509_NAME_oneline() of the linked OpenSSL for every test certificate', () => {
    expect(certs.length).toBeGreaterThan(12);
    const style = libMajor >= 3 ? 'openssl3' : 'openssl1';
    for (const path of certs) {
      const cert = loadCertificate(read(path.slice(file('').length)));
      const [subject, issuer] = oneline(path);
      expect(formatOnelineDn(cert.subjectName, { style })).toBe(subject);
      expect(formatOnelineDn(cert.issuerName, { style })).toBe(issuer);
      // The default (OpenSSL 1.x) form is the same for plain names, and always dnEquals the 3.x form.
      const info = certificateInfo(cert);
      if (plain(subject)) expect(info.subject).toBe(subject);
      expect(dnEquals(info.subject, subject)).toBe(true);
      expect(dnEquals(info.issuer, issuer)).toBe(true);
    }
  });

  it('prints the awkward name in OpenSSL 1.x form: no escaping, multi-valued RDNs flattened', () => {
    const cert = loadCertificate(read('leaf/awkward.pem'));
    const v1 = '/DC=org/DC=example/O=Grid/Inc, = +x/OU=a+b/UID=jg/CN=J\\xC3\\xBCrgen Gro\\xC3\\x9F';
    const v3 = '/DC=org/DC=example/O=Grid\\/Inc, = \\+x/OU=a\\+b/UID=jg+CN=J\\xC3\\xBCrgen Gro\\xC3\\x9F';
    expect(formatOnelineDn(cert.subjectName)).toBe(v1);
    expect(formatOnelineDn(cert.subjectName, { style: 'openssl3' })).toBe(v3);
    expect(oneline(file('leaf', 'awkward.pem'))[0]).toBe(libMajor >= 3 ? v3 : v1);
    expect(dnEquals(v1, v3)).toBe(true);
    expect(dnEquals(v3, v1)).toBe(true);
  });

  it('prints T61String and BMPString bytes raw, escaped as \\xHH', () => {
    const cert = loadCertificate(read('leaf/legacy.pem'));
    expect(formatOnelineDn(cert.subjectName)).toBe(
      '/C=DE/O=GermanGrid/OU=J\\xFCrgen/CN=\\x01A\\x00u\\x00k\\x00a\\x00s\\x00z\\x00 \\x00L\\x00e\\x00g\\x00a\\x00c\\x00y/emailAddress=l@example.org',
    );
  });

  it('accepts DER bytes and prints unknown OIDs dotted', () => {
    // Name: SET{ SEQ{ 1.2.3.4 = UTF8String "x/y" } }, SET { SEQ { CN = PrintableString "a" } }
    const der = Buffer.from('301a310c300a06032a0304' + '0c03782f79' + '310a300806035504030c0161', 'hex');
    expect(formatOnelineDn(der)).toBe('/1.2.3.4=x/y/CN=a');
    expect(formatOnelineDn(new Uint8Array(der).buffer)).toBe('/1.2.3.4=x/y/CN=a');
  });

  it('openssl x509 -nameopt compat agrees only for plain names', async () => {
    for (const name of ['endorser', 'awkward']) {
      const r = await runOpenssl([
        'x509',
        '-in',
        file('leaf', `${name}.pem`),
        '-noout',
        '-subject',
        '-nameopt',
        'compat',
      ]);
      const compat = r.stdout
        .toString('latin1')
        .trim()
        .replace(/^subject=/, '');
      const ours = certificateInfo(loadCertificate(read('leaf', `${name}.pem`))).subject;
      if (name === 'endorser') expect(compat).toBe(ours);
      else {
        expect(compat).not.toBe(ours);
        expect(dnEquals(compat, ours)).toBe(true);
      }
    }
  });
});

describe('dnEquals', () => {
  it('compares byte for byte, tolerating only the OpenSSL 3 escapes', () => {
    expect(
      dnEquals('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge', '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge'),
    ).toBe(true);
    expect(
      dnEquals('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge', '/C=DE/O=GermanGrid/OU=DESY/CN=Owen synge'),
    ).toBe(false);
    expect(dnEquals('/C=DE/CN=a+b', '/C=DE/CN=a/b')).toBe(false);
    expect(dnEquals('/OU=http://x', '/OU=http:\\/\\/x')).toBe(true);
    expect(dnEquals('/CN=a+UID=b', '/CN=a/UID=b')).toBe(true);
    expect(dnEquals('/CN=a\\+UID=b', '/CN=a/UID=b')).toBe(false);
    expect(dnEquals('/CN=a', '/CN=a/CN=b')).toBe(false);
  });
});

describe('canonicalDn', () => {
  const cases: [string, string][] = [
    ['/DC=ch/DC=cern/OU=Organic Units/CN=Jane Doe', '/DC=ch/DC=cern/OU=Organic Units/CN=Jane Doe'],
    ['  /DC=ch/CN=Jane Doe \n', '/DC=ch/CN=Jane Doe'],
    // OpenSSL 3, `-nameopt compat`: escaped slash inside a value, multi-valued RDN joined by `+`
    ['/DC=org/CN=host\\/vm.example.org', '/DC=org/CN=host/vm.example.org'],
    ['/DC=org/CN=Jane+UID=jd', '/DC=org/CN=Jane/UID=jd'],
    ['subject=/DC=org/CN=host\\/vm.example.org', '/DC=org/CN=host/vm.example.org'],
    ['issuer= /DC=ch/CN=CERN CA', '/DC=ch/CN=CERN CA'],
    // OpenSSL 3's default `-subject` output
    ['DC = ch, DC = cern, OU = Organic Units, CN = Jane Doe', '/DC=ch/DC=cern/OU=Organic Units/CN=Jane Doe'],
    ['subject=C = DE, O = GermanGrid, CN = host/vm.example.org', '/C=DE/O=GermanGrid/CN=host/vm.example.org'],
    ['O = Example\\, Inc., CN = Jane + UID = jd', '/O=Example, Inc./CN=Jane/UID=jd'],
    // not a DN form this knows: trimmed, unchanged
    ['CN=x,O=y', 'CN=x,O=y'],
    ['', ''],
  ];
  it.each(cases)('%j → %j', (input, expected) => {
    expect(canonicalDn(input)).toBe(expected);
  });
  it('agrees with dnEquals and is idempotent', () => {
    for (const [input, expected] of cases) {
      expect(canonicalDn(expected)).toBe(expected);
      if (input.trim().startsWith('/')) expect(dnEquals(canonicalDn(input), expected)).toBe(true);
    }
  });
  it('turns what openssl prints for a real certificate into formatOnelineDn', () => {
    for (const path of certs) {
      const cert = loadCertificate(readFileSync(path));
      const expected = formatOnelineDn(cert.subjectName);
      for (const opt of ['compat', 'oneline']) {
        const printed = execFileSync('openssl', [
          'x509',
          '-in',
          path,
          '-noout',
          '-subject',
          '-nameopt',
          opt,
        ]).toString();
        if (/\\x|\\[0-9A-F]{2}/.test(printed)) continue; // non-ASCII values are escaped differently by each form
        expect(canonicalDn(printed)).toBe(expected);
      }
    }
  });
});

describe('subjectHash (the <hash> of trust directory files)', () => {
  it('equals `openssl x509 -hash` and `-issuer_hash` for every test certificate', () => {
    for (const path of certs) {
      const m = certModel(loadCertificate(readFileSync(path)));
      const [subject, issuer] = execFileSync('openssl', [
        'x509',
        '-in',
        path,
        '-noout',
        '-hash',
        '-issuer_hash',
      ])
        .toString()
        .trim()
        .split('\n');
      expect(subjectHash(m.subjectRaw), path).toBe(subject);
      expect(subjectHash(m.issuerRaw), path).toBe(issuer);
    }
  });

  it('canonicalises like OpenSSL: case, white space, string types', async () => {
    // Names that differ only in ways OpenSSL folds away hash alike; a real difference does not.
    const hashes = new Map<string, string>();
    for (const subj of [
      '/O=Grid  Example/CN=Jane',
      '/O= grid example /CN=JANE',
      '/O=Grid Example/CN=Jane X',
    ]) {
      const r = await runOpenssl([
        'req',
        '-new',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        '/dev/null',
        '-subj',
        subj,
        '-days',
        '1',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const pem = r.stdout.toString();
      const ours = subjectHash(certModel(loadCertificate(pem)).subjectRaw);
      const theirs = (await runOpenssl(['x509', '-noout', '-hash'], pem)).stdout.toString().trim();
      expect(ours, subj).toBe(theirs);
      hashes.set(subj, ours);
    }
    const [a, b, c] = [...hashes.values()];
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });
});
