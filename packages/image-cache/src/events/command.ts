import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { eventEnvironment } from './environment.js';
import type { AnyVmcatcherEvent, EventLogger } from './types.js';

export interface RunEventCommandOptions {
  /** Time the handler may take before its process group gets SIGTERM (default 10 000 ms, as documented). */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL to the process group (default 2 000 ms). */
  killGraceMs?: number;
  /** The inherited environment (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  log?: EventLogger;
  /** Most bytes of stdout and of stderr kept for the result (default 1 MiB each). */
  maxOutputBytes?: number;
}

export interface EventCommandResult {
  /** The exit code, or `null` when the handler was killed by a signal or could not be started. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Why the handler could not be started at all (`E2BIG`, `ENOENT` of /bin/sh, …), when it could not. */
  spawnError?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_KILL_GRACE_MS = 2_000;
const DEFAULT_MAX_OUTPUT = 1024 * 1024;

class Capture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    if (this.size >= this.max) {
      this.truncated = true;
      return;
    }
    const part = chunk.subarray(0, this.max - this.size);
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '\n[output truncated]' : '');
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone
  }
}

/** True while some process of the group is still running (zombies waiting for a reaper do not count). */
function groupRunning(pgid: number): boolean {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      } catch {
        continue;
      }
      // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
    }
    return false;
  } catch {
    // No /proc: fall back to kill(0), which also counts zombies.
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Runs the administrator's event command as `/bin/sh -c command` in its own process group. Event values reach
 * it through environment variables only (reference §3.5), and the whole event is written to its standard input
 * as one JSON line. After `timeoutMs` the whole group gets SIGTERM, then SIGKILL after `killGraceMs`.
 * Never throws and never vetoes anything: failures are logged and reported in the result.
 */
export function runEventCommand(
  command: string,
  event: AnyVmcatcherEvent,
  options: RunEventCommandOptions = {},
): Promise<EventCommandResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const graceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const log = options.log ?? (() => {});
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const stdout = new Capture(max);
  const stderr = new Capture(max);
  let env: Record<string, string>;
  let input: string;
  try {
    env = eventEnvironment(event, options.env ?? process.env);
    input = `${JSON.stringify(event)}\n`;
  } catch (err) {
    return Promise.resolve(notStarted(event, err, log));
  }

  return new Promise<EventCommandResult>((resolve) => {
    let settled = false;
    let timedOut = false;
    let exitCode: number | null = null;
    let signal: string | null = null;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    let killed = false;
    let pollTimer: NodeJS.Timeout | undefined;

    let child: ChildProcessByStdio<Writable, Readable, Readable>;
    try {
      child = spawn('/bin/sh', ['-c', command], {
        env,
        detached: true, // own process group, so a timeout reaches every process the handler started
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      // spawn throws at once for E2BIG (an environment the kernel refuses) and a few others.
      resolve(notStarted(event, err, log));
      return;
    }
    const { stdin: childIn, stdout: childOut, stderr: childErr } = child;

    const finish = (result: EventCommandResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      clearInterval(pollTimer);
      // A process the handler left in the background must not keep this run waiting on our pipes.
      childOut.destroy();
      childErr.destroy();
      childIn.destroy();
      const failed = result.timedOut || result.exitCode !== 0;
      // The handler's stderr belongs with its failure, in the same line (the formatter escapes it).
      const said = result.stderr.trim() ? `; stderr: ${result.stderr.trim().slice(0, 4000)}` : '';
      const about = aboutEvent(event);
      if (result.timedOut) {
        log(
          'error',
          `event ${event.type}: handler timed out after ${timeoutMs} ms and was killed${said}`,
          about,
        );
      } else if (result.exitCode !== 0) {
        log(
          'error',
          `event ${event.type}: handler failed (${result.exitCode === null ? `signal ${result.signal}` : `exit ${result.exitCode}`})${said}`,
          about,
        );
      } else {
        log('debug', `event ${event.type}: handler succeeded`, about);
        if (result.stderr) log('debug', `event ${event.type} stderr: ${result.stderr}`, about);
      }
      if (result.stdout)
        log(failed ? 'info' : 'debug', `event ${event.type} stdout: ${result.stdout}`, about);
      resolve(result);
    };
    const result = (): EventCommandResult => ({
      exitCode,
      signal,
      timedOut,
      stdout: stdout.text(),
      stderr: stderr.text(),
    });

    const timeoutTimer = setTimeout(() => {
      if (child.pid === undefined) return;
      timedOut = true;
      signalGroup(child.pid, 'SIGTERM');
      const pid = child.pid;
      killTimer = setTimeout(() => {
        killed = true;
        signalGroup(pid, 'SIGKILL');
        if (exited) finish(result());
      }, graceMs);
      // Finish early once every process of the group has gone.
      pollTimer = setInterval(() => {
        if (exited && !groupRunning(pid)) finish(result());
      }, 50);
    }, timeoutMs);

    childOut.on('data', (c: Buffer) => stdout.push(c));
    childErr.on('data', (c: Buffer) => stderr.push(c));
    childIn.on('error', () => {}); // EPIPE: the handler does not read its input
    child.on('error', (err) => {
      stderr.push(Buffer.from(String(err.message)));
      exited = true;
      finish(result());
    });
    child.on('exit', (code, sig) => {
      exited = true;
      exitCode = code;
      signal = sig;
      if (timedOut) {
        // The timers finish once the group is gone or killed.
        if (killed) finish(result());
        return;
      }
      // Let the pipes drain briefly; a background process holding them open must not stall the run.
      let closed = false;
      child.once('close', () => {
        closed = true;
        finish(result());
      });
      setTimeout(() => {
        if (!closed) finish(result());
      }, 200);
    });
    childIn.end(input);
  });
}

function aboutEvent(event: AnyVmcatcherEvent): { image?: string; subscription?: string } {
  const m = event.metadata ?? {};
  const image = m['dc:identifier'] ?? m.uuid;
  const subscription = m['hv:imagelist.dc:identifier'];
  return {
    ...(typeof image === 'string' ? { image } : {}),
    ...(typeof subscription === 'string' ? { subscription } : {}),
  };
}

/** The result of a handler that could not be started; logged as the failure it is. */
function notStarted(event: AnyVmcatcherEvent, err: unknown, log: EventLogger): EventCommandResult {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const why = code ?? (err instanceof Error ? err.message : String(err));
  log('error', `event ${event.type}: handler could not be started (${why})`, aboutEvent(event));
  return { exitCode: null, signal: null, timedOut: false, stdout: '', stderr: '', spawnError: why };
}
