// An endorser typed in the OpenSSL 3 spelling (`\/` inside a value, what `openssl x509 -subject -nameopt compat`
// prints) authorises lists signed by that certificate: the store keeps one spelling (canonicalDn), so the
// list's DN match and the store's authorisation agree (before, -U exited 13).
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  signWithOpenssl,
  type TestPki,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DAY = 86_400_000;
const LIST = '0b6bd6b4-58a2-4bd4-9c61-1f3f1e3c5a10';
const bin = (name: string) => fileURLToPath(new URL(`../dist/bin/${name}.js`, import.meta.url));

let tmp: string;
let pki: TestPki;
let host: { cert: string; key: string };
let openssl3Subject: string;
const SUBJECT_1X = '/C=DE/O=GermanGrid/OU=DESY/CN=host/vm.example.org';

function run(tool: string, args: string[]) {
  const r = spawnSync(process.execPath, [bin(tool), ...args], {
    cwd: tmp,
    env: {
      PATH: process.env.PATH,
      HOME: tmp,
      VMCATCHER_DIR_CERT: pki.certDir,
      VMCATCHER_RDBMS: 'sqlite:///dn.db',
    },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function publish(version: string): string {
  const file = join(tmp, 'host.list');
  const json = makeListJson({
    identifier: LIST,
    version,
    created: new Date(Date.now() - DAY + Number(version) * 60_000),
    expires: new Date(Date.now() + 28 * DAY),
    uri: pathToFileURL(file).href,
    // As vmcaster publishes it: the 1.x one-line form.
    dn: SUBJECT_1X,
    ca: pki.caSubject,
    images: [{ identifier: 'b1f0f1a8-3a59-4d1e-8c0e-6b1b4f3e2d11' }],
  });
  writeFileSync(file, signWithOpenssl(json, host, tmp));
  return pathToFileURL(file).href;
}

beforeAll(() => {
  tmp = makeTempDir('hepix-dn-');
  pki = makePki(join(tmp, 'pki'));
  // openssl -subj takes the slash inside the CN escaped.
  host = issueCert(pki, 'host', '/C=DE/O=GermanGrid/OU=DESY/CN=host\\/vm.example.org');
  openssl3Subject = execFileSync(
    'openssl',
    ['x509', '-in', host.cert, '-noout', '-subject', '-nameopt', 'compat'],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .replace(/^subject=/, '');
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('an endorser typed as OpenSSL 3 prints it', () => {
  it('authorises the list signed by that certificate through vmcatcher_subscribe -s and -U', () => {
    expect(openssl3Subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=host\\/vm.example.org');
    let r = run('vmcatcher_endorser', [
      '--create',
      '--endorser_uuid=host',
      `--subject=${openssl3Subject}`,
      `--issuer=${pki.caSubject}`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    r = run('vmcatcher_endorser', ['-l']);
    expect(r.stdout).toBe(`'host'\t'${SUBJECT_1X}'\t'${pki.caSubject}'\n`);

    const uri = publish('1');
    r = run('vmcatcher_subscribe', ['-s', uri]);
    expect(r.stderr).not.toContain('ERROR');
    expect(r.status).toBe(0);

    publish('2');
    r = run('vmcatcher_subscribe', ['-U', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({
      subscription: LIST,
      outcome: 'updated',
      status: 0,
      version: '2',
    });
  });
});
