// Test helpers: running the BUILT bin as a user would (the PKI comes from @hepix/test-support).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_CA_SUBJECT } from '@hepix/test-support';

export const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
export const CA_DN = TEST_CA_SUBJECT;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  /** Extra argv before node (e.g. ['prlimit', '--fsize=N']). */
  wrapper?: string[];
  input?: string;
  /** Writes `send` to stdin once stdout or stderr matches `when` (a prompt), then closes stdin. */
  respond?: { when: RegExp; send: string };
  /** Sends SIGINT once stdout or stderr matches (Ctrl-C in the middle of something). */
  interrupt?: RegExp;
}

/** Runs `vmcaster ARGS` (the built bin) with a clean environment. */
export function vmcaster(args: string[], options: RunOptions): Promise<RunResult> {
  const argv = [...(options.wrapper ?? []), process.execPath, bin, ...args];
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let answered = false;
    let interrupted = false;
    const check = () => {
      if (options.interrupt && !interrupted && options.interrupt.test(stdout + stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
      if (options.respond && !answered && options.respond.when.test(stdout + stderr)) {
        answered = true;
        child.stdin.end(options.respond.send);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      check();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      check();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (!options.respond) child.stdin.end(options.input ?? '');
  });
}

/** Splits a command line from the seed READMEs into argv (quotes group words; no expansion). */
export function words(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

export function sha512File(path: string): string {
  return createHash('sha512').update(readFileSync(path)).digest('hex');
}

/** name → sha512 of every file below `dir` (recursively), to prove nothing changed. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string, prefix: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${name}/`);
      else out[`${prefix}${name}`] = sha512File(p);
    }
  };
  walk(dir, '');
  return out;
}
