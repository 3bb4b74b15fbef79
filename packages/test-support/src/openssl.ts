// The openssl CLI, always spawned with an argv array and an empty configuration (OPENSSL_CONF=/dev/null), so
// that the machine's openssl.cnf cannot change what the fixtures look like.
import { execFile, execFileSync } from 'node:child_process';

/** The environment every openssl call runs with. */
export function opensslEnv(): NodeJS.ProcessEnv {
  return { ...process.env, OPENSSL_CONF: '/dev/null' };
}

/** openssl exited with a non-zero status; `stderr` says why. */
export class OpensslError extends Error {
  override readonly name = 'OpensslError';
  constructor(
    readonly args: readonly string[],
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(`openssl ${args.join(' ')} failed (${status ?? 'signal'}): ${stderr.trim()}`);
  }
}

export interface OpensslOptions {
  /** Written to standard input. */
  input?: string | Uint8Array;
  cwd?: string;
}

/** Runs `openssl ARGS` and returns its standard output; throws OpensslError on failure. */
export function openssl(args: readonly string[], options: OpensslOptions = {}): Buffer {
  try {
    return execFileSync('openssl', args, {
      env: opensslEnv(),
      cwd: options.cwd,
      input: options.input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 1 << 30,
    });
  } catch (err) {
    const e = err as { status?: number | null; stderr?: Buffer };
    throw new OpensslError(args, e.status ?? null, e.stderr?.toString() ?? String(err));
  }
}

export interface OpensslResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs `openssl ARGS` without throwing: for tests that check openssl's own verdict (its exit status). */
export function runOpenssl(args: readonly string[], input?: string | Uint8Array): Promise<OpensslResult> {
  const child = execFile('openssl', args, { encoding: 'buffer', maxBuffer: 1 << 30, env: opensslEnv() });
  const done = new Promise<OpensslResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
  });
  // openssl may exit without reading standard input (it read a file argument).
  child.stdin?.on('error', () => {});
  child.stdin?.end(input);
  return done;
}
