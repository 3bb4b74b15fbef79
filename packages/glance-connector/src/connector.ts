// The connector: the event handler (AvailablePostfix, ExpirePostfix, ProcessPostfix), the in-process hooks of
// @hepix/image-cache and `sync`, all deciding through planSync and acting through one executor.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Transform } from 'node:stream';
import { hashFile, type Logger, messageOf, noopLogger } from '@hepix/common';
import {
  type CacheHooks,
  type ExpireReason,
  type ImageHookEvent,
  imageFileName,
  readIndex,
  type VmcatcherEvent,
} from '@hepix/image-cache';
import type { Store } from '@hepix/imagelist-store';
import type { CloudConfig } from './cloud.js';
import { asGlanceError, GlanceConnectorError } from './errors.js';
import {
  CONVERTED_SHA512_PROPERTY,
  factsFromInstance,
  factsFromMetadata,
  IDENTIFIER_PROPERTY,
  type ImageFacts,
  INGEST_STEPS_PROPERTY,
  imageName,
  listProperties,
  minDiskGiB,
  minRamMiB,
  SOURCE_FORMAT_PROPERTY,
} from './facts.js';
import { createGlanceClient, type GlanceClient } from './glance.js';
import { createHttpClient, type HttpClient } from './http.js';
import { DISK_FORMATS, type DiskFormat } from './ingest/formats.js';
import { type PreparedImage, prepareImage } from './ingest/ingest.js';
import { createSandbox, type ResourceLimits, type Sandbox, type SandboxMode } from './ingest/sandbox.js';
import { createSession } from './keystone.js';
import { DEFAULT_MAPPING, type Mapping, resolveTarget } from './mapping.js';
import { createObjectSource, isObjectUrl, type ObjectSource, type ObjectSourceOptions } from './objects.js';
import {
  type DesiredImage,
  describeAction,
  type ManagedImage,
  planSync,
  type SyncAction,
  versionOf,
} from './plan.js';

export interface GlanceConnectorOptions {
  /** Where Glance is and how to authenticate (see `resolveCloud`). */
  cloud: CloudConfig;
  /** VO/subscription → project and visibility (default: every image, private to the connector's project). */
  mapping?: Mapping;
  /** Glance disk formats the site wants, preferred first (default: keep the image's own format). */
  formats?: DiskFormat[];
  /** Scratch directory for decompression, OVA extraction and conversion (default `<tmpdir>/vmcatcher-glance`). */
  scratchDir?: string;
  /** Largest virtual size accepted, bytes (default 100 GiB). */
  maxVirtualSize?: number;
  /** Largest file decompression or conversion may write (default maxVirtualSize + 1 GiB). */
  maxFileSize?: number;
  /** Limits of each qemu-img and decompressor run. */
  limits?: Partial<Omit<ResourceLimits, 'fileSizeBytes'>>;
  /** How the tools are confined (default `auto`: bubblewrap when installed). */
  sandbox?: SandboxMode;
  /** An image no longer endorsed is deleted after deactivation (default), or kept deactivated. */
  expire?: 'delete' | 'deactivate';
  /** The tag of managed images (default `vmcatcher`). */
  tag?: string;
  /** Put before every image name. */
  namePrefix?: string;
  /**
   * The vmcatcher store: tells an expiry that a newer version is coming (so the old one is only deactivated),
   * and is what `sync` and the ProcessPostfix refresh read.
   */
  store?: Store;
  /** The cache directory or `s3://BUCKET/PREFIX`, for `sync` (events and hooks name it themselves). */
  cacheDir?: string;
  /** The S3 server of an `s3://` cache (default: the `AWS_*` variables of `env`). */
  s3?: ObjectSourceOptions;
  /** Time Glance may take to store one upload (default 1 hour). */
  uploadTimeoutMs?: number;
  now?: () => Date;
  log?: Logger;
  /** The environment for proxies and tool lookup (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ActionResult {
  action: SyncAction;
  ok: boolean;
  /** The new Glance image of an upload. */
  glanceId?: string;
  error?: { code: string; message: string };
  /** For uploads: how the bytes were prepared. */
  prepared?: Pick<
    PreparedImage,
    'diskFormat' | 'virtualSize' | 'size' | 'transformed' | 'steps' | 'sandbox' | 'detected'
  >;
}

