import type { AnyVmcatcherEvent } from './types.js';

// Reference §3.5 (`launch.py:L44-65`): environment variable → metadata keys, first non-empty wins.
const IMAGE_VARIABLES: readonly (readonly [string, readonly string[]])[] = [
  ['VMCATCHER_EVENT_DC_IDENTIFIER', ['dc:identifier', 'uuid']],
  ['VMCATCHER_EVENT_DC_TITLE', ['dc:title']],
  ['VMCATCHER_EVENT_DC_DESCRIPTION', ['dc:description']],
  ['VMCATCHER_EVENT_HV_URI', ['hv:uri']],
  ['VMCATCHER_EVENT_HV_SIZE', ['hv:size', 'size']],
  ['VMCATCHER_EVENT_HV_HYPERVISOR', ['hv:hypervisor']],
  ['VMCATCHER_EVENT_HV_VERSION', ['hv:version']],
  ['VMCATCHER_EVENT_HV_FORMAT', ['hv:image.hv:format']],
  ['VMCATCHER_EVENT_SL_ARCH', ['sl:arch']],
  ['VMCATCHER_EVENT_SL_CHECKSUM_SHA512', ['sl:checksum:sha512', 'sha512']],
  ['VMCATCHER_EVENT_SL_COMMENTS', ['sl:comments']],
  ['VMCATCHER_EVENT_SL_OS', ['sl:os']],
  ['VMCATCHER_EVENT_SL_OSVERSION', ['sl:osversion']],
  ['VMCATCHER_EVENT_FILENAME', ['filename']],
  ['VMCATCHER_EVENT_IL_DC_IDENTIFIER', ['hv:imagelist.dc:identifier']],
  ['VMCATCHER_EVENT_AD_MPURI', ['hv:image.ad:mpuri']],
  ['VMCATCHER_EVENT_VO', ['hv:imagelist.ad:vo']],
  // New: why an image left the cache (ExpirePrefix, ExpirePostfix).
  ['VMCATCHER_EVENT_REASON', ['reason']],
  // New: where an s3:// cache keeps the image's bytes (`s3://BUCKET/PREFIX/sha512/…`).
  ['VMCATCHER_EVENT_CACHE_URL', ['vmcatcher:cache.url']],
];

/**
 * The most bytes (UTF-8) of one event variable's value. The kernel refuses a single environment string over
 * 128 KiB (MAX_ARG_STRLEN), and all of them together over ARG_MAX (2 MiB by default); a longer value is cut
 * (at a character boundary) and ends with {@link TRUNCATION_MARKER}. The whole event is on standard input.
 */
export const MAX_EVENT_VALUE_BYTES = 32 * 1024;

/** The end of a truncated value. */
export const TRUNCATION_MARKER = '...[truncated by vmcatcher; the whole event is JSON on standard input]';

/** Set to the comma-separated names of the variables that were truncated, when any was. */
export const TRUNCATED_VARIABLE = 'VMCATCHER_EVENT_TRUNCATED';

/** Every variable name an event can set (for handlers that want a fixed set of keys). */
export const EVENT_VARIABLE_NAMES: readonly string[] = [
  'VMCATCHER_EVENT_TYPE',
  'VMCATCHER_EVENT_UUID_SESSION',
  'VMCATCHER_EVENT_UUID',
  ...IMAGE_VARIABLES.map(([name]) => name),
  TRUNCATED_VARIABLE,
];

/** The run configuration variables vmcatcher_cache adds to every event (reference §3.5). */
export const CONFIG_VARIABLE_NAMES: readonly string[] = [
  'VMCATCHER_RDBMS',
  'VMCATCHER_CACHE_DIR_CACHE',
  'VMCATCHER_CACHE_DIR_DOWNLOAD',
  'VMCATCHER_CACHE_DIR_EXPIRE',
];

/** Python's `str(value)` for the values metadata holds; empty means "not set". */
function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return JSON.stringify(value) ?? '';
}

/** An environment value cannot hold NUL; the untrusted rest reaches the handler unchanged. */
function clean(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

/** `value` cut to at most {@link MAX_EVENT_VALUE_BYTES} bytes, marker included, or undefined if it fits. */
function capped(value: string): string | undefined {
  if (value.length * 3 <= MAX_EVENT_VALUE_BYTES) return undefined; // fits whatever its characters
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= MAX_EVENT_VALUE_BYTES) return undefined;
  let end = MAX_EVENT_VALUE_BYTES - Buffer.byteLength(TRUNCATION_MARKER);
  // Back to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8') + TRUNCATION_MARKER;
}

/**
 * The environment of an event command, exactly as reference §3.5 describes it: the inherited `base`
 * (default `process.env`) plus `VMCATCHER_EVENT_TYPE`, `VMCATCHER_EVENT_UUID_SESSION`, `VMCATCHER_EVENT_UUID`, the
 * `VMCATCHER_CACHE_DIR_*` and `VMCATCHER_RDBMS` configuration, and for image events the image variables whose
 * value is non-empty. `VMCATCHER_EVENT_*` variables inherited from `base` are dropped, so a handler never sees a
 * stale value from an enclosing event. Each value is at most {@link MAX_EVENT_VALUE_BYTES} bytes (see there),
 * so that a publisher-controlled value can never make the handler impossible to start.
 */
export function eventEnvironment(
  event: AnyVmcatcherEvent,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || name.startsWith('VMCATCHER_EVENT_')) continue;
    env[name] = value;
  }
  const truncated: string[] = [];
  const put = (name: string, v: string): void => {
    const cut = capped(v);
    if (cut !== undefined) truncated.push(name);
    env[name] = cut ?? v;
  };
  const set = (name: string, value: unknown): void => {
    const v = clean(text(value));
    if (v !== '') put(name, v);
  };
  set('VMCATCHER_EVENT_TYPE', event.type);
  set('VMCATCHER_EVENT_UUID_SESSION', event.session);
  // New: the event's own id, the same when an interrupted run's Postfix is sent again.
  set('VMCATCHER_EVENT_UUID', event.id);
  if (event.dirs) {
    set('VMCATCHER_CACHE_DIR_CACHE', event.dirs.cache);
    set('VMCATCHER_CACHE_DIR_DOWNLOAD', event.dirs.partial);
    set('VMCATCHER_CACHE_DIR_EXPIRE', event.dirs.expired);
  }
  set('VMCATCHER_RDBMS', event.database);
  // Process events carry no image variables (reference §3.5).
  if (event.metadata && event.type !== 'ProcessPrefix' && event.type !== 'ProcessPostfix') {
    const metadata = event.metadata;
    for (const [name, keys] of IMAGE_VARIABLES) {
      for (const key of keys) {
        const v = clean(text(metadata[key]));
        if (v !== '') {
          put(name, v);
          break;
        }
      }
    }
  }
  if (truncated.length) env[TRUNCATED_VARIABLE] = truncated.join(',');
  return env;
}
