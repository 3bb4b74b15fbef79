// Every status of `vmcatcher_subscribe -U` and `-s` for the condition the original vmcatcher gave it
// (reference §3.2), now that the library carries codes and the CLI's one exit table maps them: each refusal
// leaves the store as it was. Lists signed with the openssl CLI, served on 127.0.0.1; the tool runs in-process.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '@hepix/imagelist-store';
import {
  issueCert,
  makeListJson,
  makePki,
  makeTempDir,
  signList,
  startHttpServer,
  startHttpsServer,
  type TestCert,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runEndorserCommand, runSubscribeCommand } from '../src/index.js';

const DAY = 86_400_000;
const LIST = randomUUID();
const IMAGES = [randomUUID(), randomUUID()];
let tmp: string;
let pki: TestPki;
let stranger: TestCert;
let http: TestServer;
let https: TestServer;
let env: NodeJS.ProcessEnv;
let db: string;
const PATH = '/lists/image.list';
let url: string;

type Tool = (argv: string[], env: NodeJS.ProcessEnv, io: CliIo) => Promise<number>;

async function run(tool: Tool, argv: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const out = { stdout: '', stderr: '' };
  const status = await tool(
    argv,
    { ...env, ...extraEnv },
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

interface Spec {
  identifier?: string;
  version?: string;
  created?: Date;
  expires?: Date;
  dn?: string;
  images?: string[];
}

function list(spec: Spec = {}, signer: TestCert = pki.endorser): Buffer {
  return signList(
    makeListJson({
      identifier: spec.identifier ?? LIST,
      version: spec.version ?? '5.0',
      created: spec.created ?? new Date(Date.now() - DAY),
      expires: spec.expires ?? new Date(Date.now() + 28 * DAY),
      uri: url,
      dn: spec.dn ?? signer.subject,
      ca: signer.issuer,
      images: (spec.images ?? IMAGES).map((identifier) => ({ identifier })),
    }),
    signer,
  );
}

async function snapshot() {
  const store = await openStore(db);
  try {
    const s = store.subscriber;
    return {
      // Without the record of update attempts, which every attempt (refused or not) sets.
      subscriptions: (await s.listSubscriptions()).map(
        ({ lastAttempt: _a, lastSuccess: _s, lastError: _e, ...rest }) => rest,
      ),
      latest: await s.getLatestImageList(LIST),
      images: await s.listImages(),
      endorsers: await s.listEndorsers(),
    };
  } finally {
    await store.close();
  }
}

/** The subscription's last recorded error. */
async function lastError() {
  const store = await openStore(db);
  try {
    return (await store.subscriber.getSubscription(LIST))?.lastError;
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  tmp = makeTempDir('hepix-statuses-');
  pki = makePki(join(tmp, 'pki'));
  stranger = issueCert(pki, 'stranger', '/C=DE/O=GermanGrid/OU=DESY/CN=Stranger');
  http = await startHttpServer();
  https = await startHttpsServer(pki.server.cert, pki.server.key);
  url = `${http.url}${PATH}`;
  db = `sqlite:///${join(tmp, 'vmcatcher.db')}`;
  env = { VMCATCHER_RDBMS: db, VMCATCHER_DIR_CERT: pki.certDir };
  http.serve(PATH, list({ version: '5.0' }));
  for (const argv of [
    ['-C', '-e', 'owen', '-S', pki.endorser.subject, '-I', pki.endorser.issuer],
    ['-C', '-e', 'stranger', '-S', stranger.subject, '-I', stranger.issuer],
  ]) {
    expect((await run(runEndorserCommand, argv)).status).toBe(0);
  }
  expect((await run(runSubscribeCommand, ['-s', url])).status).toBe(0);
  const first = await run(runSubscribeCommand, ['-U', '--json']);
  expect(first.status, first.stderr).toBe(0);
  expect(JSON.parse(first.stdout)[0]).toMatchObject({ outcome: 'updated', status: 0, code: null });
}, 120_000);

afterAll(async () => {
  await Promise.all([http?.close(), https?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('vmcatcher_subscribe -U: the original status of every refusal, the store unchanged', () => {
  const tampered = () =>
    Buffer.from(list({ version: '6.0' }).toString('latin1').replace('"6.0"', '"7.0"'), 'latin1');
  const cases: [string, number, string, () => Buffer | { status: number }][] = [
    ['a download that fails (HTTP 404)', 10, 'ERR_LIST_FETCH', () => ({ status: 404 })],
    ['a tampered list', 11, 'ERR_LIST_SIGNATURE', tampered],
    [
      'hv:dn other than the signer',
      12,
      'ERR_LIST_SIGNER_MISMATCH',
      () => list({ version: '6.0', dn: '/C=DE/O=GermanGrid/OU=DESY/CN=Somebody Else' }),
    ],
    [
      'a known endorser not linked to the subscription',
      13,
      'ERR_LIST_NOT_AUTHORISED',
      () => list({ version: '6.0' }, stranger),
    ],
    ['a lower hv:version', 17, 'ERR_LIST_LOWER_VERSION', () => list({ version: '4.9' })],
    [
      'an older dc:date:created (rollback)',
      18,
      'ERR_LIST_ROLLBACK',
      () => list({ version: '6.0', created: new Date(Date.now() - 3 * DAY) }),
    ],
    [
      'another dc:identifier',
      31,
      'ERR_LIST_IDENTIFIER',
      () => list({ version: '6.0', identifier: randomUUID() }),
    ],
    [
      'dc:date:created in the future',
      33,
      'ERR_LIST_CREATED_IN_FUTURE',
      () => list({ version: '6.0', created: new Date(Date.now() + DAY) }),
    ],
    [
      'an expired list older than the stored one',
      34,
      'ERR_LIST_EXPIRED',
      () =>
        list({
          version: '4.0',
          created: new Date(Date.now() - 40 * DAY),
          expires: new Date(Date.now() - DAY),
        }),
    ],
    [
      'signed content that is not JSON',
      37,
      'ERR_LIST_NOT_JSON',
      () => signList('no json here\n', pki.endorser),
    ],
    [
      'JSON that is not an image list',
      38,
      'ERR_LIST_NOT_IMAGELIST',
      () => signList('{"hello": "world"}\n', pki.endorser),
    ],
  ];

  it.each(cases)('%s: exit %i', async (_name, status, code, make) => {
    const body = make();
    if (Buffer.isBuffer(body)) http.serve(PATH, body);
    else http.serve(PATH, 'gone', body.status);
    const before = await snapshot();
    const r = await run(runSubscribeCommand, ['-U', '--json']);
    expect(r.status, r.stderr).toBe(status);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ outcome: 'rejected', status, code });
    // Every failure line has its UTC time and names the subscription and its URI, whatever the message says.
    expect(r.stderr).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} ERROR:db_actions:.* \\[subscription=${LIST} uri=http://`,
        'm',
      ),
    );
    expect(await snapshot()).toEqual(before);
    expect(await lastError()).toMatchObject({ code });
  });

  it('an https server not authenticated by the trust anchor: 50', async () => {
    const id = randomUUID();
    const httpsUrl = `${https.url}/lists/https.list`;
    https.serve('/lists/https.list', list({ identifier: id }));
    // The test CA is no system root: browser (the default) cannot authenticate the server.
    const r = await run(runSubscribeCommand, ['-s', httpsUrl, '--json']);
    expect(r.status).toBe(50);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_LIST_TLS', status: 50 });
  });

  it('new images refused by update mode 0: 32, the list imported', async () => {
    http.serve(PATH, list({ version: '6.0', images: [...IMAGES, randomUUID()] }));
    const r = await run(runSubscribeCommand, ['-U', '--json']);
    expect(r.status).toBe(32);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ outcome: 'updated', status: 32, code: null });
    expect((await snapshot()).latest?.version).toBe('6.0');
  });

  it('-s: an unknown endorser 13, twice the same list 15, an invalid URL 1; -U -u unknown 1', async () => {
    const alien = issueCert(pki, 'alien', '/C=DE/O=GermanGrid/OU=DESY/CN=Alien');
    http.serve('/lists/alien.list', list({ identifier: randomUUID() }, alien));
    let r = await run(runSubscribeCommand, ['-s', `${http.url}/lists/alien.list`, '--json']);
    expect(r.status).toBe(13);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_SUB_UNKNOWN_ENDORSER' });
    r = await run(runSubscribeCommand, ['-s', url, '--json']);
    expect(r.status).toBe(15);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_SUB_CONFLICT' });
    r = await run(runSubscribeCommand, ['-s', 'http://[not a url', '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_SUB_INVALID_ARGUMENT' });
    r = await run(runSubscribeCommand, ['-U', '-u', randomUUID()]);
    expect(r.status).toBe(1);
  });

  it('an expired list not older than the stored one: 34, and the stored list is marked expired', async () => {
    http.serve(
      PATH,
      list({
        version: '7.0',
        created: new Date(Date.now() - DAY / 2),
        expires: new Date(Date.now() - 60_000),
      }),
    );
    const r = await run(runSubscribeCommand, ['-U', '--json']);
    expect(r.status).toBe(34);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ code: 'ERR_LIST_EXPIRED', markedExpired: true });
    expect((await snapshot()).images.every((i) => (i.state & 2) === 0)).toBe(true);
  });
});

