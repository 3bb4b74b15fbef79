// The one rule for how long a transfer may take, shared by list fetches and image downloads: an idle timeout
// alone lets a server that trickles one byte a minute hold a cron run forever, so every transfer also gets an
// overall deadline from its size and a minimum average rate, after which it is retried or fails and the run
// goes on with the next item.

/** Lowest average rate a transfer may keep (bytes per second): 128 KiB/s, a 1 GiB image gets about 2 h 15 min. */
export const DEFAULT_MIN_RATE_BYTES_PER_S = 128 * 1024;

/** Allowance on top of size / rate, for connecting, TLS and the server's first byte: 120 s. */
export const DEFAULT_FETCH_TIMEOUT_MS = 120_000;

export interface DeadlineOptions {
  /** Minimum average rate in bytes per second (default {@link DEFAULT_MIN_RATE_BYTES_PER_S}). */
  minRate?: number;
  /** Fixed allowance in milliseconds (default {@link DEFAULT_FETCH_TIMEOUT_MS}). */
  fetchTimeoutMs?: number;
}

/** How long transferring `bytes` may take: `fetchTimeoutMs + bytes / minRate`, in milliseconds. */
export function transferAllowanceMs(bytes: number, options: DeadlineOptions = {}): number {
  const rate = options.minRate ?? DEFAULT_MIN_RATE_BYTES_PER_S;
  const fixed = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  if (!(rate > 0)) throw new RangeError(`minimum rate must be positive: ${rate}`);
  if (!(fixed >= 0)) throw new RangeError(`fetch timeout must not be negative: ${fixed}`);
  return fixed + Math.ceil((Math.max(0, bytes) / rate) * 1000);
}

/** The absolute deadline (epoch ms) of a transfer of `bytes` starting at `start` (default now). */
export function transferDeadline(
  bytes: number,
  options: DeadlineOptions = {},
  start: number = Date.now(),
): number {
  return start + transferAllowanceMs(bytes, options);
}