export interface SyncReport {
  dryRun: boolean;
  actions: SyncAction[];
  results: ActionResult[];
  /** Images the mapping sends nowhere. */
  unmapped: string[];
}

export interface SyncOptions {
  dryRun?: boolean;
  /** Carry out only these kinds of action (the others are reported, not done). */
  only?: SyncAction['kind'][];
  /** The cache directory (default the connector's `cacheDir`). */
  cacheDir?: string;
}

export interface GlanceConnector {
  /** Hooks for `createImageCache({ hooks })`. */
  readonly hooks: CacheHooks;
  /** Handles one event of `vmcatcher_cache` (what `vmcatcher-glance` does with its input). Throws on failure. */
  handleEvent(event: VmcatcherEvent): Promise<SyncReport>;
  /**
   * A verified cache file of this image is available: put it into Glance (or update its metadata). `path` is a
   * local file or the `s3://` URL of the object (copied and checked against `facts` before any upload).
   */
  available(facts: ImageFacts, path: string): Promise<SyncReport>;
  /** This version of the image left the cache. */
  expire(facts: ImageFacts, reason?: ExpireReason): Promise<SyncReport>;
  /** Reconciles Glance with the store and the cache (needs `store` and `cacheDir`). */
  sync(options?: SyncOptions): Promise<SyncReport>;
  close(): Promise<void>;
}

const GiB = 1024 ** 3;

/** The cache entry's (and event metadata's) object URL of an `s3://` cache (`VMCATCHER_EVENT_CACHE_URL`). */
const CACHE_URL_FIELD = 'vmcatcher:cache.url';

