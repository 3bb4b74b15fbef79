// Test helpers: a throwaway PKI from scripts/make-test-pki.sh, and running the BUILT bin as a user would.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
export const CA_DN = '/C=DE/O=GermanGrid/CN=HEPiX Test CA';

export interface Pki {
  dir: string;
  certificates: string;
  cert: string;
  key: string;
  encKey: string;
  passphraseFile: string;
  caCert: string;
}

export function makePki(dir: string, cn = 'Owen Synge'): Pki {
  const r = spawnSync('bash', [join(repoRoot, 'scripts/make-test-pki.sh'), dir, cn], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make-test-pki.sh failed: ${r.stderr}`);
  return {
    dir,
    certificates: join(dir, 'certificates'),
    cert: join(dir, 'endorser/usercert.pem'),
    key: join(dir, 'endorser/userkey.pem'),
    encKey: join(dir, 'endorser/userkey-enc.pem'),
    passphraseFile: join(dir, 'endorser/passphrase.txt'),
    caCert: join(dir, 'ca/ca.pem'),
  };
}

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

/** `openssl smime -verify -CApath DIR -crl_check`: returns the verified content, throws on failure. */
export function opensslVerify(file: string, caPath: string): string {
  const r = spawnSync('openssl', ['smime', '-verify', '-CApath', caPath, '-crl_check', '-in', file], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`openssl smime -verify failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Issues another certificate for `subject` from the PKI's CA with the given v3 extension lines (openssl CLI),
 * e.g. to get one without keyUsage. Returns the certificate and key paths.
 */
export function issueCertificate(
  pki: Pki,
  name: string,
  subject: string,
  extensions: string[],
): { cert: string; key: string } {
  const dir = join(pki.dir, 'extra');
  mkdirSync(dir, { recursive: true });
  const key = join(dir, `${name}.key.pem`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `[ x ]\n${extensions.join('\n')}\n`);
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  };
  run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  run([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pki.caCert,
    '-CAkey',
    join(pki.dir, 'ca/ca.key'),
    '-set_serial',
    String(Date.now()),
    '-days',
    '3650',
    '-extfile',
    ext,
    '-extensions',
    'x',
    '-out',
    cert,
  ]);
  return { cert, key };
}
