// Trust is withdrawn (site-safety 3): when the endorser of a stored list is revoked, its certificate or CA
// expires or leaves the trust directory, or it is unlinked or deleted, the next `vmcatcher_subscribe -U`
// withdraws the stored list: its images lose state bit 2 (`vmcatcher_image -l`) and nothing else in the store
// changes. A replayed old, expired list with the stored version changes nothing (site-safety 5). Lists signed
// with the openssl CLI, served on 127.0.0.1, trust directories made with openssl; the tools run in-process.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sha512Hex } from '@hepix/common';
import { imageInstances } from '@hepix/image-cache';
import { openList } from '@hepix/imagelist-client';
import { openStore } from '@hepix/imagelist-store';
import { TrustStore } from '@hepix/smime-x509';
import {
  copyTrustDir,
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  revoke,
  signList,
  startHttpServer,
  startHttpsServer,
  type TestCa,
  type TestCert,
  type TestPki,
  type TestServer,
  type TrustDir,
  writeTrustCrl,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runEndorserCommand, runImageCommand, runSubscribeCommand } from '../src/index.js';

const DAY = 86_400_000;
let tmp: string;
let pki: TestPki;
let otherCa: TestCa;
/** Two CAs: the endorsers' and another one, so that removing the first leaves a working directory. */
let trust: TrustDir;
let http: TestServer;
let https: TestServer;

