// examples/glance/run.sh must keep working: a site with Glance, end to end (the script checks Glance itself).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { glanceImages, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const work = tempDir('hepix-glance-example-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('examples/glance/run.sh', () => {
  it('publishes, subscribes, caches and lands the image in Glance', { timeout: 300_000 }, async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('bash', [join(root, 'examples/glance/run.sh')], {
        env: { ...process.env, GLANCE_EXAMPLE_DIR: work },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, out }));
    });
    expect(code, out).toBe(0);
    expect(out).toContain('Glance stored exactly the converted disk (sha512 checked)');
    const tag = /^tag: (\S+)$/m.exec(
      (await import('node:fs')).readFileSync(join(work, 'site/vmcatcher-glance.yaml'), 'utf8'),
    )?.[1];
    const images = await glanceImages(tag as string);
    expect(images.map((i) => [i.status, i.disk_format, i.visibility])).toEqual([
      ['active', 'raw', 'community'],
    ]);
  });
});
