// An endorser added in the OpenSSL 3 spelling (`\/` inside a value, as `openssl x509 -subject -nameopt compat`
// prints it) is published in the OpenSSL 1.x one-line form that vmcatcher and the original subscribers compare
// byte for byte, through the real vmcaster bin and a local upload target.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, opensslVerify, type TestPki } from '@hepix/test-support';
import { CA_DN } from './helpers.js';
import { ok, type Scenario, scenario } from './scenario.js';

const base = mkdtempSync(join(tmpdir(), 'vmcaster-dn-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const DN_1X = '/C=DE/O=GermanGrid/OU=DESY/CN=host/vm.example.org';
let pki: TestPki;
let dn3: string;
let s: Scenario;

beforeAll(() => {
  // make-test-pki.sh puts the CN into `openssl req -subj`, where a slash inside a value is escaped.
  pki = makePki(join(base, 'pki'), 'host\\/vm.example.org');
  const r = spawnSync('openssl', ['x509', '-in', pki.endorser.cert, '-noout', '-subject', '-nameopt', 'compat'], {
    encoding: 'utf8',
  });
  dn3 = r.stdout.trim().replace(/^subject=/, '');
  const www = join(base, 'www');
  const publicBase = 'https://vm.example.org/';
  s = scenario(base, pki, 'local', publicBase, www, {
    server: 'vm.example.org',
    protocol: 'local',
    uriMatch: publicBase,
    uriReplace: `${www}/`,
  });
});

describe('an endorser typed in the OpenSSL 3 spelling', () => {
  it('is listed, shown and published as hv:dn in the 1.x form', async () => {
    expect(dn3).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=host\\/vm.example.org');
    await ok(s, ['--add-endorser', dn3]);
    for (const [k, v] of [
      ['hv:ca', CA_DN],
      ['dc:creator', 'Host Operator'],
      ['hv:email', 'ops@vm.example.org'],
    ])
      await ok(s, ['--select-endorser', dn3, '--endorser-key-set', k, '--endorser-value', v]);
    expect((await ok(s, '--list-endorser')).stdout.trim()).toBe(DN_1X);
    // Selected in either spelling, it is the same endorser.
    expect(
      JSON.parse((await ok(s, ['--select-endorser', DN_1X, '--endorser-show', '--json'])).stdout),
    ).toMatchObject({
      'hv:dn': DN_1X,
      'hv:ca': CA_DN,
    });
    await ok(s, `--imagelist-add ${s.list}`);
    for (const [k, v] of [
      ['dc:title', 'Host images'],
      ['dc:description', 'Images endorsed by a host certificate'],
      ['hv:uri', `${s.publicBase}lists/${s.list}.smime`],
    ])
      await ok(s, ['--select-imagelist', s.list, '--key-set-imagelist', k, '--key-value-imagelist', v]);
    await ok(s, ['--imagelist-add-endorser', '--select-endorser', dn3, '--select-imagelist', s.list]);
    await ok(s, `--select-imagelist ${s.list} --upload-imagelist`);

    const content = opensslVerify(join(s.published, 'lists', `${s.list}.smime`), pki.certDir);
    const list = JSON.parse(content)['hv:imagelist'];
    expect(list['hv:endorser']).toEqual({
      'hv:x509': {
        'dc:creator': 'Host Operator',
        'hv:ca': CA_DN,
        'hv:dn': DN_1X,
        'hv:email': 'ops@vm.example.org',
      },
    });
    expect(content).not.toContain('host\\\\/vm');
  });
});