async function readable(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Passes bytes through while hashing them with sha512. */
function hashing(): { stream: Transform; digest: () => string } {
  const hash = createHash('sha512');
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

export function createGlanceConnector(options: GlanceConnectorOptions): GlanceConnector {
  const log = options.log ?? noopLogger;
  const tag = options.tag ?? 'vmcatcher';
  const expireMode = options.expire ?? 'delete';
  const mapping = options.mapping ?? DEFAULT_MAPPING;
  const formats = options.formats?.length ? options.formats : [...DISK_FORMATS];
  const scratchDir = options.scratchDir ?? join(tmpdir(), 'vmcatcher-glance');
  const maxVirtualSize = options.maxVirtualSize ?? 100 * GiB;
  const now = options.now ?? (() => new Date());
  const planOptions = {
    expire: expireMode,
    tag,
    ...(options.namePrefix ? { namePrefix: options.namePrefix } : {}),
  };
  if (!isAbsolute(scratchDir))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `scratch directory ${scratchDir} is not absolute`);

  let http: HttpClient | undefined;
  let glanceClient: GlanceClient | undefined;
  let sandboxPromise: Promise<Sandbox> | undefined;
  let objectSource: ObjectSource | undefined;

  function objects(): ObjectSource {
    objectSource ??= createObjectSource({
      ...options.s3,
      log,
      ...(options.env ? { env: options.env } : {}),
    });
    return objectSource;
  }

  async function glance(): Promise<GlanceClient> {
    if (glanceClient) return glanceClient;
    const ca = options.cloud.cacert ? [await readFile(options.cloud.cacert, 'utf8')] : undefined;
    http = createHttpClient({
      ...(ca ? { ca } : {}),
      insecure: !options.cloud.verify,
      log,
      ...(options.uploadTimeoutMs ? { uploadTimeoutMs: options.uploadTimeoutMs } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    glanceClient = createGlanceClient(http, createSession(http, options.cloud, { log, now }));
    return glanceClient;
  }

  function sandbox(): Promise<Sandbox> {
    sandboxPromise ??= createSandbox({
      mode: options.sandbox ?? 'auto',
      log,
      ...(options.env ? { env: options.env } : {}),
    });
    return sandboxPromise;
  }

  /** Managed images (by tag and identifier property, never by name), with the members of shared ones. */
  async function managed(identifier?: string): Promise<ManagedImage[]> {
    const g = await glance();
    const filters: Record<string, string> = { tag, visibility: 'all' };
    if (identifier) filters[IDENTIFIER_PROPERTY] = identifier;
    const images = (await g.listImages(filters)).filter(
      (img) =>
        typeof img[IDENTIFIER_PROPERTY] === 'string' &&
        (!identifier || img[IDENTIFIER_PROPERTY] === identifier),
    );
    const out: ManagedImage[] = [];
    for (const image of images) {
      const members =
        image.visibility === 'shared' ? (await g.listMembers(image.id)).map((m) => m.member_id).sort() : [];
      out.push({ image, members });
    }
    return out;
  }

  async function upload(action: Extract<SyncAction, { kind: 'upload' }>): Promise<ActionResult> {
    const { facts } = action.desired;
    const id = facts.identifier;
    // An s3:// cache: the object is copied and checked first, so a wrong one changes nothing in Glance.
    const copy = isObjectUrl(action.desired.path)
      ? await objects().fetch(
          action.desired.path,
          { image: id, sha512: facts.sha512, size: facts.size },
          scratchDir,
        )
      : undefined;
    try {
      return await uploadFile(action, copy?.path ?? action.desired.path);
    } finally {
      await copy?.cleanup();
    }
  }

  async function uploadFile(
    action: Extract<SyncAction, { kind: 'upload' }>,
    path: string,
  ): Promise<ActionResult> {
    const g = await glance();
    const { facts, target } = action.desired;
    const id = facts.identifier;
    try {
      await access(path);
    } catch (cause) {
      throw new GlanceConnectorError(
        'ERR_GLANCE_IMAGE_MISSING',
        `${id}: the cached file ${path} is not readable`,
        {
          image: id,
          path,
          cause,
        },
      );
    }
    // Older versions are no longer endorsed: out of use first, deleted once the new one is active.
    for (const old of action.replaces) {
      const img = await g.getImage(old);
      if (img?.status === 'active') await g.deactivate(old);
    }
    await mkdir(scratchDir, { recursive: true, mode: 0o700 });
    const prepared = await prepareImage(
      { path, identifier: id, declaredFormat: facts.image['hv:format'] },
      {
        scratchDir,
        formats,
        maxVirtualSize,
        ...(options.maxFileSize ? { maxFileSize: options.maxFileSize } : {}),
        ...(options.limits ? { limits: options.limits } : {}),
        sandbox: await sandbox(),
        log,
        ...(options.env ? { env: options.env } : {}),
      },
    );
    try {
      const found = [
        prepared.detected.compression,
        prepared.detected.archive,
        prepared.detected.innerCompression,
        prepared.detected.disk,
      ]
        .filter(Boolean)
        .join('+');
      const body: Record<string, unknown> = {
        ...listProperties(facts),
        [SOURCE_FORMAT_PROPERTY]: found,
        ...(prepared.steps.length ? { [INGEST_STEPS_PROPERTY]: prepared.steps.join('; ') } : {}),
        name: imageName(facts, options.namePrefix),
        disk_format: prepared.diskFormat,
        container_format: prepared.containerFormat,
        visibility: target.visibility,
        min_ram: minRamMiB(facts.image),
        min_disk: minDiskGiB(prepared.virtualSize),
        tags: [tag],
        ...(target.project ? { owner: target.project } : {}),
      };
      const created = await g.createImage(body);
      try {
        const file = createReadStream(prepared.path);
        const h = hashing();
        file.on('error', (err) => h.stream.destroy(err));
        await g.upload(created.id, file.pipe(h.stream), prepared.size);
        const sent = h.digest();
        const after = await g.getImage(created.id);
        if (after === undefined || after.status !== 'active')
          throw new GlanceConnectorError(
            'ERR_GLANCE_UPLOAD',
            `${id}: Glance image ${created.id} is ${after?.status ?? 'gone'} after the upload`,
            {
              image: id,
              glanceId: created.id,
            },
          );
        const algo = after.os_hash_algo ?? 'sha512';
        const expected =
          algo === 'sha512' ? sent : (await hashFile(prepared.path, { algorithm: algo })).digest;
        if (after.os_hash_value !== expected)
          throw new GlanceConnectorError(
            'ERR_GLANCE_HASH_MISMATCH',
            `${id}: Glance stored ${algo} ${after.os_hash_value ?? '(none)'}, the bytes sent have ${expected}`,
            { image: id, glanceId: created.id },
          );
        // Untransformed bytes must be exactly what the signed list names.
        if (!prepared.transformed && sent !== facts.sha512)
          throw new GlanceConnectorError(
            'ERR_GLANCE_HASH_MISMATCH',
            `${id}: the cached file's sha512 ${sent} is not the list's ${facts.sha512}`,
            { image: id, glanceId: created.id },
          );
        if (prepared.transformed)
          await g.patch(created.id, [{ op: 'add', path: `/${CONVERTED_SHA512_PROPERTY}`, value: sent }]);
        if (target.visibility === 'shared') for (const m of target.members) await g.addMember(created.id, m);
        for (const old of action.replaces) await g.deleteImage(old);
        log(
          'info',
          `${id}: uploaded to Glance as ${created.id} (${prepared.diskFormat}, sandbox ${prepared.sandbox})`,
          {
            image: id,
          },
        );
        return {
          action,
          ok: true,
          glanceId: created.id,
          prepared: {
            diskFormat: prepared.diskFormat,
            virtualSize: prepared.virtualSize,
            size: prepared.size,
            transformed: prepared.transformed,
            steps: prepared.steps,
            sandbox: prepared.sandbox,
            detected: prepared.detected,
          },
        };
      } catch (err) {
        // A failed or mismatching upload leaves nothing behind.
        await g
          .deleteImage(created.id)
          .catch((e) => log('error', `${id}: could not delete ${created.id}: ${messageOf(e)}`));
        throw err;
      }
    } finally {
      await prepared.cleanup();
    }
  }

  async function execute(action: SyncAction): Promise<ActionResult> {
    const g = await glance();
    switch (action.kind) {
      case 'upload':
        return upload(action);
      case 'update':
        await g.patch(action.glanceId, action.patch);
        break;
      case 'reactivate':
        await g.reactivate(action.glanceId);
        break;
      case 'share':
        for (const m of action.add) await g.addMember(action.glanceId, m);
        for (const m of action.remove) await g.removeMember(action.glanceId, m);
        break;
      case 'deactivate':
        await g.deactivate(action.glanceId);
        break;
      case 'delete':
        await g.deleteImage(action.glanceId);
        break;
    }
    return { action, ok: true };
  }

  /** Runs the actions in order; `failFast` (events) stops at and throws the first error. */
  async function run(
    actions: SyncAction[],
    opts: SyncOptions & { failFast: boolean },
    unmapped: string[] = [],
  ): Promise<SyncReport> {
    const report: SyncReport = { dryRun: Boolean(opts.dryRun), actions, results: [], unmapped };
    for (const action of actions) {
      if (opts.dryRun || (opts.only && !opts.only.includes(action.kind))) continue;
      log('info', describeAction(action), { image: action.identifier });
      try {
        report.results.push(await execute(action));
      } catch (err) {
        const e = asGlanceError(err, { image: action.identifier });
        // An event's failure is reported once, by whoever handles the throw (the bin puts its code first).
        log(opts.failFast ? 'debug' : 'error', `${describeAction(action)}: ${e.message}`, {
          image: action.identifier,
          code: e.code,
        });
        if (opts.failFast) throw e;
        report.results.push({ action, ok: false, error: { code: e.code, message: e.message } });
      }
    }
    return report;
  }

  /** The candidate for an identifier in the store (subscribed, available, list not expired), if any. */
  async function storeCandidate(identifier: string): Promise<ImageFacts | undefined> {
    if (!options.store) return undefined;
    const at = now().getTime();
    try {
      for (const c of await options.store.subscriber.listCacheCandidates()) {
        if (c.identifier !== identifier || c.list.expired || c.list.expires.getTime() <= at) continue;
        return factsFromInstance(c.subscription, c.latest);
      }
    } catch (cause) {
      throw new GlanceConnectorError('ERR_GLANCE_STORE', `cannot read the store: ${messageOf(cause)}`, {
        cause,
      });
    }
    return undefined;
  }

  async function available(facts: ImageFacts, path: string): Promise<SyncReport> {
    const target = resolveTarget(mapping, facts);
    if (!target) {
      log('info', `${facts.identifier}: the mapping sends it nowhere; not in Glance`, {
        image: facts.identifier,
      });
      return run(planSync([], [], planOptions), { failFast: true }, [facts.identifier]);
    }
    const actions = planSync([{ facts, target, path }], await managed(facts.identifier), planOptions);
    return run(actions, { failFast: true });
  }

  async function expire(facts: ImageFacts, reason?: ExpireReason): Promise<SyncReport> {
    // Only the version that left the cache; a newer one already in Glance stays.
    const images = (await managed(facts.identifier)).filter((m) => versionOf(m.image) === facts.sha512);
    let next: ImageFacts | undefined;
    if (reason !== 'expired' && reason !== 'corrupt') {
      if (options.store) next = await storeCandidate(facts.identifier);
      else
        log('warn', `${facts.identifier}: no store to tell whether a newer version follows; expiring`, {
          image: facts.identifier,
        });
    }
    if (next && next.sha512 !== facts.sha512) {
      const target = resolveTarget(mapping, next);
      if (target) {
        log(
          'info',
          `${facts.identifier}: a newer version follows; the old one is deactivated until it is active`,
          {
            image: facts.identifier,
          },
        );
        return run(planSync([{ facts: next, target }], images, planOptions), { failFast: true });
      }
    }
    return run(planSync([], images, planOptions), { failFast: true });
  }

  async function sync(opts: SyncOptions = {}): Promise<SyncReport> {
    const store = options.store;
    const cacheDir = opts.cacheDir ?? options.cacheDir;
    if (!store || !cacheDir)
      throw new GlanceConnectorError(
        'ERR_GLANCE_CONFIG',
        'sync needs the store (database) and the cache directory',
      );
    const at = now().getTime();
    const desired: DesiredImage[] = [];
    const unmapped: string[] = [];
    const remote = isObjectUrl(cacheDir);
    let index: Record<string, Record<string, unknown> | undefined>;
    try {
      index = remote
        ? Object.fromEntries(await objects().readCacheIndex(cacheDir))
        : await readIndex(cacheDir);
      const lists = new Map<string, Promise<unknown>>();
      for (const c of await store.subscriber.listCacheCandidates()) {
        if (c.list.expired || c.list.expires.getTime() <= at) continue;
        if (desired.some((d) => d.facts.identifier === c.identifier)) continue;
        if (!lists.has(c.subscription))
          lists.set(
            c.subscription,
            store.subscriber.getLatestImageList(c.subscription).then((l) => l?.metadata['ad:vo']),
          );
        const facts = factsFromInstance(c.subscription, c.latest, await lists.get(c.subscription));
        const target = resolveTarget(mapping, facts);
        if (!target) {
          unmapped.push(c.identifier);
          continue;
        }
        const entry = Object.hasOwn(index, c.identifier) ? index[c.identifier] : undefined;
        const cachedSha = String(entry?.['sl:checksum:sha512'] ?? entry?.sha512 ?? '').toLowerCase();
        const filename = typeof entry?.filename === 'string' ? entry.filename : imageFileName(c.identifier);
        const objectUrl = entry?.[CACHE_URL_FIELD];
        const path = remote ? objectUrl : join(cacheDir, filename);
        const cached =
          entry &&
          cachedSha === facts.sha512 &&
          typeof path === 'string' &&
          (remote
            ? isObjectUrl(path) && (await objects().exists(path))
            : await access(path).then(
                () => true,
                () => false,
              ));
        desired.push({ facts, target, ...(cached ? { path: path as string } : {}) });
      }
    } catch (cause) {
      if (cause instanceof GlanceConnectorError) throw cause;
      throw new GlanceConnectorError(
        'ERR_GLANCE_STORE',
        `cannot read the store or the cache index: ${messageOf(cause)}`,
        {
          cause,
        },
      );
    }
    const actions = planSync(desired, await managed(), planOptions);
    return run(actions, { ...opts, failFast: false }, unmapped);
  }

  async function handleEvent(event: VmcatcherEvent): Promise<SyncReport> {
    const empty: SyncReport = { dryRun: false, actions: [], results: [], unmapped: [] };
    switch (event.type) {
      case 'AvailablePostfix': {
        const facts = factsFromMetadata(event.metadata ?? {});
        const dir = event.dirs?.cache;
        const filename = String(event.metadata?.filename ?? imageFileName(facts.identifier));
        const objectUrl = event.metadata?.[CACHE_URL_FIELD];
        if (objectUrl !== undefined && objectUrl !== null && objectUrl !== '' && !isObjectUrl(objectUrl))
          throw new GlanceConnectorError(
            'ERR_GLANCE_EVENT',
            `the cache URL ${String(objectUrl)} is not s3://`,
            {
              image: facts.identifier,
            },
          );
        // A local file wins when there is one (a directory cache); an s3:// cache has only the object.
        if (
          objectUrl &&
          (!dir || isObjectUrl(dir) || !(await readable(join(dir, safeName(filename, facts)))))
        )
          return available(facts, objectUrl);
        if (!dir)
          throw new GlanceConnectorError('ERR_GLANCE_EVENT', 'AvailablePostfix without the cache directory', {
            image: facts.identifier,
          });
        if (filename.includes('/') || filename === '..' || filename === '.')
          throw new GlanceConnectorError('ERR_GLANCE_EVENT', `bad file name ${JSON.stringify(filename)}`, {
            image: facts.identifier,
          });
        return available(facts, join(dir, filename));
      }
      case 'ExpirePostfix':
        return expire(factsFromMetadata(event.metadata ?? {}));
      case 'ProcessPostfix':
        // Metadata-only changes reach no image event: refresh properties and sharing once per cache run.
        if (!options.store || !(event.dirs?.cache ?? options.cacheDir)) return empty;
        return sync({
          only: ['update', 'share', 'reactivate'],
          ...(event.dirs?.cache ? { cacheDir: event.dirs.cache } : {}),
        });
      default:
        return empty;
    }
  }

  function safeName(filename: string, facts: ImageFacts): string {
    if (filename.includes('/') || filename === '..' || filename === '.')
      throw new GlanceConnectorError('ERR_GLANCE_EVENT', `bad file name ${JSON.stringify(filename)}`, {
        image: facts.identifier,
      });
    return filename;
  }

  function hookFacts(e: ImageHookEvent): ImageFacts {
    return factsFromMetadata(e.metadata);
  }

  const hooks: CacheHooks = {
    'image:available:after': async (e) => {
      // With createS3Storage the entry names the object; a directory cache gives the file.
      const objectUrl = e.metadata[CACHE_URL_FIELD];
      await available(hookFacts(e), isObjectUrl(objectUrl) ? objectUrl : e.path);
    },
    'image:expire:after': async (e) => {
      await expire(hookFacts(e), e.reason);
    },
    'process:after': async (e) => {
      if (options.store) await sync({ only: ['update', 'share', 'reactivate'], cacheDir: e.dirs.cache });
    },
  };

  return {
    hooks,
    handleEvent,
    available,
    expire,
    sync,
    async close() {
      objectSource?.close();
      await http?.close();
    },
  };
}
