// Runs the tools that read publisher bytes (qemu-img, decompressors) under resource limits (prlimit) and,
// when bubblewrap is installed, in an empty mount namespace without network: only /usr (read-only), the
// input files (read-only) and the scratch output directory (writable) exist there.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, readlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { basename, join, relative } from 'node:path';
import type { Logger } from '@hepix/common';
import { GlanceConnectorError } from '../errors.js';

/** `auto`: bubblewrap when installed, else prlimit alone (with a warning); `bwrap`: required; `none`: prlimit alone. */
export type SandboxMode = 'auto' | 'bwrap' | 'none';

export interface ResourceLimits {
  /** RLIMIT_AS of each tool (default 4 GiB). */
  addressSpaceBytes: number;
  /** RLIMIT_CPU of each tool (default 3600 s). */
  cpuSeconds: number;
  /** RLIMIT_FSIZE: no file a tool writes (its output) can grow past this. */
  fileSizeBytes: number;
  /** Wall-clock limit of each tool, then SIGKILL (default 2 hours). */
  wallClockMs: number;
}

export interface SandboxSpec {
  /** Host files the tool reads (read-only inside). */
  inputs?: string[];
  /** The host directory the tool may write (the scratch directory). */
  outputDir?: string;
  /** File descriptors for the tool's standard input and output (decompressors stream fd to fd). */
  stdin?: number;
  stdout?: number;
  limits: ResourceLimits;
}

export interface SandboxResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface Sandbox {
  readonly kind: 'bwrap' | 'prlimit';
  /**
   * Runs `argv(path)`, where `path` maps a host path of `spec.inputs` or under `spec.outputDir` to the path the
   * tool sees. Never throws for the tool's own failure (see `code`); `ERR_GLANCE_SANDBOX` when the sandbox
   * itself could not start.
   */
  run(spec: SandboxSpec, argv: (path: (host: string) => string) => string[]): Promise<SandboxResult>;
}

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of an executable on PATH (or the usual system directories). */
export async function findExecutable(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const dirs = [...(env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), ...SEARCH];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The root directories the tools need: /usr read-only, and /bin, /lib… as links on merged-/usr systems. */
async function systemBinds(): Promise<string[]> {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const d of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const st = await lstat(d);
      if (st.isSymbolicLink()) args.push('--symlink', await readlink(d), d);
      else if (st.isDirectory()) args.push('--ro-bind', d, d);
    } catch {
      // absent on this system
    }
  }
  args.push('--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache');
  return args;
}

const MAX_STDOUT = 4 << 20;
const MAX_STDERR = 64 << 10;

export interface CreateSandboxOptions {
  mode?: SandboxMode;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

/** Finds prlimit (required) and bubblewrap (per `mode`), and checks once that bubblewrap really starts. */
export async function createSandbox(options: CreateSandboxOptions = {}): Promise<Sandbox> {
  const mode = options.mode ?? 'auto';
  const prlimit = await findExecutable('prlimit', options.env);
  if (!prlimit)
    throw new GlanceConnectorError('ERR_GLANCE_SANDBOX', 'prlimit (util-linux) is needed to limit qemu-img');
  const bwrap = mode === 'none' ? undefined : await findExecutable('bwrap', options.env);
  if (mode === 'bwrap' && !bwrap)
    throw new GlanceConnectorError(
      'ERR_GLANCE_SANDBOX',
      'sandbox: bwrap is configured but bubblewrap is not installed',
    );
  if (mode === 'auto' && !bwrap)
    options.log?.('warn', 'bubblewrap (bwrap) is not installed: qemu-img runs under resource limits only');
  const binds = bwrap ? await systemBinds() : [];

  async function exec(cmd: string, args: string[], spec: SandboxSpec): Promise<SandboxResult> {
    return new Promise((resolve) => {
      const child = spawn(cmd, args, {
        // Nothing of the connector's environment (credentials) reaches a tool that reads publisher bytes.
        env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
        stdio: [spec.stdin ?? 'ignore', spec.stdout ?? 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout?.on('data', (d: Buffer) => {
        if (stdout.length < MAX_STDOUT) stdout += d.toString('utf8');
      });
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < MAX_STDERR) stderr += d.toString('utf8');
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, spec.limits.wallClockMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ code: null, signal: null, stdout, stderr: `${stderr}${err.message}`, timedOut });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, timedOut });
      });
    });
  }

  const limitArgs = (l: ResourceLimits) => [
    `--as=${l.addressSpaceBytes}`,
    `--cpu=${l.cpuSeconds}`,
    `--fsize=${l.fileSizeBytes}`,
    '--core=0',
    '--',
  ];

  let checked: Promise<void> | undefined;
  const check = (limits: ResourceLimits): Promise<void> => {
    checked ??= (async () => {
      const r = await exec(
        bwrap as string,
        ['--unshare-all', '--die-with-parent', ...binds, '--', '/usr/bin/true'],
        {
          limits,
        },
      );
      if (r.code !== 0)
        throw new GlanceConnectorError(
          'ERR_GLANCE_SANDBOX',
          `bubblewrap does not start here (${r.stderr.trim() || `exit ${r.code}`}); set sandbox: none to use prlimit alone`,
        );
    })();
    return checked;
  };

  if (!bwrap) {
    return {
      kind: 'prlimit',
      async run(spec, argv) {
        const r = await exec(prlimit, [...limitArgs(spec.limits), ...argv((p) => p)], spec);
        if (r.code === null && !r.timedOut && r.signal === null)
          throw new GlanceConnectorError('ERR_GLANCE_SANDBOX', `prlimit could not run: ${r.stderr}`);
        return r;
      },
    };
  }
  return {
    kind: 'bwrap',
    async run(spec, argv) {
      await check(spec.limits);
      const mounts: string[] = [];
      const map = new Map<string, string>();
      (spec.inputs ?? []).forEach((host, i) => {
        const inside = `/input/${i}/${basename(host)}`;
        map.set(host, inside);
        mounts.push('--ro-bind', host, inside);
      });
      if (spec.outputDir) mounts.push('--bind', spec.outputDir, '/output');
      const path = (host: string): string => {
        const mapped = map.get(host);
        if (mapped) return mapped;
        if (spec.outputDir) {
          const rel = relative(spec.outputDir, host);
          if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) return join('/output', rel);
        }
        throw new GlanceConnectorError('ERR_GLANCE_INTERNAL', `${host} is not visible in the sandbox`);
      };
      const args = [
        '--unshare-all',
        '--die-with-parent',
        '--new-session',
        ...binds,
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--tmpfs',
        '/tmp',
        ...mounts,
        '--chdir',
        '/',
        '--',
        prlimit,
        ...limitArgs(spec.limits),
        ...argv(path),
      ];
      const r = await exec(bwrap, args, spec);
      if (r.code !== 0 && /^bwrap: /m.test(r.stderr))
        throw new GlanceConnectorError('ERR_GLANCE_SANDBOX', `bubblewrap failed: ${r.stderr.trim()}`);
      // bwrap reports a child killed by a signal as exit 128 + the signal number, as a shell does.
      if (r.code !== null && r.code > 128 && r.signal === null) {
        const name = Object.entries(osConstants.signals).find(([, n]) => n === (r.code as number) - 128)?.[0];
        if (name) return { ...r, signal: name as NodeJS.Signals };
      }
      return r;
    },
  };
}
