import { channel } from 'node:diagnostics_channel';
import { builtinBackends } from './backends/registry.js';
import type { UploadConfig, UploadConfigSection } from './config.js';
import { UploadError } from './errors.js';
import { pythonSub, staticPrefix } from './mapping.js';
import type {
  BackendFactory,
  OpOptions,
  PutOptions,
  TargetStat,
  UploadBackend,
  UploadLogger,
  UploadSource,
} from './types.js';

/**
 * `node:diagnostics_channel` name on which the facade publishes {@link UploadDiagnostic} messages (one `start` and
 * one `end` or `error` per operation), for tracing without a logger.
 */
export const UPLOAD_DIAGNOSTICS_CHANNEL = 'hepix:upload-facade';

/** A message on {@link UPLOAD_DIAGNOSTICS_CHANNEL}. */
export interface UploadDiagnostic {
  event: 'start' | 'end' | 'error';
  op: 'put' | 'delete';
  publicUri: string;
  protocol: string;
  target: string;
  /** Bytes sent (put, at `end`/`error`). */
  transferred?: number;
  durationMs?: number;
  error?: unknown;
}

const diagnostics = channel(UPLOAD_DIAGNOSTICS_CHANNEL);

async function traced(
  base: Omit<UploadDiagnostic, 'event'>,
  run: () => Promise<number | undefined>,
): Promise<void> {
  if (!diagnostics.hasSubscribers) {
    await run();
    return;
  }
  const t0 = Date.now();
  diagnostics.publish({ ...base, event: 'start' } satisfies UploadDiagnostic);
  try {
    const transferred = await run();
    diagnostics.publish({
      ...base,
      event: 'end',
      transferred,
      durationMs: Date.now() - t0,
    } satisfies UploadDiagnostic);
  } catch (error) {
    diagnostics.publish({
      ...base,
      event: 'error',
      error,
      durationMs: Date.now() - t0,
    } satisfies UploadDiagnostic);
    throw error;
  }
}

/** Options of {@link createUploadFacade}. */
export interface UploadFacadeOptions {
  config: UploadConfig;
  /** `--flag` values (`egiappdb:insert` → `"true"`), passed to every backend. */
  flags?: Record<string, string>;
  /** Extra or replacement backends by protocol name (merged over the built-in ones). */
  backends?: Record<string, BackendFactory>;
  /** Defaults for every backend's options; section keys override them (e.g. `cert`, `key` from the CLI). */
  backendOptions?: Record<string, unknown>;
  log?: UploadLogger;
}

/** Result of {@link UploadFacade.resolve}. */
export interface ResolvedTarget {
  section: UploadConfigSection;
  /** Lowercased protocol name of the section. */
  protocol: string;
  /** Remote target after `uriMatch` → `uriReplace`. */
  target: string;
}

/** The facade vmcaster talks to: public URI in, backend chosen by the config. */
export interface UploadFacade {
  resolve(publicUri: string): ResolvedTarget;
  /** Uploads `source` so that it is served at `publicUri`; replaces an existing file atomically. */
  put(publicUri: string, source: UploadSource, opts?: PutOptions): Promise<void>;
  /** Removes the file published at `publicUri` (a missing file is not an error). */
  delete(publicUri: string, opts?: OpOptions): Promise<void>;
  /** Size (and mtime) of the published file, `undefined` when absent; `ERR_UPLOAD_UNSUPPORTED` if the backend cannot tell. */
  stat(publicUri: string, opts?: OpOptions): Promise<TargetStat | undefined>;
  /** Closes every backend connection. */
  dispose(): Promise<void>;
}

function checkRest(rest: string, target: string, protocol: string): void {
  for (const seg of rest.split(/[/\\]/)) {
    let decoded = seg;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      // keep raw
    }
    if (seg === '..' || decoded === '..' || seg === '.' || decoded === '.' || /[/\\]/.test(decoded))
      throw new UploadError(
        'ERR_UPLOAD_TARGET',
        `refusing remote target ${JSON.stringify(target)}: it escapes the configured prefix`,
        { target, protocol },
      );
  }
}

