// Generates the test PKI once per run with the openssl CLI (test/fixtures/make-pki.sh).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    smimePki: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'smime-pki-'));
  const script = fileURLToPath(new URL('./fixtures/make-pki.sh', import.meta.url));
  execFileSync('bash', [script, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  project.provide('smimePki', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
