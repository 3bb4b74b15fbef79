// End to end through the built bin against a real sshd (scripts/start-sshd.sh) with the scp protocol.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type TestPki } from '@hepix/test-support';
import { checkPublished, makeImage, ok, scenario, seedSequence } from './scenario.js';

const base = mkdtempSync(join(tmpdir(), 'vmcaster-e2e-scp-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let pki: TestPki;
beforeAll(() => {
  pki = makePki(join(base, 'pki'));
});

describe('scp to a real sshd', () => {
  it('runs the seed sequence through scp; openssl verifies the published list', async () => {
    const host = process.env.TEST_SSH_HOST;
    const root = process.env.TEST_SSH_ROOT;
    expect(host, 'TEST_SSH_HOST is set by scripts/start-sshd.sh (globalSetup)').toBeTruthy();
    const dir = join(root!, `vmcaster-${randomUUID()}`);
    const publicBase = 'https://dish.example.org/';
    const s = scenario(base, pki, 'scp', publicBase, dir, {
      server: 'dish.example.org',
      protocol: 'scp',
      uriMatch: publicBase,
      uriReplace: `${process.env.TEST_SSH_USER}@${host}:${dir}/`,
      port: Number(process.env.TEST_SSH_PORT),
      identityFile: process.env.TEST_SSH_KEY!,
      knownHosts: process.env.TEST_SSH_KNOWN_HOSTS!,
    });
    try {
      const img = makeImage(join(base, 'scp', 'images'), 'sl6.img');
      await seedSequence(s, img);
      checkPublished(s, pki, '0.0.1');
      await ok(s, `--select-imagelist ${s.list} --upload-imagelist`);
      checkPublished(s, pki, '0.0.2');
      // The older spelling of seed 001 does the same.
      // The older spelling of seed 001, with the DISH_* variables of releases up to 0.0.13 and a list
      // lifetime from VMCASTER_IMAGELIST_LIFETIME; no ~/.globus, no ~/.vmcaster.cfg.
      const cfg = join(base, 'dish.cfg');
      renameSync(join(s.home, '.vmcaster.cfg'), cfg);
      rmSync(join(s.home, '.globus'), { recursive: true });
      const dish = {
        DISH_CFG: cfg,
        DISH_CERT: pki.endorser.cert,
        DISH_KEY: pki.endorser.key,
        VMCASTER_IMAGELIST_LIFETIME: '3',
      };
      await ok(s, `--imagelist ${s.list} --update`, { env: dish });
      checkPublished(s, pki, '0.0.3', 3);
      await ok(s, `--select-imagelist ${s.list} --upload-imagelist --lifetime-imagelist 7`, { env: dish });
      checkPublished(s, pki, '0.0.4', 7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
