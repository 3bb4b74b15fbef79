// The vmmarketplace bin as users run it (dist/bin, built by the global setup): validate, upload, expiring,
// serve, and one exit status per error code.
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, MARKETPLACE_ERROR_CODES, type MarketplaceServer, startMarketplace } from '../src/index.js';
import { DAY, issueCert, makePki, signedList, type TestPki, tampered, tempDir } from './helpers.js';

const bin = fileURLToPath(new URL('../dist/bin/vmmarketplace.js', import.meta.url));
const work = tempDir();
let pki: TestPki;
let jane: { cert: string; key: string };
const JANE = '/C=DE/O=GermanGrid/OU=CERN/CN=Jane Doe';
const L = (n: number) => `55555555-0000-4000-8000-${String(n).padStart(12, '0')}`;

function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { PATH: process.env.PATH, ...env }, cwd: work.dir },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

function file(name: string, data: Uint8Array | string): string {
  const path = join(work.dir, name);
  writeFileSync(path, data);
  return path;
}

beforeAll(() => {
  pki = makePki(join(work.dir, 'pki'));
  jane = issueCert(pki, 'jane', JANE);
}, 180_000);
afterAll(() => work.dispose());

describe('exit table', () => {
  it('maps every marketplace code to its own status', () => {
    for (const code of MARKETPLACE_ERROR_CODES) expect(EXIT[code], code).toBeGreaterThan(0);
    const statuses = Object.values(EXIT);
    expect(new Set(statuses).size).toBe(statuses.length);
  });
});

describe('vmmarketplace validate', () => {
  it('Valid: FILE, or Invalid: FILE and the reason, with distinct exit statuses', async () => {
    const env = { VMMARKETPLACE_DIR_CERT: pki.certDir };
    const good = file(
      'good.smime',
      signedList(pki, { identifier: L(1), version: '1', images: [] }, work.dir),
    );
    expect(await run(['validate', good], env)).toEqual({ code: 0, stdout: `Valid: ${good}\n`, stderr: '' });

    const unsigned = file('unsigned.json', '{"hv:imagelist": {"dc:identifier": "x"}}\n');
    expect(await run(['validate', unsigned], env)).toEqual({
      code: EXIT.ERR_MARKET_NO_SIGNATURE,
      stdout: `Invalid: ${unsigned}\nno signature\n`,
      stderr: '',
    });
    const bad = file(
      'bad.smime',
      tampered(signedList(pki, { identifier: L(1), version: '1', images: [] }, work.dir)),
    );
    const r = await run(['validate', bad, '--cert-dir', pki.certDir]);
    expect(r.code).toBe(EXIT.ERR_MARKET_SIGNATURE);
    expect(r.stdout).toMatch(
      new RegExp(`^Invalid: ${bad}\\nsignature not valid \\(ERR_SMIME_DIGEST_MISMATCH\\)`),
    );
    const expired = file(
      'expired.smime',
      signedList(
        pki,
        {
          identifier: L(1),
          version: '1',
          created: new Date(Date.now() - 3 * DAY),
          expires: new Date(Date.now() - DAY),
          images: [],
        },
        work.dir,
      ),
    );
    expect((await run(['validate', expired], env)).code).toBe(EXIT.ERR_MARKET_EXPIRED);
    const mismatch = file(
      'mismatch.smime',
      signedList(pki, { identifier: L(1), version: '1', images: [] }, work.dir, jane),
    );
    expect((await run(['validate', mismatch], env)).code).toBe(EXIT.ERR_MARKET_SIGNER_MISMATCH);

    const missing = await run(['validate', join(work.dir, 'nope.smime')], env);
    expect(missing.code).toBe(EXIT.ERR_MARKET_USAGE);
    expect(missing.stderr).toMatch(/^vmmarketplace: ERR_MARKET_USAGE: cannot read/);
    const noTrust = await run(['validate', good, '--cert-dir', join(work.dir, 'no-such-dir')]);
    expect(noTrust.code).toBe(EXIT.ERR_MARKET_CONFIG);
    expect((await run(['frobnicate'])).code).toBe(EXIT.ERR_MARKET_USAGE);
    expect((await run(['validate', good, '--bogus'], env)).code).toBe(EXIT.ERR_MARKET_USAGE);
  });
});

