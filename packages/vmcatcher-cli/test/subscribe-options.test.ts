// The less common vmcatcher_subscribe/_endorser/_image options, run in-process on file:// lists signed by
// the openssl CLI.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeListJson, makePki, makeTempDir, signWithOpenssl, type TestPki } from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliIo,
  runEndorserCommand,
  runImageCommand,
  runSubscribeCommand,
  runVmcatcher,
} from '../src/index.js';

const DAY = 86_400_000;
const LIST = 'b7c2a0de-5f0e-4d8e-9a55-0f1f2e3d4c5b';
const IMAGES = ['aaaa0000-0000-4000-8000-000000000001', 'aaaa0000-0000-4000-8000-000000000002'];
const NEW_IMAGE = 'aaaa0000-0000-4000-8000-000000000003';
let tmp: string;
let pki: TestPki;
let env: NodeJS.ProcessEnv;
let listFile: string;

function capture() {
  const out = { stdout: '', stderr: '' };
  const io: CliIo = {
    stdout: (t) => {
      out.stdout += t;
    },
    stderr: (t) => {
      out.stderr += t;
    },
  };
  return { out, io };
}

async function run(fn: typeof runSubscribeCommand, argv: string[]) {
  const c = capture();
  const status = await fn(argv, env, c.io);
  return { status, ...c.out };
}

function publish(version: string, images: string[]) {
  const json = makeListJson({
    identifier: LIST,
    version,
    created: new Date(Date.now() - DAY + Number(version) * 1000),
    expires: new Date(Date.now() + 28 * DAY),
    uri: 'https://example.org/list',
    dn: pki.endorser.subject,
    ca: pki.endorser.issuer,
    images: images.map((identifier) => ({
      identifier,
      sha512: identifier.replace(/-/g, '').padEnd(128, 'f'),
    })),
  });
  writeFileSync(listFile, signWithOpenssl(json, pki.endorser, tmp));
}

