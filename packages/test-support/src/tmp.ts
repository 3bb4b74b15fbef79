import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new empty directory under the system's temporary directory. */
export function makeTempDir(prefix = 'hepix-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory tree; nothing happens when it is not there. */
export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
