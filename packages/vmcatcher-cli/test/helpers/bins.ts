// The built vmcatcher bins on a PATH of their own, run as an administrator (or cron) would run them.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';

const dist = new URL('../../dist/bin/', import.meta.url).pathname;

export const BIN_NAMES = [
  'vmcatcher',
  'vmcatcher_cache',
  'vmcatcher_image',
  'vmcatcher_subscribe',
  'vmcatcher_eventHndlExpl',
] as const;

/** A directory with every bin linked into it, for PATH. */
export async function binDir(root: string): Promise<string> {
  const bin = join(root, 'bin');
  await mkdir(bin, { recursive: true });
  for (const name of BIN_NAMES) {
    await chmod(join(dist, `${name}.js`), 0o755);
    await symlink(join(dist, `${name}.js`), join(bin, name));
  }
  return bin;
}

/** The file a bin runs from (for a launcher that runs it in its own process). */
export function binFile(name: (typeof BIN_NAMES)[number]): string {
  return join(dist, `${name}.js`);
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function start(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): ChildProcess & { done: Promise<Finished> } {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return Object.assign(child, { done });
}

export function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return start(command, args, options).done;
}
