// The README's examples: the policy file parses to what the text says, the connector example runs as
// written (extracted from README.md into a module and imported).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  evaluateCandidates,
  evaluatePolicy,
  imageLocations,
  parsePolicy,
  POLICY_RULES,
  SITE_POLICY_ERROR_CODES,
} from '../src/index.js';
import { CERN_DN, DESY_DN, image, list, REX_DN, SUM_A } from './helpers.js';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const blocks = (lang: string) =>
  [...readme.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]);

describe('README', () => {
  it('the example policy file parses (with a real checksum in place of 6f3a…)', () => {
    const [ini] = blocks('ini');
    const policy = parsePolicy(ini.replace('6f3a…', SUM_A));
    expect(policy.endorsers).toEqual({
      allow: ['/DC=ch/DC=cern/.*', '/C=DE/O=GermanGrid/.*'],
      deny: ['.*/CN=Rex Revoked'],
    });
    expect(policy.limits).toEqual({
      formats: ['qcow2', 'raw', 'ova'],
      maxSizeBytes: 20 * 1024 ** 3,
      deprecated: 'refuse',
      maxListAgeSeconds: 30 * 86_400,
    });
    const now = new Date('2026-12-01T00:00:00Z');
    expect(evaluatePolicy(policy, image(), list({ signer: { subject: REX_DN } }), { now }).refusedBy).toBe(
      'endorsers.deny',
    );
    expect(evaluatePolicy(policy, image(), list({ signer: { subject: CERN_DN } }), { now }).refusedBy).toBe(
      'checksums.deny',
    );
  });

  it('the rules table lists every rule in decision order, the error table every code', () => {
    const rules = [...readme.matchAll(/^\| `([a-z-]+\.[a-z-]+)` +\|/gm)].map((m) => m[1]);
    expect(rules).toEqual([...POLICY_RULES]);
    const codes = [...readme.matchAll(/^\| `(ERR_POLICY_[A-Z_]+)` +\|/gm)].map((m) => m[1]);
    expect(codes).toEqual([...SITE_POLICY_ERROR_CODES]);
  });

  it('the connector example runs as written', async () => {
    const block = blocks('ts').find((b) => b.includes('export async function importAllowed'));
    expect(block).toBeDefined();
    const dir = fileURLToPath(new URL('../.tmp/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = `${dir}readme-connector.ts`;
    writeFileSync(file, block!);
    const { importAllowed } = (await import(/* @vite-ignore */ file)) as {
      importAllowed: (
        opened: unknown,
        importImage: (image: Record<string, unknown>) => Promise<void>,
        log: (message: string) => void,
        policyFile?: string,
      ) => Promise<string[]>;
    };
    const policyFile = fileURLToPath(new URL('fixtures/formats.cfg', import.meta.url));
    const opened = {
      ...list({ signer: { subject: DESY_DN }, created: new Date() }),
      images: [
        image({ 'dc:identifier': 'raw-image', 'hv:format': 'RAW' }),
        image({ 'dc:identifier': 'qcow2-image', 'hv:format': 'qcow2' }),
        image({ 'dc:identifier': 'old-raw-image', 'hv:format': 'raw', 'sl:deprecated': 'use raw-image' }),
      ],
    };
    const uploaded: unknown[] = [];
    const lines: string[] = [];
    const imported = await importAllowed(
      opened,
      async (img) => {
        uploaded.push(img['dc:identifier']);
      },
      (line) => lines.push(line),
      policyFile,
    );
    expect(imported).toEqual(['raw-image']);
    expect(uploaded).toEqual(['raw-image']);
    expect(lines).toEqual([
      'qcow2-image not imported: limits.formats: format qcow2 is not allowed (allowed: raw ova)',
      'old-raw-image not imported: limits.deprecated: deprecated: use raw-image',
    ]);
  });

  it('the integrator notes: policy check prints the URL of the first allowed entry and the rules that passed', () => {
    const policy = parsePolicy('[endorsers]\ndeny = .*/CN=Rex Revoked\n');
    const candidates = [
      { image: image({ 'hv:uri': 'https://rex.example/x' }), list: list({ signer: { subject: REX_DN } }) },
      {
        image: image({ 'hv:uri': 'https://desy.example/x', 'sl:locations': ['https://mirror.example/x'] }),
        list: list(),
      },
    ];
    const s = evaluateCandidates(policy, candidates);
    expect(s.decision).toBe('allow');
    expect(imageLocations(s.selected!.image)).toEqual(['https://desy.example/x', 'https://mirror.example/x']);
    const passed = s.decisions[s.selectedIndex!].reasons
      .filter((r) => r.active && r.passed)
      .map((r) => r.rule);
    expect(passed).toEqual(['endorsers.deny', 'limits.deprecated']);
    expect(JSON.parse(JSON.stringify(DEFAULT_POLICY))).toEqual(DEFAULT_POLICY);
  });
});