/** Creates the upload facade over a parsed configuration. */
export function createUploadFacade(opts: UploadFacadeOptions): UploadFacade {
  const { config } = opts;
  const log: UploadLogger = opts.log ?? (() => {});
  const factories: Record<string, BackendFactory> = { ...builtinBackends };
  for (const [k, f] of Object.entries(opts.backends ?? {})) factories[k.toLowerCase()] = f;
  const instances = new Map<UploadConfigSection, UploadBackend>();
  let disposed = false;
  for (const w of config.warnings ?? []) log('warn', w);
  const where = config.file ?? 'the upload configuration';

  function resolve(publicUri: string): ResolvedTarget {
    let url: URL;
    try {
      url = new URL(publicUri);
    } catch (err) {
      throw new UploadError('ERR_UPLOAD_TARGET', `not an absolute URI: ${JSON.stringify(publicUri)}`, {
        target: publicUri,
        cause: err,
      });
    }
    const host = url.hostname.toLowerCase();
    let section: UploadConfigSection | undefined;
    for (const s of config.sections) if (s.server.toLowerCase() === host) section = s; // last one wins
    if (!section)
      throw new UploadError(
        'ERR_UPLOAD_NO_SECTION',
        `no section with server = "${host}" in ${where} (needed to upload ${publicUri})`,
        { host, file: config.file },
      );
    const protocol = section.protocol.toLowerCase();
    let mapped: { result: string; count: number };
    try {
      mapped = pythonSub(section.uriMatch, section.uriReplace, publicUri);
    } catch (err) {
      throw new UploadError(
        'ERR_UPLOAD_CONFIG',
        `${where}: section [${section.name}]: cannot apply uriMatch/uriReplace: ${(err as Error).message}`,
        { file: config.file, section: section.name, key: 'uriReplace', cause: err },
      );
    }
    const target = mapped.result;
    if (mapped.count === 0)
      throw new UploadError(
        'ERR_UPLOAD_TARGET',
        `${where}: section [${section.name}]: uriMatch ${JSON.stringify(section.uriMatch)} does not match ${publicUri}`,
        { file: config.file, section: section.name, key: 'uriMatch', target: publicUri, protocol },
      );
    if (protocol === 'egiappdb') {
      if (target !== section.uriReplace)
        log('warn', `section [${section.name}]: poor uriMatch: egiappdb expects uriMatch = ".*"`);
      return { section, protocol, target };
    }
    if (target === section.uriReplace)
      log('warn', `section [${section.name}]: poor uriMatch: every URI maps to the same target ${target}`);
    const prefix = staticPrefix(section.uriReplace);
    if (!target.startsWith(prefix))
      throw new UploadError(
        'ERR_UPLOAD_TARGET',
        `refusing remote target ${JSON.stringify(target)}: it does not start with the configured prefix ${JSON.stringify(prefix)}`,
        { target, protocol, section: section.name },
      );
    checkRest(target.slice(prefix.length), target, protocol);
    return { section, protocol, target };
  }

  function backendFor(section: UploadConfigSection): UploadBackend {
    if (disposed) throw new UploadError('ERR_UPLOAD_FAILED', 'the upload facade has been disposed');
    let b = instances.get(section);
    if (b) return b;
    const protocol = section.protocol.toLowerCase();
    const factory = factories[protocol];
    if (!factory)
      throw new UploadError(
        'ERR_UPLOAD_CONFIG',
        `${where}: section [${section.name}]: unknown protocol ${JSON.stringify(section.protocol)} (known: ${Object.keys(factories).sort().join(', ')})`,
        { file: config.file, section: section.name, key: 'protocol', protocol },
      );
    try {
      b = factory({
        protocol,
        options: { ...(opts.backendOptions ?? {}), ...section.options },
        section,
        flags: opts.flags ?? {},
        log,
      });
    } catch (err) {
      if (err instanceof UploadError && err.code === 'ERR_UPLOAD_CONFIG')
        throw new UploadError('ERR_UPLOAD_CONFIG', `${where}: section [${section.name}]: ${err.message}`, {
          file: config.file,
          section: section.name,
          key: err.key,
          protocol,
          cause: err,
        });
      throw err;
    }
    instances.set(section, b);
    return b;
  }

  return {
    resolve,
    async put(publicUri, source, putOpts) {
      const { section, target, protocol } = resolve(publicUri);
      log('info', `uploading to ${target} (${protocol}, section [${section.name}])`);
      const b = backendFor(section);
      let transferred = 0;
      await traced({ op: 'put', publicUri, protocol, target }, async () => {
        await b.put(target, source, {
          ...putOpts,
          onProgress: (p) => {
            transferred = p.transferred;
            putOpts?.onProgress?.(p);
          },
        });
        return transferred;
      });
    },
    async delete(publicUri, opOpts) {
      const { section, target, protocol } = resolve(publicUri);
      const b = backendFor(section);
      if (!b.delete)
        throw new UploadError('ERR_UPLOAD_UNSUPPORTED', `the ${protocol} backend cannot delete ${target}`, {
          target,
          protocol,
        });
      log('info', `deleting ${target} (${protocol}, section [${section.name}])`);
      await traced({ op: 'delete', publicUri, protocol, target }, async () => {
        await b.delete?.(target, opOpts);
        return undefined;
      });
    },
    async stat(publicUri, opOpts) {
      const { section, target, protocol } = resolve(publicUri);
      const b = backendFor(section);
      if (!b.stat)
        throw new UploadError('ERR_UPLOAD_UNSUPPORTED', `the ${protocol} backend cannot stat ${target}`, {
          target,
          protocol,
        });
      return b.stat(target, opOpts);
    },
    async dispose() {
      disposed = true;
      const all = [...instances.values()];
      instances.clear();
      await Promise.allSettled(all.map((b) => b.dispose?.()));
    },
  };
}
