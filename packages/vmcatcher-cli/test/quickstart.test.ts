// Runs the README's first command (examples/quickstart/run.sh) end to end: vmcaster publishes a signed list and
// an image to a loopback HTTP server, vmcatcher subscribes, updates, selects the image and caches it, and the
// manual's example handler records the events.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'quickstart-test-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'examples/quickstart/run.sh')], {
      // The build is the test setup's job (or CI's); the script's own set-up step would rebuild under other tests.
      env: { ...process.env, QUICKSTART_DIR: work, QUICKSTART_SKIP_SETUP: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('examples/quickstart/run.sh', () => {
  it('publishes, subscribes, caches the image and fires the events', { timeout: 180_000 }, async () => {
    const { code, out } = await run();
    expect(code, out).toBe(0);

    // The image state goes 0 → 2 → 3 as in the vmcatcher manual.
    const states = [...out.matchAll(/^[0-9a-f-]{36}\t(\d)\t[0-9a-f-]{36}$/gm)].map((m) => m[1]);
    expect(states).toEqual(['0', '2', '3']);

    const events = readFileSync(join(work, 'site/events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(events.map((e) => e.VMCATCHER_EVENT_TYPE)).toEqual([
      'ProcessPrefix',
      'AvailablePrefix',
      'AvailablePostfix',
      'ProcessPostfix',
    ]);
    const available = events[2];
    const image = available.VMCATCHER_EVENT_DC_IDENTIFIER;
    expect(available.VMCATCHER_EVENT_FILENAME).toBe(image);

    // The cached file is the published one: its sha512 is the one in the signed list.
    const cached = readFileSync(join(work, 'site/cache', image));
    expect(createHash('sha512').update(cached).digest('hex')).toBe(
      available.VMCATCHER_EVENT_SL_CHECKSUM_SHA512,
    );
    const published = readdirSync(join(work, 'www/images'));
    expect(published).toHaveLength(1);
    expect(readFileSync(join(work, 'www/images', published[0])).equals(cached)).toBe(true);
  });
});
