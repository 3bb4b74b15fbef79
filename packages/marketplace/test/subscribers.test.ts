// What subscribers see of the marketplace: the real vmcatcher bins subscribe to a marketplace URL and update
// from it, and lists carrying sl:deprecated and sl:locations are still accepted by the original decoder's
// rules (test/fixtures/legacy-decoder.py) and by vmcatcher.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MarketplaceServer, startMarketplace } from '../src/index.js';
import { listJson, makePki, signedList, type TestPki, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const vmcatcher = (name: string) => join(root, 'packages/vmcatcher-cli/dist/bin', `${name}.js`);
const work = tempDir();
let pki: TestPki;
let server: MarketplaceServer;
const LIST = '66666666-0000-4000-8000-000000000001';
const IMG = '66666666-0000-4000-8000-0000000000aa';
const OLD = '66666666-0000-4000-8000-0000000000bb';

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env: { PATH: process.env.PATH, ...env }, cwd: work.dir },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const spec = (version: string, created: Date) => ({
  identifier: LIST,
  version,
  created,
  images: [
    {
      identifier: IMG,
      version,
      extra: { 'sl:locations': ['https://mirror-a.example.org/img', 'https://mirror-b.example.org/img'] },
    },
    { identifier: OLD, extra: { 'sl:deprecated': 'replaced by the other image' } },
  ],
});

beforeAll(async () => {
  pki = makePki(join(work.dir, 'pki'));
  server = await startMarketplace({
    db: `sqlite:///${join(work.dir, 'market.db')}`,
    listen: '127.0.0.1:0',
    certDir: pki.certDir,
  });
}, 180_000);
afterAll(async () => {
  await server?.close();
  work.dispose();
});

describe('subscribers', () => {
  it('the original decoder rules accept a list with sl:deprecated and sl:locations and keep both images', async () => {
    const r = await run(
      'python3',
      [join(import.meta.dirname, 'fixtures/legacy-decoder.py')],
      {},
      listJson(pki, spec('1', new Date())),
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ accepted: true, reason: '', images: [IMG, OLD] });
    // The rules do drop an image without a required key (so the check above can fail).
    const broken = JSON.parse(listJson(pki, spec('1', new Date())));
    delete broken['hv:imagelist']['hv:images'][1]['hv:image']['sl:comments'];
    const dropped = await run(
      'python3',
      [join(import.meta.dirname, 'fixtures/legacy-decoder.py')],
      {},
      JSON.stringify(broken),
    );
    expect(JSON.parse(dropped.stdout).images).toEqual([IMG]);
  });

  it('vmcatcher_subscribe -s <marketplace>/lists/<id>.smime, then -U picks up a newer version', async () => {
    const upload = async (data: Uint8Array) =>
      (await fetch(`${server.url}/api/lists`, { method: 'POST', body: data })).status;
    expect(await upload(signedList(pki, spec('1', new Date(Date.now() - 60_000)), work.dir))).toBe(201);
    const env = {
      VMCATCHER_RDBMS: `sqlite:///${join(work.dir, 'vmcatcher.db')}`,
      VMCATCHER_DIR_CERT: pki.certDir,
    };
    let r = await run(
      process.execPath,
      [
        vmcatcher('vmcatcher_endorser'),
        '--create',
        '--endorser_uuid',
        'owen',
        '--subject',
        pki.endorser.subject,
        '--issuer',
        pki.endorser.issuer,
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const url = `${server.url}/lists/${LIST}.smime`;
    r = await run(process.execPath, [vmcatcher('vmcatcher_subscribe'), '-s', url], env);
    expect(r.code, r.stderr).toBe(0);
    r = await run(process.execPath, [vmcatcher('vmcatcher_image'), '-l'], env);
    expect(r.stdout.trim().split('\n').sort()).toEqual([`${IMG}\t0\t${LIST}`, `${OLD}\t0\t${LIST}`].sort());

    expect(await upload(signedList(pki, spec('2', new Date()), work.dir))).toBe(201);
    r = await run(process.execPath, [vmcatcher('vmcatcher_subscribe'), '-U', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ subscription: LIST, status: 0, code: null }),
    ]);
    r = await run(process.execPath, [vmcatcher('vmcatcher_subscribe'), '-i', '-u', LIST, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({
        ImageListInstance: expect.objectContaining({ version: '2', expired: null }),
        Subscription: expect.objectContaining({ identifier: LIST, uri: url }),
      }),
    ]);
  });
});
