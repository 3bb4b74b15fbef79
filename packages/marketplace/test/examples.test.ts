// examples/marketplace/run.sh end to end (the README's marketplace command): it publishes the lists into a
// marketplace on a free loopback port, prints the URL, and stops its server when it ends.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const work = tempDir('hepix-market-example-');
afterAll(() => work.dispose());

function run(args: string[] = []): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'examples/marketplace/run.sh'), ...args], {
      // The build is the global setup's job; the script's own set-up step would rebuild under other tests.
      env: { ...process.env, MARKETPLACE_DIR: work.dir, MARKETPLACE_SKIP_SETUP: '1', MARKETPLACE_EXIT: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('examples/marketplace/run.sh', () => {
  it('publishes the example lists, prints the URL to open, and stops its server at the end', {
    timeout: 180_000,
  }, async () => {
    const { code, out } = await run();
    expect(code, out).toBe(0);
    expect(out).toContain('(exit 12: an unsigned list is refused)');
    expect(out).toMatch(/^deprecated ttylinux v13\.0 x86_64 /m);
    expect(out).toContain('4 images; subscribe to a list with vmcatcher_subscribe -s');
    const url = /^Open (http:\/\/127\.0\.0\.1:\d+)\/ in a browser$/m.exec(out)?.[1];
    expect(url, out).toBeDefined();
    await expect(fetch(`${url}/api/lists`)).rejects.toThrow();
  });
});
