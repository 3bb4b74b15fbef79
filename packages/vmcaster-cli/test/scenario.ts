// The seed READMEs' command sequence and the checks on what it publishes, shared by the end-to-end tests.
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateImageList } from '@hepix/hepix-imagelist-schema';
import { opensslVerify, type TestPki } from '@hepix/test-support';
import { expect } from 'vitest';
import { CA_DN, DN, type RunResult, sha512File, vmcaster, words } from './helpers.js';

export interface Scenario {
  name: string;
  home: string;
  /** Directory where published files land (local dir, or the sshd's upload dir). */
  published: string;
  /** Public base URI, ending in '/'. */
  publicBase: string;
  list: string;
  image: string;
  env: Record<string, string>;
  run: (
    line: string | string[],
    extra?: { env?: Record<string, string>; wrapper?: string[] },
  ) => Promise<RunResult>;
}

export function scenario(
  base: string,
  pki: TestPki,
  name: string,
  publicBase: string,
  published: string,
  section: Record<string, string | number>,
): Scenario {
  const home = join(base, name, 'home');
  mkdirSync(join(home, '.globus'), { recursive: true });
  mkdirSync(published, { recursive: true });
  copyFileSync(pki.endorser.cert, join(home, '.globus/usercert.pem'));
  copyFileSync(pki.endorser.key, join(home, '.globus/userkey.pem'));
  const cfg = [
    `[${name}]`,
    ...Object.entries(section).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
    '',
  ].join('\n');
  writeFileSync(join(home, '.vmcaster.cfg'), cfg);
  const env = { HOME: home };
  const s: Scenario = {
    name,
    home,
    published,
    publicBase,
    list: randomUUID(),
    image: randomUUID(),
    env,
    run: (line, extra = {}) =>
      vmcaster(typeof line === 'string' ? words(line) : line, {
        cwd: home,
        env: { ...env, ...(extra.env ?? {}) },
        wrapper: extra.wrapper,
      }),
  };
  return s;
}

export async function ok(
  s: Scenario,
  line: string | string[],
  extra?: Parameters<Scenario['run']>[1],
): Promise<RunResult> {
  const r = await s.run(line, extra);
  if (r.code !== 0)
    throw new Error(`vmcaster ${String(line)} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** The seed READMEs' sequence: endorser with keys, list, binding, image, image upload, list publish. */
export async function seedSequence(s: Scenario, imageFile: string): Promise<void> {
  await ok(s, `--add-endorser "${DN}"`);
  await ok(
    s,
    `--select-endorser "${DN}" --endorser-key-set 'hv:email' --endorser-value 'owen.synge@desy.de'`,
  );
  await ok(s, `--select-endorser "${DN}" --endorser-key-set 'dc:creator' --endorser-value 'Owen Synge'`);
  await ok(s, ['--select-endorser', DN, '--endorser-key-set', 'hv:ca', '--endorser-value', CA_DN]);
  const shown = JSON.parse((await ok(s, `--select-endorser '${DN}' --endorser-show --json`)).stdout);
  expect(shown).toMatchObject({ 'hv:dn': DN, 'hv:email': 'owen.synge@desy.de', 'hv:ca': CA_DN });
  expect((await ok(s, '--list-endorser')).stdout.trim()).toBe(DN);

  await ok(s, `--imagelist-add ${s.list}`);
  await ok(
    s,
    `--select-imagelist ${s.list} --key-set-imagelist "dc:description" --key-value-imagelist "DESY Image List SHaring service"`,
  );
  await ok(
    s,
    `--select-imagelist ${s.list} --key-set-imagelist "dc:title" --key-value-imagelist "Test list"`,
  );
  await ok(
    s,
    `--select-imagelist ${s.list} --key-set-imagelist "hv:uri" --key-value-imagelist "${s.publicBase}lists/${s.list}.smime"`,
  );
  await ok(s, `--imagelist-add-endorser --select-endorser "${DN}" --select-imagelist ${s.list}`);

  await ok(s, `--select-image ${s.image} --add-image`);
  await ok(s, `--select-imagelist ${s.list} --select-image ${s.image} --imagelist-add-image`);
  const imageKeys: [string, string][] = [
    ['dc:title', 'Worker node'],
    ['dc:description', 'SL6 worker node'],
    ['sl:arch', 'x86_64'],
    ['sl:os', 'Linux'],
    ['sl:osversion', 'SL 6.4'],
    ['sl:comments', 'test image'],
    ['hv:hypervisor', 'kvm'],
    ['hv:format', 'raw.gz'],
    ['hv:uri', `${s.publicBase}images/${s.image}.raw.gz`],
  ];
  for (const [k, v] of imageKeys)
    await ok(s, ['--select-image', s.image, '--key-set-image', k, '--key-value-image', v]);

  const up = await ok(
    s,
    `--upload-image ${imageFile} --select-image ${s.image} --verbose --verbose --verbose`,
  );
  expect(up.stdout).toMatch(/uploaded image/);
  await ok(s, `--select-imagelist ${s.list} --imagelist-show`);
  await ok(s, `--select-imagelist ${s.list} --upload-imagelist --verbose --verbose --verbose`);
}

/** Checks the published list with openssl and the schema, and the image it points to. */
export function checkPublished(s: Scenario, pki: TestPki, expectedVersion: string, lifetimeDays = 28) {
  const listFile = join(s.published, 'lists', `${s.list}.smime`);
  const content = opensslVerify(listFile, pki.certDir);
  const doc = validateImageList(JSON.parse(content), { mode: 'strict' }) as unknown as {
    'hv:imagelist': Record<string, unknown> & { 'hv:images': { 'hv:image': Record<string, unknown> }[] };
  };
  const il = doc['hv:imagelist'];
  expect(il['dc:identifier']).toBe(s.list);
  expect(il['hv:version']).toBe(expectedVersion);
  expect(il['hv:endorser']).toMatchObject({ 'hv:x509': { 'hv:dn': DN, 'hv:ca': CA_DN } });
  const created = Date.parse(il['dc:date:created'] as string);
  const expires = Date.parse(il['dc:date:expires'] as string);
  expect(Math.round((expires - created) / 86_400_000)).toBe(lifetimeDays);
  const image = il['hv:images'][0]['hv:image'];
  const uri = image['hv:uri'] as string;
  expect(uri.startsWith(`${s.publicBase}images/${s.image}_`)).toBe(true);
  expect(uri).toMatch(/_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.raw\.gz$/);
  const file = join(s.published, uri.slice(s.publicBase.length));
  expect(sha512File(file)).toBe(image['sl:checksum:sha512']);
  expect(readFileSync(file).length).toBe(Number(image['hv:size']));
  // The image was compressed on the way (hv:format raw.gz, plain file given).
  expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  return { doc, listFile, imageFile: file };
}

export function makeImage(dir: string, name: string, size = 3 * 1024 * 1024): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  // Half random, half zeros: compression does something measurable.
  writeFileSync(p, Buffer.concat([randomBytes(size / 2), Buffer.alloc(size / 2)]));
  return p;
}