beforeAll(() => {
  tmp = makeTempDir('hepix-cli-opts-');
  pki = makePki(join(tmp, 'pki'));
  listFile = join(tmp, 'list.smime');
  env = { VMCATCHER_RDBMS: `sqlite:///${join(tmp, 'db.sqlite')}`, VMCATCHER_DIR_CERT: pki.certDir };
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('vmcatcher_subscribe options', () => {
  it('subscribes with --auto-endorse and the vmcatcher subcommand form', async () => {
    publish('1', IMAGES);
    const r = await run(runVmcatcher, ['subscribe', '--auto-endorse', '-s', pathToFileURL(listFile).href]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('WARNING:db_actions:Auto-endorsing');
    const e = await run(runEndorserCommand, ['-l', '--json']);
    expect(JSON.parse(e.stdout)).toEqual([
      {
        endorser: expect.any(String),
        princibles: [{ issuer: pki.endorser.issuer, subject: pki.endorser.subject }],
      },
    ]);
    expect((await run(runSubscribeCommand, ['-U'])).status).toBe(0);
  });

  it('--image-list, --image-refuse and --image-accept', async () => {
    let r = await run(runSubscribeCommand, ['--image-list', '-u', LIST]);
    expect(r.stdout.trim().split('\n').sort()).toEqual(IMAGES.map((i) => `${i}\t2\t${LIST}`));
    r = await run(runSubscribeCommand, ['--image-refuse', IMAGES[1], '-u', LIST]);
    expect(r.status).toBe(0);
    r = await run(runImageCommand, ['-l']);
    expect(r.stdout).toBe(`${IMAGES[0]}\t2\t${LIST}\n`);
    r = await run(runSubscribeCommand, ['--image-accept', NEW_IMAGE, '-u', LIST]);
    expect(r.status).toBe(0);
    r = await run(runSubscribeCommand, ['--image-accept', NEW_IMAGE, '-u', LIST]);
    expect(r.status).toBe(39);
    // The refused image was already in the stored list: it stays out without being reported again, while an
    // image never seen before is refused (32) once.
    const brandNew = 'aaaa0000-0000-4000-8000-000000000004';
    publish('2', [...IMAGES, NEW_IMAGE, brandNew]);
    r = await run(runSubscribeCommand, ['-U', '--json']);
    expect(r.status).toBe(32);
    expect(JSON.parse(r.stdout)[0].refused).toEqual([brandNew]);
    publish('3', [...IMAGES, NEW_IMAGE, brandNew]);
    r = await run(runSubscribeCommand, ['-U', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)[0].refused).toEqual([]);
    r = await run(runImageCommand, ['-l']);
    expect(r.stdout.trim().split('\n').sort()).toEqual(
      [`${IMAGES[0]}\t2\t${LIST}`, `${NEW_IMAGE}\t2\t${LIST}`].sort(),
    );
  });

  it('--imagelist-newimage-accept on a selection re-imports and registers the refused image', async () => {
    const r = await run(runSubscribeCommand, ['--imagelist-newimage-accept', '-u', LIST]);
    expect(r.status).toBe(0);
    const images = await run(runImageCommand, ['-l', '--json']);
    expect(
      JSON.parse(images.stdout)
        .map((i: { image: string }) => i.image)
        .sort(),
    ).toEqual([...IMAGES, NEW_IMAGE, 'aaaa0000-0000-4000-8000-000000000004'].sort());
  });

  it('-x runs the SubscriptionImageNew command once per new image, values in the environment only', async () => {
    const log = join(tmp, 'events.log');
    const cmd = `printf '%s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" "$VMCATCHER_EVENT_IL_DC_IDENTIFIER" >> '${log}'`;
    const fresh = 'aaaa0000-0000-4000-8000-000000000005';
    publish('4', [...IMAGES, NEW_IMAGE, 'aaaa0000-0000-4000-8000-000000000004', fresh]);
    let r = await run(runSubscribeCommand, ['-U', '-x', cmd]);
    expect(r.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`SubscriptionImageNew ${fresh} ${LIST}\n`);
    publish('5', [...IMAGES, NEW_IMAGE, 'aaaa0000-0000-4000-8000-000000000004', fresh]);
    r = await run(runSubscribeCommand, ['-U', '-x', cmd]);
    expect(r.status).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('a failed SubscriptionImageNew command is recorded and re-delivered by vmcatcher_cache --retry-events', async () => {
    const log = join(tmp, 'retried.log');
    const fresh = 'aaaa0000-0000-4000-8000-000000000006';
    publish('6', [
      ...IMAGES,
      NEW_IMAGE,
      'aaaa0000-0000-4000-8000-000000000004',
      'aaaa0000-0000-4000-8000-000000000005',
      fresh,
    ]);
    const r = await run(runSubscribeCommand, ['-U', '-x', 'exit 3']);
    // A failing handler never vetoes the update.
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('recorded for vmcatcher_cache --retry-events');
    const good = `printf '%s %s\\n' "$VMCATCHER_EVENT_TYPE" "$VMCATCHER_EVENT_DC_IDENTIFIER" >> '${log}'`;
    const c = capture();
    const status = await runVmcatcher(
      ['cache', '--retry-events', '-C', join(tmp, 'retry-cache')],
      { ...env, VMCATCHER_SUB_EVENT: good },
      c.io,
    );
    expect(status, c.out.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`SubscriptionImageNew ${fresh}\n`);
  });

  it('credentials: set, shown masked, cleared', async () => {
    let r = await run(runSubscribeCommand, [
      '-u',
      LIST,
      '--uri-username-set',
      'alice',
      '--uri-password-set',
      'pw-123',
    ]);
    expect(r.status).toBe(0);
    r = await run(runSubscribeCommand, ['-i', '-u', LIST]);
    expect(r.stdout).toContain('subscription.hv:uri.username=alice\n');
    expect(r.stdout).toContain('subscription.hv:uri.password=********\n');
    expect(r.stdout).not.toContain('pw-123');
    r = await run(runSubscribeCommand, ['-u', LIST, '--uri-password-clear', '--uri-username-clear']);
    expect(r.status).toBe(0);
    r = await run(runSubscribeCommand, ['-i', '-u', LIST]);
    expect(r.stdout).not.toContain('subscription.hv:uri.username=');
    expect(r.stdout).not.toContain('subscription.hv:uri.password=');
  });

  it('-o writes the info of each selection to its file; -i by sha512 in vmcatcher_image', async () => {
    const out = join(tmp, 'info.txt');
    let r = await run(runSubscribeCommand, ['-i', '-u', LIST, '-o', out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toContain(`subscription.dc:identifier=${LIST}\n`);
    const sha = IMAGES[0].replace(/-/g, '').padEnd(128, 'f');
    const imgOut = join(tmp, 'image.txt');
    r = await run(runImageCommand, ['-i', '-s', sha.toUpperCase(), '-o', imgOut]);
    expect(r.status).toBe(0);
    expect(existsSync(imgOut)).toBe(true);
    expect(readFileSync(imgOut, 'utf8')).toContain(`imagedef.dc:identifier=${IMAGES[0]}\n`);
    r = await run(runImageCommand, ['-a', '-u', 'no-such-image']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Image 'no-such-image' not found.");
  });

  it('--uri-trustanchor-set rejects unknown values; a missing cert dir exits 1', async () => {
    expect((await run(runSubscribeCommand, ['-u', LIST, '--uri-trustanchor-set', 'sometimes'])).status).toBe(
      1,
    );
    const r = await run(runSubscribeCommand, ['-U', '-c', join(tmp, 'missing-dir')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('does not exist');
  });

  it('vmcatcher_image -i -f message re-verifies the list of the image; -f SMIME prints it raw', async () => {
    let r = await run(runImageCommand, ['-i', '-u', IMAGES[0], '-f', 'message']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)['hv:imagelist']['dc:identifier']).toBe(LIST);
    r = await run(runImageCommand, ['-i', '-u', IMAGES[0], '-f', 'SMIME']);
    expect(r.stdout).toBe(readFileSync(listFile, 'utf8'));
  });

  it('vmcatcher dispatches every subcommand, cache included', async () => {
    let r = await run(runVmcatcher, ['cache', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--cache-dir');
    r = await run(runVmcatcher, ['image', '-l']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`\t${LIST}\n`);
    r = await run(runVmcatcher, ['nonsense']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'nonsense'");
  });

  it('--version and --help', async () => {
    const v = await run(runSubscribeCommand, ['--version']);
    expect(v.stdout).toMatch(/^vmcatcher_subscribe \d+\.\d+\.\d+/);
    const h = await run(runSubscribeCommand, ['--help']);
    expect(h.stdout).toContain('--imagelist-newimage-subscribe');
    expect(h.stdout).toContain('--uri-trustanchor-set');
  });
});
