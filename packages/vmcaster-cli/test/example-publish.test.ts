// Runs examples/publish/run.sh: a throwaway CA and endorser, a list with one image published to a directory
// served over HTTP, fetched back and verified with `openssl smime -verify -crl_check`.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../../examples/publish/run.sh', import.meta.url));

describe('examples/publish/run.sh', () => {
  it('publishes a list that openssl verifies and whose image checksum matches', { timeout: 120_000 }, async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = execFile('bash', [script], { maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
      child.stdin?.end();
    });
    expect(code, out).toBe(0);
    expect(out).toContain('Verification successful');
    expect(out).toContain('image checksum OK');
    expect(out).toMatch(/list [0-9a-f-]{36} version 0\.0\.1/);
  });
});