describe('--fetch-timeout and --min-rate', () => {
  it('a list still trickling in at --fetch-timeout fails its subscription (10); the others go on', async () => {
    const second = randomUUID();
    http.serve('/lists/second.list', list({ identifier: second }));
    expect((await run(runSubscribeCommand, ['-s', `${http.url}/lists/second.list`])).status).toBe(0);
    // One byte every 200 ms, for ever: the idle timeout alone would never fire.
    http.routes.set(PATH, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write('x'), 200);
      res.on('close', () => clearInterval(timer));
    });
    const before = await snapshot();
    const r = await run(runSubscribeCommand, ['-U', '--json', '--fetch-timeout', '1']);
    expect(r.status, r.stderr).toBe(10);
    const bySub = new Map(JSON.parse(r.stdout).map((x: { subscription: string }) => [x.subscription, x]));
    expect(bySub.get(LIST)).toMatchObject({ outcome: 'rejected', code: 'ERR_LIST_DEADLINE', status: 10 });
    expect(bySub.get(second)).toMatchObject({ outcome: 'updated', status: 0 });
    expect((await snapshot()).latest).toEqual(before.latest);
  });

  it.each([
    ['--fetch-timeout', '0'],
    ['--fetch-timeout', 'soon'],
    ['--min-rate', '-1'],
    ['--min-rate', '1.5'],
  ])('%s %s is refused with exit 1 before anything is fetched', async (option, value) => {
    const r = await run(runSubscribeCommand, ['-U', option, value]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(option);
  });
});
