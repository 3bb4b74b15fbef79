import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makePki, type Pki, tempDir } from './helpers/pki.js';
import { send, startServer, type TestServer } from './helpers/servers.js';

let tmp: string;
let pki: Pki;
let server: TestServer;
const data = randomBytes(4 * 1024 * 1024);

beforeAll(async () => {
  tmp = tempDir();
  pki = makePki(join(tmp, 'pki'));
  server = await startServer({ tls: pki.server });
  server.routes.set('/image', send(data));
}, 60_000);
afterAll(async () => {
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function inWorker(workerData: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/worker.mjs', import.meta.url), { workerData });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

it('works inside worker_threads workers, several at once (no global state)', async () => {
  const results = await Promise.all(
    [1, 2, 3].map(() => inWorker({ url: `${server.origin}/image`, certDir: pki.certDir })),
  );
  const sha256 = createHash('sha256').update(data).digest('hex');
  for (const r of results) expect(r).toEqual({ status: 200, bytes: data.length, sha256 });
  const refused = await inWorker({ url: `${server.origin}/image`, certDir: join(tmp, 'missing') });
  expect(refused.code).toBe('ERR_TRANSPORT_TRUST');
});
