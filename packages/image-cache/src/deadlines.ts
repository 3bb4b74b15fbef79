// Overall limits of one transfer (a list fetch of `vmcatcher_subscribe -U`, an image download of
// `vmcatcher_cache`), so that a server trickling a byte every 20 s cannot keep a run, and the store lock it
// holds, for hours: the transport's idle timeout alone resets on every byte. Two rules, both on wall-clock time:
//
// - a deadline: `fetchTimeoutSeconds` from the start for a list (its size is unknown up front), and that plus
//   `size / minRate` for an image (its size is in the signed list);
// - a minimum rate: once a whole window (60 s) has passed, fewer than `minRate × window` bytes received in
//   the last window fails the transfer at once (a stall after a fast start is caught too, which an average
//   since the start would not do).
//
// The option names of both CLIs are `--fetch-timeout SECONDS` and `--min-rate BYTES_PER_S`.

/** Default `--fetch-timeout`: 5 minutes for a list; the fixed part of an image's allowance. */
export const DEFAULT_FETCH_TIMEOUT_SECONDS = 300;
/** Default `--min-rate`: 16 KiB/s (128 kbit/s), far below any working grid site's link. */
export const DEFAULT_MIN_RATE_BYTES_PER_SECOND = 16 * 1024;
/** The window over which the minimum rate is measured (and the grace period before the first check). */
export const DEFAULT_RATE_WINDOW_SECONDS = 60;

export interface TransferLimits {
  /** Seconds a list fetch may take; for an image, added to `size / minRate`. */
  fetchTimeoutSeconds: number;
  /** Bytes per second over the window; 0 disables the rate check (the deadline stays). */
  minRate: number;
  /** Seconds of the sliding window (default 60). */
  rateWindowSeconds?: number;
}

/** The limits with the defaults filled in. */
export function transferLimits(partial: Partial<TransferLimits> = {}): Required<TransferLimits> {
  return {
    fetchTimeoutSeconds: partial.fetchTimeoutSeconds ?? DEFAULT_FETCH_TIMEOUT_SECONDS,
    minRate: partial.minRate ?? DEFAULT_MIN_RATE_BYTES_PER_SECOND,
    rateWindowSeconds: partial.rateWindowSeconds ?? DEFAULT_RATE_WINDOW_SECONDS,
  };
}

/**
 * The absolute deadline (epoch ms) of a transfer started at `startMs`: the fetch timeout, plus the time the
 * minimum rate needs for `size` bytes when the size is known (images). With `minRate` 0, the size adds nothing.
 */
export function transferDeadline(limits: TransferLimits, startMs: number, size?: number): number {
  const perByte = limits.minRate > 0 && size !== undefined && size > 0 ? size / limits.minRate : 0;
  return startMs + Math.ceil((limits.fetchTimeoutSeconds + perByte) * 1000);
}

/** A sample of the bytes received so far. */
export interface RateSample {
  /** Epoch ms. */
  at: number;
  /** Bytes received since the start. */
  bytes: number;
}

/**
 * The rate check as a pure function: `history` is oldest first and starts with the start of the transfer
 * (`{ at: start, bytes: 0 }`). Returns what arrived in the last window when that is below the minimum, once a
 * whole window has passed; otherwise undefined.
 */
export function belowMinRate(
  history: readonly RateSample[],
  now: RateSample,
  limits: Pick<TransferLimits, 'minRate' | 'rateWindowSeconds'>,
): { bytes: number; seconds: number } | undefined {
  if (!(limits.minRate > 0) || history.length === 0) return undefined;
  const windowMs = (limits.rateWindowSeconds ?? DEFAULT_RATE_WINDOW_SECONDS) * 1000;
  // The newest sample at least one window old is the base of the window.
  let base: RateSample | undefined;
  for (const s of history) {
    if (now.at - s.at >= windowMs) base = s;
    else break;
  }
  if (!base) return undefined;
  const seconds = (now.at - base.at) / 1000;
  const bytes = now.bytes - base.bytes;
  return bytes < limits.minRate * seconds ? { bytes, seconds } : undefined;
}

export interface RateWatch {
  /** Aborted (reason: an Error saying so) when the transfer became too slow. */
  readonly signal: AbortSignal;
  /** Counts received bytes. */
  add(bytes: number): void;
  /** Set once the watch has fired: the bytes of the last window and its length. */
  readonly slow: { bytes: number; seconds: number } | undefined;
  /** Stops the timer (always call it, in a `finally`). */
  stop(): void;
}

/**
 * Watches one transfer: samples the byte count every second (`tickMs`) and aborts `signal` when
 * `belowMinRate` says so. The timer is unref'd, so a forgotten watch never keeps the process alive.
 */
export function watchRate(
  limits: Pick<TransferLimits, 'minRate' | 'rateWindowSeconds'>,
  options: { now?: () => number; tickMs?: number } = {},
): RateWatch {
  const now = options.now ?? Date.now;
  const controller = new AbortController();
  const windowMs = (limits.rateWindowSeconds ?? DEFAULT_RATE_WINDOW_SECONDS) * 1000;
  const history: RateSample[] = [{ at: now(), bytes: 0 }];
  let total = 0;
  let slow: { bytes: number; seconds: number } | undefined;
  const check = () => {
    if (slow) return;
    const sample = { at: now(), bytes: total };
    const found = belowMinRate(history, sample, limits);
    if (found) {
      slow = found;
      clearInterval(timer);
      controller.abort(
        new Error(
          `${found.bytes} bytes in the last ${Math.round(found.seconds)} s, below the minimum of ${limits.minRate} bytes/s`,
        ),
      );
      return;
    }
    history.push(sample);
    // Keep one sample older than the window (the base) and the ones inside it.
    while (history.length > 2 && sample.at - history[1].at >= windowMs) history.shift();
  };
  const timer = setInterval(check, options.tickMs ?? 1000);
  timer.unref();
  if (!(limits.minRate > 0)) clearInterval(timer);
  return {
    signal: controller.signal,
    add(bytes) {
      total += bytes;
    },
    get slow() {
      return slow;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

// Image downloads of `vmcatcher_cache` are held to an overall deadline per attempt from the image's size (known
// from the signed list), with their own defaults: an image is large and the rate is an average over the attempt.

/** Default minimum average rate of an image download (bytes per second): 128 KiB/s, 1 GiB gets about 2 h 15 min. */
export const DEFAULT_MIN_RATE_BYTES_PER_S = 128 * 1024;
/** Default allowance on top of size / rate, for connecting, TLS and the server's first byte: 120 s. */
export const DEFAULT_FETCH_TIMEOUT_MS = 120_000;

export interface DeadlineOptions {
  /** Minimum average rate in bytes per second (default {@link DEFAULT_MIN_RATE_BYTES_PER_S}). */
  minRate?: number;
  /** Fixed allowance in milliseconds (default {@link DEFAULT_FETCH_TIMEOUT_MS}). */
  fetchTimeoutMs?: number;
}

/** How long transferring `bytes` of an image may take: `fetchTimeoutMs + bytes / minRate`, in milliseconds. */
export function transferAllowanceMs(bytes: number, options: DeadlineOptions = {}): number {
  const minRate = options.minRate ?? DEFAULT_MIN_RATE_BYTES_PER_S;
  const fixed = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  if (!(minRate > 0)) throw new RangeError(`minimum rate must be positive: ${minRate}`);
  if (!(fixed >= 0)) throw new RangeError(`fetch timeout must not be negative: ${fixed}`);
  return transferDeadline({ fetchTimeoutSeconds: fixed / 1000, minRate }, 0, Math.max(0, bytes));
}
