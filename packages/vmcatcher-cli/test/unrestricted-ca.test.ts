// --allow-unrestricted-ca (env VMCATCHER_ALLOW_UNRESTRICTED_CA=1) on vmcatcher_subscribe, and the warnings
// of an opened list (SHA-1 signature, a dropped image) at the default log level, naming the subscription.
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeListJson, makePki, makeTempDir, signList, type TestPki } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runEndorserCommand, runImageCommand, runSubscribeCommand } from '../src/index.js';

const DAY = 86_400_000;
const LIST = randomUUID();
const IMAGE = randomUUID();
const BROKEN = randomUUID();
let tmp: string;
let pki: TestPki;
let env: NodeJS.ProcessEnv;
let file: string;

type Tool = (argv: string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>;

async function run(tool: Tool, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const out = { stdout: '', stderr: '' };
  const status = await tool(
    argv,
    { ...env, ...extra },
    {
      stdout: (t) => {
        out.stdout += t;
      },
      stderr: (t) => {
        out.stderr += t;
      },
    },
  );
  return { status, ...out };
}

function publish(version: string, options: { sha1?: boolean; broken?: boolean } = {}) {
  const doc = JSON.parse(
    makeListJson({
      identifier: LIST,
      version,
      created: new Date(Date.now() - DAY + Number(version) * 1000),
      expires: new Date(Date.now() + DAY),
      uri: pathToFileURL(file).href,
      dn: pki.endorser.subject,
      ca: pki.endorser.issuer,
      images: [{ identifier: IMAGE }],
    }),
  );
  // An image without hv:uri (and more) is dropped by the schema.
  if (options.broken) doc['hv:imagelist']['hv:images'].push({ 'hv:image': { 'dc:identifier': BROKEN } });
  writeFileSync(file, signList(JSON.stringify(doc), pki.endorser, options.sha1 ? { digest: 'sha1' } : {}));
}

beforeAll(async () => {
  tmp = makeTempDir('hepix-unrestricted-');
  pki = makePki(join(tmp, 'pki'));
  const noPolicy = pki.pki.trustDir('no-policy', { cas: [pki.ca], policies: 'none' });
  file = join(tmp, 'image.list');
  env = { VMCATCHER_RDBMS: `sqlite:///${join(tmp, 'db.sqlite')}`, VMCATCHER_DIR_CERT: noPolicy.path };
  const r = await run(runEndorserCommand, [
    '-C',
    '-e',
    'owen',
    '-S',
    pki.endorser.subject,
    '-I',
    pki.endorser.issuer,
  ]);
  expect(r.status).toBe(0);
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('a CA without a namespace or signing policy file', () => {
  it('is refused by default: exit 11, nothing subscribed', async () => {
    publish('1');
    const r = await run(runSubscribeCommand, ['-s', pathToFileURL(file).href, '--json']);
    expect(r.status).toBe(11);
    expect(r.stderr).toContain('ERR_SMIME_UNRESTRICTED_CA');
    expect((await run(runSubscribeCommand, ['-l'])).stdout).toBe('');
  });

  it('--allow-unrestricted-ca accepts it, with warnings that name the subscription', async () => {
    const r = await run(runSubscribeCommand, ['-s', pathToFileURL(file).href, '--allow-unrestricted-ca']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^\S+ \S+ WARNING:main:CAs without a namespace or signing policy file/m);
    expect(r.stderr).toMatch(
      new RegExp(`^\\S+ \\S+ WARNING:db_actions:Image list of subscription '${LIST}': `, 'm'),
    );
    const u = await run(runSubscribeCommand, ['-U'], { VMCATCHER_ALLOW_UNRESTRICTED_CA: '1' });
    expect(u.status, u.stderr).toBe(0);
    expect((await run(runImageCommand, ['-l'])).stdout).toBe(`${IMAGE}\t2\t${LIST}\n`);
    // Without the option (or its variable) -U refuses the list again, but does not withdraw the stored one:
    // a difference between two runs' settings is no news about the endorser.
    const strict = await run(runSubscribeCommand, ['-U', '--json']);
    expect(strict.status).toBe(11);
    expect(JSON.parse(strict.stdout)[0].withdrawn).toBeNull();
    expect((await run(runImageCommand, ['-l'])).stdout).toBe(`${IMAGE}\t2\t${LIST}\n`);
  });

  it('logs a SHA-1 signature and a dropped image at WARNING (the default level), naming both', async () => {
    publish('2', { sha1: true, broken: true });
    const r = await run(runSubscribeCommand, ['-U', '--allow-unrestricted-ca']);
    expect(r.status, r.stderr).toBe(0);
    const warnings = r.stderr
      .split('\n')
      .filter((l) => l.includes(` WARNING:db_actions:Image list of subscription '${LIST}': `));
    expect(warnings.some((l) => /SHA-?1/i.test(l))).toBe(true);
    expect(warnings.some((l) => l.includes(`image 1 '${BROKEN}'`) && l.includes('image dropped'))).toBe(true);
    expect((await run(runImageCommand, ['-l'])).stdout).toBe(`${IMAGE}\t2\t${LIST}\n`);
  });
});
