// A tiny terminal renderer for transfers: one line per active transfer (bytes, rate, ETA), redrawn in place with
// ANSI cursor moves so that parallel transfers never overwrite each other, and a summary line at the end. Both
// CLIs use it (vmcatcher_cache downloads, vmcaster uploads); it only writes when the caller says the stream is a
// terminal, so pipes and log files get nothing from it.

export interface ProgressRendererOptions {
  /** Where the lines go (a terminal's stderr). */
  write: (text: string) => void;
  /** Milliseconds clock (injectable for tests); default Date.now. */
  now?: () => number;
  /** Least time between two redraws caused by byte counts; starts, ends and log lines redraw at once. */
  intervalMs?: number;
  /** Terminal width: lines are cut to it so that a wrapped line never breaks the cursor arithmetic. */
  columns?: () => number | undefined;
  /** Word for what moves, in the summary (`downloaded`, `uploaded`). */
  verb?: string;
}

export interface ProgressRenderer {
  /**
   * A transfer's bytes so far (of `total` when known); the first call adds its line. `from`: where a resumed
   * transfer started (the summary counts the bytes moved in this run only).
   */
  update(id: string, bytes: number, total?: number, label?: string, from?: number): void;
  /**
   * The transfer ended: its line goes; `ok: false` counts it as failed in the summary, `counted: false` leaves it
   * out of the summary (a preparatory pass, such as hashing before an upload).
   */
  finish(id: string, ok?: boolean, counted?: boolean): void;
  /** Runs `fn` (which writes a log line) with the progress lines removed, then draws them again. */
  interrupt(fn: () => void): void;
  /** Removes the lines and writes the summary (when anything was transferred). */
  end(): void;
}

/** `1.5 MiB`, `812 B`: binary units, one decimal. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** `1:05`, `2:03:04`: a duration in seconds as a clock. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

interface Transfer {
  label: string;
  bytes: number;
  total?: number;
  /** The first count seen: the rate is measured from it. */
  startBytes: number;
  /** Where the transfer started. */
  from: number;
  started: number;
}

const ESC = '\x1b[';

export function createProgressRenderer(options: ProgressRendererOptions): ProgressRenderer {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? 100;
  const active = new Map<string, Transfer>();
  let drawn = 0;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let firstStart: number | undefined;
  let moved = 0;
  let ok = 0;
  let failed = 0;

  const line = (t: Transfer, at: number): string => {
    const seconds = (at - t.started) / 1000;
    const rate = seconds > 0 ? (t.bytes - t.startBytes) / seconds : 0;
    const parts = [t.label];
    if (t.total && t.total > 0) {
      const pct = Math.min(100, Math.floor((t.bytes / t.total) * 100));
      parts.push(`${String(pct).padStart(3)}%`, `${formatBytes(t.bytes)} of ${formatBytes(t.total)}`);
    } else parts.push(formatBytes(t.bytes));
    if (rate > 0) {
      parts.push(`${formatBytes(rate)}/s`);
      if (t.total && t.total > t.bytes) parts.push(`ETA ${formatDuration((t.total - t.bytes) / rate)}`);
    }
    const text = parts.join('  ');
    const width = options.columns?.();
    return width && width > 1 && text.length >= width ? text.slice(0, width - 1) : text;
  };

  // Back to the first progress line and clear from there down.
  const clearText = () => (drawn ? `${ESC}${drawn}A\r${ESC}J` : '');

  const draw = () => {
    const at = now();
    lastDraw = at;
    let out = clearText();
    for (const t of active.values()) out += `${line(t, at)}\n`;
    drawn = active.size;
    if (out) options.write(out);
  };

  return {
    update(id, bytes, total, label, from = 0) {
      const at = now();
      const known = active.get(id);
      if (!known) {
        firstStart ??= at;
        active.set(id, { label: label ?? id, bytes, total, startBytes: bytes, from, started: at });
        draw();
        return;
      }
      known.bytes = bytes;
      if (total !== undefined) known.total = total;
      if (at - lastDraw >= interval) draw();
    },
    finish(id, success = true, counted = true) {
      const t = active.get(id);
      if (!t) return;
      active.delete(id);
      if (!counted) {
        draw();
        return;
      }
      moved += t.bytes - t.from;
      if (success) ok++;
      else failed++;
      draw();
    },
    interrupt(fn) {
      const clear = clearText();
      if (clear) options.write(clear);
      drawn = 0;
      fn();
      if (active.size) draw();
    },
    end() {
      const clear = clearText();
      if (clear) options.write(clear);
      drawn = 0;
      for (const id of [...active.keys()]) {
        const t = active.get(id) as Transfer;
        moved += t.bytes - t.from;
        failed++;
        active.delete(id);
      }
      if (firstStart === undefined) return;
      const seconds = (now() - firstStart) / 1000;
      const rate = seconds > 0 ? `, ${formatBytes(moved / seconds)}/s` : '';
      const verb = options.verb ?? 'transferred';
      options.write(
        `${ok} ${verb}${failed ? `, ${failed} failed` : ''}: ${formatBytes(moved)} in ${formatDuration(seconds)}${rate}\n`,
      );
    },
  };
}
