import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { UploadError, type UploadErrorCode, type UploadErrorContext } from './errors.js';
import type { PutOptions, UploadSource } from './types.js';

/** Case-insensitive lookup of an option (INI keys are case-insensitive in the original tools). */
function opt(options: Record<string, unknown> | undefined, name: string): unknown {
  if (!options) return undefined;
  if (name in options) return options[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(options)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function optError(protocol: string, name: string, want: string): UploadError {
  return new UploadError('ERR_UPLOAD_CONFIG', `${protocol}: option "${name}" must be ${want}`, {
    key: name,
    protocol,
  });
}

export function optString(
  o: Record<string, unknown> | undefined,
  name: string,
  protocol: string,
): string | undefined {
  const v = opt(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw optError(protocol, name, 'a string');
  return v;
}

export function optBool(
  o: Record<string, unknown> | undefined,
  name: string,
  protocol: string,
): boolean | undefined {
  const v = opt(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw optError(protocol, name, 'a boolean');
}

export function optNumber(
  o: Record<string, unknown> | undefined,
  name: string,
  protocol: string,
): number | undefined {
  const v = opt(o, name);
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw optError(protocol, name, 'a non-negative number');
  return n;
}

export function optStringArray(
  o: Record<string, unknown> | undefined,
  name: string,
  protocol: string,
): string[] | undefined {
  const v = opt(o, name);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw optError(protocol, name, 'an array of strings');
  return v as string[];
}

export function optStringMap(
  o: Record<string, unknown> | undefined,
  name: string,
  protocol: string,
): Record<string, string> | undefined {
  const v = opt(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw optError(protocol, name, 'an object of strings');
  return v as Record<string, string>;
}

/** A fresh temporary name next to `finalName`, hidden, recognisable, unique. */
export function tempName(finalName: string): string {
  return `.${finalName}.${randomBytes(6).toString('hex')}.part`;
}

/** Exactly the names {@link tempName} makes: what a sweep may remove, and nothing else. */
const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.part$/;

/** True for a name {@link tempName} could have made. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Default age after which an untouched temporary file is a leftover of a killed upload: one hour. */
const DEFAULT_STALE_TEMP_AGE_S = 3600;

/**
 * The `staleTempAge` option in seconds (`0` or `false` turns the sweep off). An upload in progress writes its
 * temporary file all the time, so one untouched for this long belongs to a process that was killed.
 */
export function staleTempAge(options: Record<string, unknown> | undefined, protocol: string): number {
  const v = opt(options, 'staleTempAge');
  if (v === false) return 0;
  return optNumber(options, 'staleTempAge', protocol) ?? DEFAULT_STALE_TEMP_AGE_S;
}

export function abortedError(target: string, protocol: string, cause?: unknown): UploadError {
  return new UploadError('ERR_UPLOAD_ABORTED', `upload to ${target} aborted`, { target, protocol, cause });
}

export function throwIfAborted(signal: AbortSignal | undefined, target: string, protocol: string): void {
  if (signal?.aborted) throw abortedError(target, protocol, signal.reason);
}

/** Wraps an unknown error into an UploadError (keeps UploadErrors as they are). */
export function wrapError(
  err: unknown,
  code: UploadErrorCode,
  message: string,
  ctx: UploadErrorContext = {},
): UploadError {
  if (err instanceof UploadError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new UploadError(code, `${message}: ${detail}`, { ...ctx, cause: err });
}

/**
 * Refuses hostile remote path names: `.`/`..` segments (also percent-encoded), NUL and other control
 * characters, and backslashes. `path` is the path part of a remote target.
 */
export function checkRemotePath(path: string, target: string, protocol: string): void {
  const bad = (why: string) =>
    new UploadError('ERR_UPLOAD_TARGET', `refusing remote target ${JSON.stringify(target)}: ${why}`, {
      target,
      protocol,
    });
  if (/[\u0000-\u001f\u007f]/.test(path)) throw bad('control character in path');
  if (path.includes('\\')) throw bad('backslash in path');
  for (const seg of path.split('/')) {
    let decoded = seg;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      // not percent-encoded: keep as is
    }
    if (seg === '.' || seg === '..' || decoded === '.' || decoded === '..')
      throw bad('"." or ".." path segment');
    if (/[\u0000-\u001f\u007f/\\]/.test(decoded)) throw bad('encoded separator or control character');
  }
  if (path === '' || path.endsWith('/')) throw bad('no file name');
}

/** The opened source: a readable plus the size when known. */
export interface OpenedSource {
  stream: Readable;
  size?: number;
  /** A local file path when the source is one (some backends can use it directly). */
  path?: string;
}

export async function openSource(source: UploadSource, opts: PutOptions | undefined): Promise<OpenedSource> {
  if (typeof source === 'string') {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(source);
    } catch (err) {
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `cannot read source ${source}`);
    }
    if (!st.isFile()) throw new UploadError('ERR_UPLOAD_FAILED', `source ${source} is not a regular file`);
    return { stream: createReadStream(source, { highWaterMark: 1 << 20 }), size: st.size, path: source };
  }
  const stream = source instanceof Readable ? source : Readable.from(source as AsyncIterable<Buffer>);
  return { stream, size: opts?.size };
}

/**
 * A pass-through that counts bytes, reports progress and, when the size is known, fails the transfer if the
 * source delivered a different number of bytes (so a truncated source never replaces a good file).
 */
export class Meter extends Transform {
  transferred = 0;
  constructor(
    private readonly total: number | undefined,
    private readonly onProgress: PutOptions['onProgress'],
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.transferred += chunk.length;
    if (this.total !== undefined && this.transferred > this.total) {
      cb(new UploadError('ERR_UPLOAD_FAILED', `source longer than the declared size ${this.total}`));
      return;
    }
    this.onProgress?.({ transferred: this.transferred, total: this.total });
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.total !== undefined && this.transferred !== this.total) {
      cb(
        new UploadError(
          'ERR_UPLOAD_FAILED',
          `source ended after ${this.transferred} bytes, expected ${this.total}`,
        ),
      );
      return;
    }
    cb();
  }
}