type Tool = (argv: string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>;

async function run(tool: Tool, argv: string[], env: NodeJS.ProcessEnv) {
  const out = { stdout: '', stderr: '' };
  const status = await tool(argv, env, {
    stdout: (t) => {
      out.stdout += t;
    },
    stderr: (t) => {
      out.stderr += t;
    },
  });
  return { status, ...out };
}

interface Scenario {
  name: string;
  dir: string;
  certDir: string;
  env: NodeJS.ProcessEnv;
  db: string;
  list: string;
  images: [string, string];
  url: string;
  server: TestServer;
  path: string;
}

function listBytes(
  s: Pick<Scenario, 'list' | 'images' | 'url'>,
  signer: TestCert,
  over: { version?: string; created?: Date; expires?: Date } = {},
): Buffer {
  return signList(
    makeListJson({
      identifier: s.list,
      version: over.version ?? '1.0',
      created: over.created ?? new Date(Date.now() - DAY),
      expires: over.expires ?? new Date(Date.now() + 28 * DAY),
      uri: s.url,
      dn: signer.subject,
      ca: signer.issuer,
      images: s.images.map((identifier) => ({ identifier })),
    }),
    signer,
  );
}

/**
 * A site with one subscription whose list `signer` signed: endorser created, subscribed, updated, the first
 * image subscribed for caching (state 3), the second available (state 2).
 */
async function scenario(
  name: string,
  signer: TestCert,
  options: { https?: boolean } = {},
): Promise<Scenario> {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const certDir = copyTrustDir(trust.path, join(dir, 'certificates'));
  const db = `sqlite:///${join(dir, 'vmcatcher.db')}`;
  const server = options.https ? https : http;
  const path = `/${name}/image.list`;
  const s: Scenario = {
    name,
    dir,
    certDir,
    db,
    env: { VMCATCHER_RDBMS: db, VMCATCHER_DIR_CERT: certDir },
    list: randomUUID(),
    images: [randomUUID(), randomUUID()],
    url: `${server.url}${path}`,
    server,
    path,
  };
  server.serve(path, listBytes(s, signer));
  const steps: [Tool, string[]][] = [
    [runEndorserCommand, ['-C', '-e', 'owen', '-S', signer.subject, '-I', signer.issuer]],
    [runSubscribeCommand, ['-s', s.url, ...(options.https ? ['--uri-trustanchor-set', 'igtf'] : [])]],
    [runSubscribeCommand, ['-U']],
    [runImageCommand, ['-a', '-u', s.images[0]]],
  ];
  for (const [tool, argv] of steps) {
    const r = await run(tool, argv, s.env);
    expect(r.status, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
  }
  expect(await states(s)).toEqual([3, 2]);
  return s;
}

/** The states `vmcatcher_image -l` prints for the scenario's two images, in order. */
async function states(s: Scenario): Promise<number[]> {
  const r = await run(runImageCommand, ['-l'], s.env);
  expect(r.status).toBe(0);
  const byImage = new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .map(([image, state]) => [image, Number(state)]),
  );
  return s.images.map((i) => byImage.get(i) ?? -1);
}

/**
 * Everything the store holds about the site, but the withdrawal, the derived states and the record of update
 * attempts (`lastAttempt`, `lastSuccess`, `lastError`: every attempt, refused or not, is recorded).
 */
async function snapshot(s: Scenario) {
  const store = await openStore(s.db);
  try {
    const sub = store.subscriber;
    const latest = await sub.getLatestImageList(s.list);
    return {
      store: {
        endorsers: await sub.listEndorsers(),
        links: await sub.listLinks(),
        subscriptions: (await sub.listSubscriptions()).map(
          ({ latest: l, lastAttempt: _a, lastSuccess: _s, lastError: _e, ...rest }) => ({
            ...rest,
            latest: l && { id: l.id, dataHash: l.dataHash, version: l.version, expired: l.expired },
          }),
        ),
        images: (await sub.listImages()).map((i) => ({ identifier: i.identifier, cache: i.cache })),
        failedEvents: await sub.listFailedEvents(),
      },
      withdrawn: latest?.withdrawn,
      expired: latest?.expired,
    };
  } finally {
    await store.close();
  }
}

/** -U withdraws the stored list with `code`, exits `status`, and changes nothing else. */
async function expectWithdrawn(s: Scenario, status: number, code: string) {
  const before = await snapshot(s);
  expect(before.withdrawn).toBeUndefined();
  const r = await run(runSubscribeCommand, ['-U', '--json'], s.env);
  expect(r.status, r.stderr).toBe(status);
  const [result] = JSON.parse(r.stdout);
  expect(result).toMatchObject({ subscription: s.list, outcome: 'rejected', status });
  expect(result.withdrawn).toMatchObject({ code });
  expect(r.stderr).toMatch(
    new RegExp(
      `WARNING:db_actions:Image list of subscription '${s.list}' withdrawn, its images are no longer available`,
    ),
  );
  const after = await snapshot(s);
  expect(after.withdrawn).toMatchObject({ code });
  expect(after.withdrawn?.reason).toBe(result.withdrawn.reason);
  expect(after.store).toEqual(before.store);
  expect(after.expired).toBeUndefined();
  expect(await states(s)).toEqual([1, 0]);

  // A second run keeps the first withdrawal as it was.
  const again = await run(runSubscribeCommand, ['-U'], s.env);
  expect(again.status).toBe(status);
  expect((await snapshot(s)).withdrawn).toEqual(after.withdrawn);
  return after;
}

beforeAll(async () => {
  tmp = makeTempDir('hepix-withdrawal-');
  pki = makePki(join(tmp, 'pki'));
  otherCa = pki.pki.rootCa('other-ca', { subject: '/C=CH/O=Elsewhere/CN=Other Test CA' });
  trust = pki.pki.trustDir('two-cas', { cas: [pki.ca, otherCa] });
  http = await startHttpServer();
  https = await startHttpsServer(pki.server.cert, pki.server.key);
}, 120_000);

afterAll(async () => {
  await Promise.all([http?.close(), https?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('vmcatcher_subscribe -U withdraws a stored list whose trust is gone', () => {
  it('the endorser certificate is revoked (CRL updated): 11, ERR_SMIME_REVOKED', async () => {
    const signer = issueCert(pki, 'revoked-endorser', '/C=DE/O=GermanGrid/OU=DESY/CN=Revoked Endorser');
    const s = await scenario('revoked', signer);
    revoke(pki, signer, s.certDir);
    await expectWithdrawn(s, 11, 'ERR_SMIME_REVOKED');
  });

  it('its CA leaves the trust directory: withdrawn although the https fetch itself fails (50)', async () => {
    const s = await scenario('ca-removed', pki.endorser, { https: true });
    for (const name of readdirSync(s.certDir)) {
      if (name === 'ca.pem' || name.startsWith(`${pki.ca.hash}.`)) rmSync(join(s.certDir, name));
    }
    await expectWithdrawn(s, 50, 'ERR_SMIME_UNTRUSTED');
  });

  it('the endorser certificate has expired: 11, ERR_SMIME_CERT_EXPIRED', async () => {
    // The endorser renewed its certificate (same name): the site holds a list signed by the old one, which
    // -U stored while it was valid and which has expired since.
    const renewed = issueCert(pki, 'renewed-endorser', '/C=DE/O=GermanGrid/OU=DESY/CN=Renewed Endorser');
    const old = issueCert(pki, 'old-endorser', '/C=DE/O=GermanGrid/OU=DESY/CN=Renewed Endorser', {
      // Inside the test CA's own validity (from one day ago).
      notBefore: new Date(Date.now() - 20 * 3600_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    const s = await scenario('expired', renewed);
    const data = listBytes(s, old, { version: '1.1', created: new Date(Date.now() - 12 * 3600_000) });
    const store = await openStore(s.db);
    try {
      // Opened as -U opened it then (the CRL of today did not exist yet, hence no CRL check here).
      const opened = await openList(data, {
        trust: await TrustStore.fromDirectory(s.certDir),
        at: new Date(Date.now() - 10 * 3600_000),
        crl: 'ignore',
      });
      const metadata: Record<string, unknown> = { ...opened.list };
      delete metadata['hv:images'];
      await store.subscriber.recordImageList(s.list, {
        data,
        dataHash: sha512Hex(data),
        created: opened.created,
        expires: opened.expires,
        version: opened.version,
        signer: opened.signer,
        metadata,
        images: imageInstances(opened, () => {}),
      });
    } finally {
      await store.close();
    }
    s.server.serve(s.path, data);
    expect(await states(s)).toEqual([3, 2]);
    await expectWithdrawn(s, 11, 'ERR_SMIME_CERT_EXPIRED');
  });

  it('the endorser is unlinked from the subscription: 13; linking it again makes the list count anew', async () => {
    const s = await scenario('unlinked', pki.endorser);
    const u = await run(runEndorserCommand, ['--unlink', '-e', 'owen', '-s', s.list], s.env);
    expect(u.status).toBe(0);
    const withdrawn = await expectWithdrawn(s, 13, 'ERR_LIST_NOT_AUTHORISED');
    const l = await run(runEndorserCommand, ['--link', '-e', 'owen', '-s', s.list], s.env);
    expect(l.status).toBe(0);
    // Re-linking alone reinstates nothing: the withdrawn list stays withdrawn until -U records a valid list.
    expect(await states(s)).toEqual([1, 0]);
    const r = await run(runSubscribeCommand, ['-U', '--json'], s.env);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ outcome: 'updated', withdrawn: null });
    expect(await states(s)).toEqual([3, 2]);
    const after = await snapshot(s);
    expect(after.withdrawn).toBeUndefined();
    const latest = after.store.subscriptions[0].latest;
    expect(latest?.dataHash).toBe(withdrawn.store.subscriptions[0].latest?.dataHash);
    expect(latest?.id).not.toBe(withdrawn.store.subscriptions[0].latest?.id);
  });

  it('the endorser is deleted with vmcatcher_endorser -D: 13', async () => {
    const s = await scenario('deleted', pki.endorser);
    const d = await run(runEndorserCommand, ['-D', '-e', 'owen'], s.env);
    expect(d.status).toBe(0);
    await expectWithdrawn(s, 13, 'ERR_LIST_NOT_AUTHORISED');
  });

  it('a stale CRL withdraws nothing: the fetched list is refused (11), the stored one kept', async () => {
    const s = await scenario('stale-crl', pki.endorser);
    writeTrustCrl(s.certDir, pki.ca, null);
    const before = await snapshot(s);
    const r = await run(runSubscribeCommand, ['-U', '--json'], s.env);
    expect(r.status).toBe(11);
    expect(JSON.parse(r.stdout)[0].withdrawn).toBeNull();
    expect(r.stderr).toContain('cannot be re-validated now');
    expect(await snapshot(s)).toEqual(before);
    expect(await states(s)).toEqual([3, 2]);
  });
});

describe('a replayed old, expired list', () => {
  it('with the stored hv:version is refused (34) and does not mark the stored list expired', async () => {
    const s = await scenario('replay', pki.endorser);
    const genuine = listBytes(s, pki.endorser, { version: '2.0' });
    s.server.serve(s.path, genuine);
    expect((await run(runSubscribeCommand, ['-U'], s.env)).status).toBe(0);
    const before = await snapshot(s);
    expect(before.store.subscriptions[0].latest?.version).toBe('2.0');

    // Captured long ago: same version, older, expired since.
    const replayed = listBytes(s, pki.endorser, {
      version: '2.0',
      created: new Date(Date.now() - 40 * DAY),
      expires: new Date(Date.now() - 10 * DAY),
    });
    s.server.serve(s.path, replayed);
    const r = await run(runSubscribeCommand, ['-U', '--json'], s.env);
    expect(r.status).toBe(34);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_LIST_EXPIRED', markedExpired: false });
    expect(await snapshot(s)).toEqual(before);
    expect(await states(s)).toEqual([3, 2]);

    // The genuine list is still the current one.
    s.server.serve(s.path, genuine);
    const back = await run(runSubscribeCommand, ['-U', '--json'], s.env);
    expect(back.status).toBe(0);
    expect(JSON.parse(back.stdout)[0]).toMatchObject({ outcome: 'unchanged', status: 0 });
    expect(await states(s)).toEqual([3, 2]);
  });
});
