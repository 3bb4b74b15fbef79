import type { UploadConfigSection } from './config.js';

/** Log levels used by the facade and the backends. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** A logger; the facade never writes to the console itself. */
export type UploadLogger = (level: LogLevel, msg: string) => void;

/** Progress of one transfer. `total` is known when the size is (a path source, or `size` given). */
export interface UploadProgress {
  transferred: number;
  total?: number;
}

/** Per-transfer options of {@link UploadBackend.put}. */
export interface PutOptions {
  /** Byte count of a stream source; checked against what was actually read. */
  size?: number;
  /** Aborts the transfer: the promise rejects with `ERR_UPLOAD_ABORTED` and nothing is left at the target. */
  signal?: AbortSignal;
  /** Called as bytes are sent (throttled by the chunk size of the source). */
  onProgress?: (p: UploadProgress) => void;
}

/** Per-call options of delete/stat. */
export interface OpOptions {
  signal?: AbortSignal;
}

/** What {@link UploadBackend.stat} returns for an existing target. */
export interface TargetStat {
  size: number;
  mtime?: Date;
}

/** A source: a local file path or a readable stream. */
export type UploadSource = string | NodeJS.ReadableStream;

/** Capability flags of a backend. */
export interface BackendCapabilities {
  /** `delete` removes the target. */
  delete: boolean;
  /** `stat` reports size (and mtime) of a target. */
  stat: boolean;
  /** `put` replaces the target atomically (readers see the old or the new file, never a partial one). */
  atomicReplace: boolean;
}

/**
 * The backend contract, in the unstorage driver style: a factory returns a plain object.
 * `target` strings are the remote targets produced by the facade's uriMatch/uriReplace mapping.
 */
export interface UploadBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  put(target: string, source: UploadSource, opts?: PutOptions): Promise<void>;
  delete?(target: string, opts?: OpOptions): Promise<void>;
  /** `undefined` when the target does not exist. */
  stat?(target: string, opts?: OpOptions): Promise<TargetStat | undefined>;
  /** Closes connections; the backend is unusable afterwards. */
  dispose?(): Promise<void>;
}

/** What a {@link BackendFactory} receives. */
export interface BackendFactoryOptions {
  /** The protocol name the section asked for (`scp`, `sftp`, `gsidcap`, ...). */
  protocol?: string;
  /** Section options merged over the facade's `backendOptions` (section wins). */
  options?: Record<string, unknown>;
  /** The config section, when created by the facade. */
  section?: UploadConfigSection;
  /** `--flag` values, e.g. `{ 'egiappdb:insert': 'true' }`. */
  flags?: Record<string, string>;
  log?: UploadLogger;
}

/** Creates a backend. */
export type BackendFactory = (options: BackendFactoryOptions) => UploadBackend;
