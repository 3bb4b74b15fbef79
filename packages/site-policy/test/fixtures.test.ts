// The fixture policies that the integration tests use do what test/fixtures/README.md says.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hashFile } from '@hepix/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluatePolicy, loadPolicy, type PolicyRule } from '../src/index.js';
import { CERN_DN, DESY_DN, expectPolicyRejection, image, list, NOW } from './helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));
const REX_PKI_DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Rex Revoked';

let denied: { digest: string; size: number };
beforeAll(async () => {
  denied = await hashFile(fixture('denied.img'));
});

async function decide(name: string, img: Record<string, unknown> = {}, facts: Record<string, unknown> = {}) {
  const policy = await loadPolicy(fixture(name), { env: {} });
  expect(policy.source).toBe(fixture(name));
  return evaluatePolicy(policy, image(img), list(facts), { now: NOW });
}

describe('fixture policies', () => {
  const cases: [string, () => Record<string, unknown>, Record<string, unknown>, PolicyRule | undefined][] = [
    // [file, image overrides, list overrides, refusedBy]
    [
      'deny-checksum.cfg',
      () => ({ 'sl:checksum:sha512': denied.digest, 'hv:size': denied.size }),
      {},
      'checksums.deny',
    ],
    ['deny-checksum.cfg', () => ({}), {}, undefined],
    ['endorser-allow.cfg', () => ({}), { signer: { subject: DESY_DN } }, 'endorsers.allow'],
    ['endorser-allow.cfg', () => ({}), { signer: { subject: CERN_DN } }, undefined],
    ['endorser-deny.cfg', () => ({}), { signer: { subject: REX_PKI_DN } }, 'endorsers.deny'],
    ['endorser-deny.cfg', () => ({}), { signer: { subject: DESY_DN } }, undefined],
    ['formats.cfg', () => ({ 'hv:format': 'qcow2' }), {}, 'limits.formats'],
    ['formats.cfg', () => ({ 'hv:format': undefined }), {}, 'limits.formats'],
    ['formats.cfg', () => ({ 'hv:format': 'RAW' }), {}, undefined],
    ['max-size.cfg', () => ({ 'hv:size': 1025 }), {}, 'limits.max-size'],
    ['max-size.cfg', () => ({ 'hv:size': denied.size }), {}, undefined],
    ['deprecated-refuse.cfg', () => ({ 'sl:deprecated': 'superseded' }), {}, 'limits.deprecated'],
    ['deprecated-refuse.cfg', () => ({}), {}, undefined],
    ['deprecated-warn.cfg', () => ({ 'sl:deprecated': 'superseded' }), {}, undefined],
    [
      'max-list-age.cfg',
      () => ({}),
      { created: new Date(NOW.getTime() - 86_401_000) },
      'limits.max-list-age',
    ],
    ['max-list-age.cfg', () => ({}), { created: new Date(NOW.getTime() - 86_400_000) }, undefined],
    ['site.cfg', () => ({}), {}, undefined],
    ['site.cfg', () => ({ 'sl:checksum:sha512': denied.digest }), {}, 'checksums.deny'],
    ['site.cfg', () => ({}), { signer: { subject: REX_PKI_DN } }, 'endorsers.deny'],
    ['site.cfg', () => ({}), { signer: { subject: '/DC=org/DC=terena/CN=Other' } }, 'endorsers.allow'],
  ];
  it.each(cases)('%s: %j', async (name, img, facts, refusedBy) => {
    const d = await decide(name, img(), facts);
    expect(d.refusedBy).toBe(refusedBy);
    expect(d.decision).toBe(refusedBy ? 'refuse' : 'allow');
  });

  it('deprecated-warn.cfg gives one warning', async () => {
    expect((await decide('deprecated-warn.cfg', { 'sl:deprecated': 'superseded' })).warnings).toHaveLength(1);
  });

  it('denied.img is what deny-checksum.cfg names', () => {
    expect(readFileSync(fixture('deny-checksum.cfg'), 'utf8')).toContain(denied.digest);
    expect(denied.size).toBe(83);
  });
});

describe('fixture policies that do not parse', () => {
  it.each([
    ['bad/syntax.cfg', 'ERR_POLICY_SYNTAX', 3],
    ['bad/unknown-section.cfg', 'ERR_POLICY_UNKNOWN_SECTION', 4],
    ['bad/regex.cfg', 'ERR_POLICY_REGEX', 3],
    ['bad/value.cfg', 'ERR_POLICY_VALUE', 2],
  ] as const)('%s: %s at line %d', async (name, code, line) => {
    const err = await expectPolicyRejection(loadPolicy(fixture(name), { env: {} }), code);
    expect(err.line).toBe(line);
    expect(err.message.startsWith(`${fixture(name)}:${line}: `)).toBe(true);
  });
});