describe('vmmarketplace upload and expiring', () => {
  let server: MarketplaceServer;
  const db = () => `sqlite:///${join(work.dir, 'upload.db')}`;

  beforeAll(async () => {
    server = await startMarketplace({
      db: db(),
      listen: '127.0.0.1:0',
      certDir: pki.certDir,
      allowEndorsers: ['/C=DE/O=GermanGrid/OU=DESY/.*'],
    });
  });
  afterAll(() => server?.close());

  it('uploads a list and prints its URL; a refusal exits with its code', async () => {
    const list = file(
      'up.smime',
      signedList(
        pki,
        { identifier: L(2), version: '1', expires: new Date(Date.now() + 5 * DAY), images: [] },
        work.dir,
      ),
    );
    let r = await run(['upload', list, '--url', `${server.url}/`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${server.url}/api/lists/${L(2)}\n`);
    expect(r.stderr).toContain(`subscribe to ${server.url}/lists/${L(2)}.smime`);
    r = await run(['upload', list, '--url', server.url]);
    expect(r.code).toBe(EXIT.ERR_MARKET_NOT_NEWER);
    expect(r.stderr).toMatch(/^vmmarketplace: ERR_MARKET_NOT_NEWER: list .* is not newer/);
    const foreign = file(
      'jane.smime',
      signedList(pki, { identifier: L(3), version: '1', dn: JANE, images: [] }, work.dir, jane),
    );
    expect((await run(['upload', foreign, '--url', server.url])).code).toBe(
      EXIT.ERR_MARKET_ENDORSER_NOT_ALLOWED,
    );
    const json = await run([
      'upload',
      file(
        'j.smime',
        signedList(
          pki,
          {
            identifier: L(4),
            version: '1',
            expires: new Date(Date.now() + 40 * DAY),
            images: [{ identifier: L(40) }],
          },
          work.dir,
        ),
      ),
      '--url',
      server.url,
      '--json',
    ]);
    expect(JSON.parse(json.stdout)).toMatchObject({ identifier: L(4), version: '1', images: 1 });
    // Nothing listens on port 1.
    expect((await run(['upload', list, '--url', 'http://127.0.0.1:1'])).code).toBe(EXIT.ERR_MARKET_HTTP);
    expect((await run(['upload', list])).code).toBe(EXIT.ERR_MARKET_USAGE);
  });

  it('expiring --days N lists what expires within N days, per endorser', async () => {
    const r = await run(['expiring', '--days', '10', '--json'], { VMMARKETPLACE_RDBMS: db() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        endorser: { dn: pki.endorser.subject, ca: pki.endorser.issuer, email: 'owen@example.org' },
        lists: [{ identifier: L(2), version: '1', title: 'Test list', expires: expect.stringMatching(/Z$/) }],
      },
    ]);
    const text = await run(['expiring', '--days', '60', '--db', db()]);
    expect(text.stdout.split('\n')).toEqual([
      `owen@example.org (${pki.endorser.subject})`,
      expect.stringMatching(new RegExp(`^  ${L(2)}\\tversion 1\\texpires .*Z\\tTest list$`)),
      expect.stringMatching(new RegExp(`^  ${L(4)}\\tversion 1\\texpires .*Z\\tTest list$`)),
      '',
    ]);
    expect((await run(['expiring', '--days', 'x', '--db', db()])).code).toBe(EXIT.ERR_MARKET_USAGE);
    const none = await run(['expiring', '--days', '1', '--db', `sqlite:///${join(work.dir, 'missing.db')}`]);
    expect(none.code).toBe(EXIT.ERR_STORE_OPEN);
  });
});

describe('vmmarketplace serve', () => {
  it('listens, serves, and stops on SIGTERM; refuses a bad --allow-endorser at start', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--listen', '127.0.0.1:0', '--cert-dir', pki.certDir, '--allow-endorser', '/C=DE/.*'],
      {
        env: { PATH: process.env.PATH, VMMARKETPLACE_RDBMS: `sqlite:///${join(work.dir, 'serve.db')}` },
        cwd: work.dir,
      },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const lists = await fetch(`${url}/api/lists`);
    expect([lists.status, await lists.json()]).toEqual([200, { total: 0, items: [] }]);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).toMatch(/INFO main marketplace listening on/);

    const bad = await run([
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--cert-dir',
      pki.certDir,
      '--allow-endorser',
      '(',
    ]);
    expect(bad.code).toBe(EXIT.ERR_MARKET_CONFIG);
    expect(bad.stderr).toMatch(/ERR_MARKET_CONFIG: --allow-endorser '\(' is not a valid regular expression/);
    expect((await run(['serve', '--listen', 'nowhere', '--cert-dir', pki.certDir])).code).toBe(
      EXIT.ERR_MARKET_CONFIG,
    );
  });
});
