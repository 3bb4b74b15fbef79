// A marketplace behind https with a grid host certificate (issued by the test CA, as IGTF CAs issue them):
// `vmmarketplace upload` and a replica authenticate it through the grid CA directory (--cert-dir), and refuse
// it without that directory, storing nothing.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrustStore } from '@hepix/smime-x509';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIngester,
  createMarketplaceApp,
  EXIT,
  type MarketplaceServer,
  startMarketplace,
} from '../src/index.js';
import { makePki, signedList, type TestPki, tempDir } from './helpers.js';

const bin = fileURLToPath(new URL('../dist/bin/vmmarketplace.js', import.meta.url));
const work = tempDir();
const L = (n: number) => `66666666-0000-4000-8000-${String(n).padStart(12, '0')}`;
let pki: TestPki;
let primary: MarketplaceServer;
let https: ReturnType<typeof serve>;
let httpsUrl: string;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No VMMARKETPLACE_DIR_CERT: only --cert-dir names the CA directory.
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { PATH: process.env.PATH }, cwd: work.dir },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  pki = makePki(join(work.dir, 'pki'));
  primary = await startMarketplace({
    db: `sqlite:///${join(work.dir, 'primary.db')}`,
    listen: '127.0.0.1:0',
    certDir: pki.certDir,
  });
  // The same repository served over https, as a TLS front would.
  const app = createMarketplaceApp({
    repository: primary.repository,
    ingester: createIngester({
      repository: primary.repository,
      trust: () => TrustStore.fromDirectory(pki.certDir),
    }),
  });
  httpsUrl = await new Promise<string>((resolve) => {
    https = serve(
      {
        fetch: app.fetch,
        hostname: '127.0.0.1',
        port: 0,
        createServer,
        serverOptions: { cert: readFileSync(pki.server.cert), key: readFileSync(pki.server.key) },
      },
      (info) => resolve(`https://127.0.0.1:${info.port}`),
    );
  });
}, 180_000);

afterAll(async () => {
  await new Promise<void>((resolve) => https?.close(() => resolve()));
  await primary?.close();
  work.dispose();
});

describe('https with a grid host certificate', () => {
  it('upload authenticates the server through --cert-dir, and refuses it without', async () => {
    const list = join(work.dir, 'up.smime');
    writeFileSync(list, signedList(pki, { identifier: L(1), version: '1', images: [] }, work.dir));
    // The system roots alone, and another grid's CA directory: the server is not authenticated.
    const other = makePki(join(work.dir, 'other-pki'));
    for (const args of [[], ['--cert-dir', other.certDir]]) {
      const r = await run(['upload', list, '--url', httpsUrl, ...args]);
      expect(r.code, r.stderr).toBe(EXIT.ERR_MARKET_HTTP);
      expect(r.stderr).toMatch(
        /^vmmarketplace: ERR_MARKET_HTTP: request to https:\/\/127\.0\.0\.1:\d+\/api\/lists failed/,
      );
    }
    // A directory without any CA certificate is a configuration error.
    expect((await run(['upload', list, '--url', httpsUrl, '--cert-dir', work.dir])).code).toBe(
      EXIT.ERR_MARKET_CONFIG,
    );
    expect(await primary.repository.storedListFacts(L(1))).toBeUndefined();

    const r = await run(['upload', list, '--url', httpsUrl, '--cert-dir', pki.certDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${httpsUrl}/api/lists/${L(1)}\n`);
    expect((await primary.repository.storedListFacts(L(1)))?.version).toBe('1');
  });

  it('a replica of an https primary pulls through the CA directory of --cert-dir', async () => {
    const replica = await startMarketplace({
      db: `sqlite:///${join(work.dir, 'replica.db')}`,
      listen: '127.0.0.1:0',
      certDir: pki.certDir,
      replicaOf: httpsUrl,
      replicaIntervalSeconds: 3600,
    });
    try {
      const pass = await replica.sync();
      expect(pass.failed).toEqual([]);
      expect(pass.stored).toContain(L(1));
      const a = Buffer.from(await (await fetch(`${primary.url}/lists/${L(1)}.smime`)).arrayBuffer());
      expect(Buffer.from((await replica.repository.getListData(L(1)))!).equals(a)).toBe(true);
    } finally {
      await replica.close();
    }
  });
});
