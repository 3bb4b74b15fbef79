import { createHash, randomUUID } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, copyFile, mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type {
  ImageInstance,
  Store,
  StoredImageList,
  StoredImageListSummary,
  SubscribedImage,
} from '@hepix/imagelist-store';
import { runEventCommand } from '../events/command.js';
import { deliverEvent, describeFailure } from '../events/deliver.js';
import type { AnyVmcatcherEvent, EventLogger, ExtendedEventType, LegacyEventType } from '../events/types.js';
import { createDownloadTransport, type DownloadOptions, transfer } from './download.js';
import { ImageCacheError } from './errors.js';
import {
  type CacheHooks,
  type CacheRunSummary,
  callHooks,
  type ExpireReason,
  type ImageHookEvent,
  type ProcessHookEvent,
  type VerifyFailedHookEvent,
} from './hooks.js';
import { type CacheIndex, type CacheIndexEntry, readIndex, writeIndex } from './index-file.js';
import { expiryTimestamp, imageFileName, INDEX_FILE, inside, TEMP_PREFIX } from './names.js';

export interface CacheDirectories {
  cache: string;
  /** Default `<cache>/partial`. */
  partial?: string;
  /** Default `<cache>/expired`. */
  expired?: string;
}

export interface ImageCacheOptions {
  store: Store;
  dirs: CacheDirectories;
  /** Downloads running at once (default 2). */
  concurrency?: number;
  hooks?: CacheHooks;
  /** Decides list expiry and expired-file time stamps. */
  now?: () => Date;
  log?: EventLogger;
  /** The administrator's event command (`-x`, `VMCATCHER_CACHE_EVENT`), run with `/bin/sh -c`. */
  eventCommand?: string;
  /**
   * The command that receives `SubscriptionImageNew` (`VMCATCHER_SUB_EVENT`); `retryEvents()` re-delivers
   * recorded failures of that type to it.
   */
  newImageEventCommand?: string;
  /** Event command timeout (default 10 000 ms), then SIGTERM and SIGKILL to its process group. */
  eventTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL (default 2 000 ms). */
  eventKillGraceMs?: number;
  /** Environment the event command inherits (default `process.env`). */
  eventEnv?: NodeJS.ProcessEnv;
  /** Library event types the event command receives too (default none: the original types only). */
  commandEvents?: ExtendedEventType[];
  /** How images are fetched. */
  download?: DownloadOptions;
  /** Download attempts per image and signed list before giving up until a new list (default 5, as the originals). */
  maxAttempts?: number;
  /** Create missing directories (default true). */
  createDirectories?: boolean;
  /** How long a run waits for another run's lock (default: the store's busy timeout). */
  lockWaitMs?: number;
  /** Sleep between download retries; injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
}

export interface CacheRunActions {
  download?: boolean;
  check?: boolean;
  expire?: boolean;
}

export interface RetryEventsResult {
  delivered: number;
  /** Failures still recorded (delivery stops at the first failure, so order is kept). */
  remaining: number;
}

export interface ImageCache {
  readonly dirs: Required<CacheDirectories>;
  /**
   * One cache run under the store lock `vmcatcher-cache`: ProcessPrefix, expire, check, download,
   * ProcessPostfix. No action set means download and expire; download implies expire (reference §3.4).
   */
  run(actions?: CacheRunActions): Promise<CacheRunSummary>;
  /** Re-delivers the event command failures recorded in the store, oldest first. */
  retryEvents(): Promise<RetryEventsResult>;
}

type Candidate = SubscribedImage & { latest: ImageInstance; list: StoredImageListSummary };

/** Creates an image cache over a store and three directories. */
export function createImageCache(options: ImageCacheOptions): ImageCache {
  const cacheDir = resolve(options.dirs.cache);
  const dirs = {
    cache: cacheDir,
    partial: resolve(options.dirs.partial ?? join(cacheDir, 'partial')),
    expired: resolve(options.dirs.expired ?? join(cacheDir, 'expired')),
  };
  const { store } = options;
  const now = options.now ?? (() => new Date());
  const log: EventLogger = options.log ?? (() => {});
  const hooks = options.hooks ?? {};
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const maxAttempts = options.maxAttempts ?? 5;
  const downloadOptions = options.download ?? {};

  async function prepareDirectories(): Promise<void> {
    for (const [role, dir] of Object.entries(dirs)) {
      if (options.createDirectories ?? true) await mkdir(dir, { recursive: true });
      try {
        if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
        await access(dir, constants.W_OK);
      } catch (cause) {
        throw new ImageCacheError(
          'ERR_CACHE_DIRECTORY',
          `${role} directory ${dir} is not a writable directory`,
          {
            path: dir,
            cause,
          },
        );
      }
    }
  }

  /** Delivers one event to the event command; a failure is logged and recorded, and never vetoes. */
  async function deliver(event: AnyVmcatcherEvent): Promise<boolean> {
    if (!options.eventCommand) return true;
    const r = await deliverEvent(store, options.eventCommand, event, {
      ...(options.eventTimeoutMs === undefined ? {} : { timeoutMs: options.eventTimeoutMs }),
      ...(options.eventKillGraceMs === undefined ? {} : { killGraceMs: options.eventKillGraceMs }),
      ...(options.eventEnv === undefined ? {} : { env: options.eventEnv }),
      log,
    });
    return r.delivered;
  }

  async function run(actions: CacheRunActions = {}): Promise<CacheRunSummary> {
    let { download = false, check = false, expire = false } = actions;
    if (!download && !check && !expire) {
      download = true;
      expire = true;
    }
    if (download) expire = true;
    await prepareDirectories();
    return store.withLock(
      'vmcatcher-cache',
      () => new Run(download, check, expire).execute(),
      options.lockWaitMs === undefined ? undefined : { waitMs: options.lockWaitMs },
    );
  }

  class Run {
    readonly session = randomUUID();
    readonly transport = createDownloadTransport(downloadOptions, log);
    readonly summary: CacheRunSummary;
    cacheIndex: CacheIndex = {};
    partialIndex: CacheIndex = {};
    expiredIndex: CacheIndex = {};
    private indexLock: Promise<unknown> = Promise.resolve();
    private commitLock: Promise<unknown> = Promise.resolve();
    private lists = new Map<string, Promise<StoredImageList | undefined>>();
    private wanted = new Map<string, Candidate>();
    private listExpired = new Set<string>();

    constructor(
      readonly download: boolean,
      readonly check: boolean,
      readonly expire: boolean,
    ) {
      this.summary = {
        session: this.session,
        downloaded: [],
        expired: [],
        verified: [],
        vetoed: [],
        failed: [],
        foreign: [],
      };
    }

    event(type: LegacyEventType | ExtendedEventType, metadata?: CacheIndexEntry): AnyVmcatcherEvent {
      return {
        type,
        session: this.session,
        ...(metadata ? { metadata } : {}),
        dirs: { ...dirs },
        database: store.url,
      } as AnyVmcatcherEvent;
    }

    /** Serialises index updates and writes them atomically. */
    saveIndexes(change: () => void, which: ('cache' | 'partial' | 'expired')[]): Promise<void> {
      const next = this.indexLock.then(async () => {
        change();
        // The cache index first: a crash after it leaves at worst a stale partial entry, which is cleaned up.
        if (which.includes('cache')) await writeIndex(dirs.cache, this.cacheIndex);
        if (which.includes('expired')) await writeIndex(dirs.expired, this.expiredIndex);
        if (which.includes('partial')) await writeIndex(dirs.partial, this.partialIndex);
      });
      this.indexLock = next.catch(() => {});
      return next;
    }

    /** One image commit (hooks, events, move, index) at a time, as the originals delivered events serially. */
    serial<T>(fn: () => Promise<T>): Promise<T> {
      const next = this.commitLock.then(fn);
      this.commitLock = next.catch(() => {});
      return next;
    }

    async execute(): Promise<CacheRunSummary> {
      try {
        return await this.steps();
      } finally {
        await this.transport.close();
      }
    }

    async steps(): Promise<CacheRunSummary> {
      this.cacheIndex = await readIndex(dirs.cache);
      this.partialIndex = await readIndex(dirs.partial);
      this.expiredIndex = await readIndex(dirs.expired);
      await this.removeOwnTemporaries();
      await this.recoverInterruptedMoves();
      await this.scanForeign();

      const processEvent: ProcessHookEvent = {
        session: this.session,
        dirs: { ...dirs },
        actions: { download: this.download, check: this.check, expire: this.expire },
      };
      try {
        await callHooks(hooks['process:before'], processEvent);
      } catch (cause) {
        throw new ImageCacheError('ERR_CACHE_VETOED', `the process:before hook vetoed the run`, { cause });
      }
      await deliver(this.event('ProcessPrefix'));

      await this.loadCandidates();
      if (this.expire) await this.expireStep();
      if (this.check) await this.checkStep();
      if (this.download) await this.downloadStep();
      // Saved on every run, so every directory has its index as the originals left it.
      await this.saveIndexes(() => {}, ['cache', 'expired', 'partial']);

      await deliver(this.event('ProcessPostfix'));
      await this.afterHook(
        hooks['process:after'],
        { ...processEvent, result: this.summary },
        'process:after',
      );
      return this.summary;
    }

    async afterHook<E>(h: Parameters<typeof callHooks<E>>[0], event: E, name: string): Promise<void> {
      try {
        await callHooks(h, event);
      } catch (err) {
        log('warn', `${name} hook failed: ${(err as Error).message}`);
      }
    }

    async removeOwnTemporaries(): Promise<void> {
      for (const dir of Object.values(dirs)) {
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          if (entry.isFile() && entry.name.startsWith(TEMP_PREFIX))
            await rm(join(dir, entry.name), { force: true });
        }
      }
    }

    /**
     * A run killed between moving a verified file into the cache and saving the cache index leaves the file in
     * the cache and its entry in the partial index. Moving it back lets the normal path verify it again and make
     * it available with both events.
     */
    async recoverInterruptedMoves(): Promise<void> {
      for (const id of Object.keys(this.partialIndex)) {
        if (this.cacheIndex[id]) continue;
        const name = imageFileName(id);
        const partialPath = inside(dirs.partial, name);
        const cachePath = inside(dirs.cache, name);
        if ((await exists(partialPath)) || !(await exists(cachePath))) continue;
        log('info', `${id}: recovering a file moved into the cache by an interrupted run`);
        await moveFile(cachePath, partialPath);
      }
    }

    async scanForeign(): Promise<void> {
      const known = (index: CacheIndex) =>
        new Set(Object.entries(index).map(([key, e]) => (typeof e.filename === 'string' ? e.filename : key)));
      const partialNames = new Set(Object.keys(this.partialIndex).map(imageFileName));
      const checks: [string, Set<string>][] = [
        [dirs.cache, known(this.cacheIndex)],
        [dirs.partial, partialNames],
        [dirs.expired, known(this.expiredIndex)],
      ];
      for (const [dir, names] of checks) {
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          if (!entry.isFile() || entry.name === INDEX_FILE || names.has(entry.name)) continue;
          const path = join(dir, entry.name);
          log('warn', `${path} was not created by vmcatcher; leaving it alone`);
          this.summary.foreign.push(path);
        }
      }
    }

    async loadCandidates(): Promise<void> {
      const at = now();
      const marked = new Set<number>();
      for (const c of await store.subscriber.listCacheCandidates()) {
        if (c.list.expired || c.list.expires.getTime() <= at.getTime()) {
          // Reference §6.7: an expired list must stop endorsing its images, whether or not it was re-fetched.
          this.listExpired.add(c.identifier);
          if (!c.list.expired && !marked.has(c.list.id)) {
            marked.add(c.list.id);
            await store.subscriber.markImageListExpired(c.list.id, at);
            log('info', `image list ${c.subscription} expired at ${c.list.expires.toISOString()}`);
          }
          continue;
        }
        const cached = this.cacheIndex[c.identifier];
        const current = this.wanted.get(c.identifier);
        if (!current || (cached && sameImage(cached, c.latest) && !sameImage(cached, current.latest))) {
          this.wanted.set(c.identifier, c);
        }
      }
    }

    list(subscription: string): Promise<StoredImageList | undefined> {
      const cached = this.lists.get(subscription);
      if (cached) return cached;
      const p = store.subscriber.getLatestImageList(subscription);
      this.lists.set(subscription, p);
      return p;
    }

    async expireStep(): Promise<void> {
      for (const [key, entry] of Object.entries(this.cacheIndex)) {
        const id = identifierOf(key, entry);
        const c = this.wanted.get(id);
        if (c && sameImage(entry, c.latest)) {
          const filename = typeof entry.filename === 'string' ? entry.filename : imageFileName(id);
          if (await exists(inside(dirs.cache, filename))) continue;
          // Removed behind our back: forget it, so the download step fetches it again.
          log('warn', `${id}: cached file ${filename} is missing; it will be downloaded again`);
          await this.saveIndexes(() => delete this.cacheIndex[key], ['cache']);
          continue;
        }
        await this.expireEntry(key, entry, !c && this.listExpired.has(id) ? 'list-expired' : 'not-endorsed');
      }
    }

    async expireEntry(key: string, entry: CacheIndexEntry, reason: ExpireReason): Promise<boolean> {
      const id = identifierOf(key, entry);
      return this.serial(async () => {
        const filename = typeof entry.filename === 'string' ? entry.filename : imageFileName(id);
        const path = inside(dirs.cache, filename);
        const metadata = eventMetadata({ ...entry, filename });
        const hookEvent = { session: this.session, identifier: id, metadata, filename, path, reason };
        try {
          await callHooks(hooks['image:expire:before'], hookEvent);
        } catch (err) {
          log('warn', `${id}: expiry vetoed by a hook: ${(err as Error).message}`);
          this.summary.vetoed.push({ identifier: id, step: 'expire' });
          return false;
        }
        await deliver(this.event('ExpirePrefix', metadata));
        let expiredName = `${filename}.${expiryTimestamp(now())}`;
        for (
          let n = 1;
          (await exists(join(dirs.expired, expiredName))) || this.expiredIndex[expiredName];
          n++
        ) {
          expiredName = `${filename}.${expiryTimestamp(now())}.${n}`;
        }
        const expiredPath = inside(dirs.expired, expiredName);
        // Indexed in expired/ before the move, so a crash in between never leaves an unindexed file there.
        await this.saveIndexes(() => {
          this.expiredIndex[expiredName] = { ...entry, filename: expiredName };
        }, ['expired']);
        let moved = true;
        try {
          await moveFile(path, expiredPath);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          moved = false;
          log('warn', `${id}: cached file ${path} is missing; dropping its entry`);
        }
        await this.saveIndexes(() => {
          delete this.cacheIndex[key];
          if (!moved) delete this.expiredIndex[expiredName];
        }, ['cache', 'expired']);
        const after = moved ? expiredName : filename;
        await deliver(this.event('ExpirePostfix', { ...metadata, filename: after }));
        await this.afterHook(
          hooks['image:expire:after'],
          {
            ...hookEvent,
            metadata: { ...metadata, filename: after },
            filename: after,
            path: moved ? expiredPath : path,
          },
          'image:expire:after',
        );
        this.summary.expired.push(id);
        log('info', `${id}: expired (${reason}) to ${expiredPath}`);
        return true;
      });
    }

    async verifyFailed(event: Omit<VerifyFailedHookEvent, 'session'>): Promise<void> {
      const full: VerifyFailedHookEvent = { session: this.session, ...event };
      await this.afterHook(hooks['image:verify:failed'], full, 'image:verify:failed');
      if (options.commandEvents?.includes('ImageVerifyFailed')) {
        await deliver(
          this.event('ImageVerifyFailed', {
            ...event.metadata,
            'vmcatcher:verify.stage': event.stage,
            'vmcatcher:verify.reason': event.reason,
          }),
        );
      }
    }

    async checkStep(): Promise<void> {
      for (const [key, entry] of Object.entries(this.cacheIndex)) {
        const id = identifierOf(key, entry);
        const filename = typeof entry.filename === 'string' ? entry.filename : imageFileName(id);
        const path = inside(dirs.cache, filename);
        const size = Number(entry['hv:size'] ?? entry.size);
        const sha512 = String(entry['sl:checksum:sha512'] ?? entry.sha512 ?? '').toLowerCase();
        const actual = await hashFile(path);
        const expected = { size, sha512 };
        const metadata = eventMetadata({ ...entry, filename });
        if (!actual) {
          await this.verifyFailed({ identifier: id, metadata, stage: 'check', reason: 'missing', expected });
          await this.expireEntry(key, entry, 'corrupt');
        } else if (actual.size !== size || actual.sha512 !== sha512) {
          log('error', `${id}: cached file ${path} is corrupt`);
          await this.verifyFailed({
            identifier: id,
            metadata,
            stage: 'check',
            reason: actual.size !== size ? 'size' : 'sha512',
            expected,
            actual,
          });
          await this.expireEntry(key, entry, 'corrupt');
        } else {
          this.summary.verified.push(id);
        }
      }
    }

    async downloadStep(): Promise<void> {
      // Partial files of images no longer wanted (or wanted with other bytes) are ours to remove.
      for (const [id, entry] of Object.entries(this.partialIndex)) {
        const c = this.wanted.get(id);
        if (c && sameImage(entry, c.latest)) continue;
        await rm(inside(dirs.partial, imageFileName(id)), { force: true });
        await this.saveIndexes(() => delete this.partialIndex[id], ['partial']);
      }
      const todo: Candidate[] = [];
      for (const c of this.wanted.values()) {
        const cached = this.cacheIndex[c.identifier];
        if (!cached) todo.push(c);
        else if (!sameImage(cached, c.latest))
          log('warn', `${c.identifier}: an older copy is still cached (expiry vetoed)`);
      }
      let next = 0;
      const worker = async () => {
        while (next < todo.length) {
          const c = todo[next++];
          try {
            await this.downloadOne(c);
          } catch (err) {
            const code =
              err instanceof ImageCacheError
                ? err.code
                : ((err as { code?: string }).code ?? 'ERR_CACHE_DOWNLOAD');
            log('error', `${c.identifier}: ${(err as Error).message}`);
            this.summary.failed.push({ identifier: c.identifier, code, message: (err as Error).message });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
    }

    async downloadOne(c: Candidate): Promise<void> {
      const id = c.identifier;
      const img = c.latest;
      const name = imageFileName(id);
      const partialPath = inside(dirs.partial, name);
      const list = await this.list(c.subscription);
      const entry = indexEntry(c, list, name);
      const msgHash = list?.dataHash ?? c.list.dataHash;
      const previous = this.partialIndex[id];
      const trys = previous?.DownLoadTrys as { count?: number; msgHash?: string } | undefined;
      const count = trys && trys.msgHash === msgHash ? Number(trys.count ?? 0) : 0;
      if (count >= maxAttempts) {
        throw new ImageCacheError(
          'ERR_CACHE_GAVE_UP',
          `${id}: ${count} failed downloads for this list; giving up until a new image list`,
          { identifier: id, uri: img.uri },
        );
      }
      const have = previous && (await exists(partialPath)) ? (await stat(partialPath)).size : 0;
      const fs = await statfs(dirs.partial);
      const free = Number(fs.bavail) * Number(fs.bsize);
      if (free < img.size - have) {
        throw new ImageCacheError(
          'ERR_CACHE_NO_SPACE',
          `${id}: ${img.size - have} bytes needed in ${dirs.partial}, ${free} free`,
          { identifier: id, path: dirs.partial },
        );
      }
      // The entry is saved before the file is written, so the file is never taken for a foreign one.
      await this.saveIndexes(() => {
        this.partialIndex[id] = { ...entry, DownLoadTrys: { count: count + 1, msgHash } };
      }, ['partial']);
      let resumedFrom = 0;
      let lastTenth = -1;
      try {
        const r = await transfer(
          {
            identifier: id,
            uri: img.uri,
            path: partialPath,
            size: img.size,
            sha512: img.sha512,
            log,
            ...(options.sleep ? { sleep: options.sleep } : {}),
            onProgress: (bytes, total) => {
              const p = { session: this.session, identifier: id, bytes, total, resumedFrom };
              void callHooks(hooks.progress, p).catch((err) =>
                log('warn', `progress hook failed: ${err.message}`),
              );
              const tenth = Math.floor((bytes / Math.max(total, 1)) * 10);
              if (options.commandEvents?.includes('ImageProgress') && tenth !== lastTenth) {
                lastTenth = tenth;
                void deliver(
                  this.event('ImageProgress', {
                    ...eventMetadata(entry),
                    'vmcatcher:progress.bytes': bytes,
                    'vmcatcher:progress.total': total,
                  }),
                );
              }
            },
          },
          downloadOptions,
          this.transport,
        );
        resumedFrom = r.resumedFrom;
      } catch (err) {
        if (err instanceof ImageCacheError && err.code === 'ERR_CACHE_VERIFY') {
          await rm(partialPath, { force: true });
          await this.verifyFailed({
            identifier: id,
            metadata: eventMetadata(entry),
            stage: 'download',
            reason: /sha512/.test(err.message) ? 'sha512' : 'size',
            expected: { size: img.size, sha512: img.sha512.toLowerCase() },
          });
        }
        throw err;
      }
      await this.commitAvailable(id, entry, name, partialPath);
    }

    commitAvailable(id: string, entry: CacheIndexEntry, name: string, partialPath: string): Promise<void> {
      return this.serial(async () => {
        const cachePath = inside(dirs.cache, name);
        const metadata = eventMetadata(entry);
        const hookEvent: ImageHookEvent = {
          session: this.session,
          identifier: id,
          metadata,
          filename: name,
          path: cachePath,
        };
        try {
          await callHooks(hooks['image:available:before'], hookEvent);
        } catch (err) {
          log('warn', `${id}: vetoed by an image:available:before hook: ${(err as Error).message}`);
          this.summary.vetoed.push({ identifier: id, step: 'available' });
          return;
        }
        await deliver(this.event('AvailablePrefix', metadata));
        await moveFile(partialPath, cachePath);
        const trys = this.partialIndex[id]?.DownLoadTrys;
        await this.saveIndexes(() => {
          this.cacheIndex[id] = { ...entry, ...(trys ? { DownLoadTrys: trys } : {}), filename: name };
          delete this.partialIndex[id];
        }, ['cache', 'partial']);
        await deliver(this.event('AvailablePostfix', metadata));
        await this.afterHook(hooks['image:available:after'], hookEvent, 'image:available:after');
        this.summary.downloaded.push(id);
        log('info', `${id}: cached as ${cachePath}`);
      });
    }
  }

  async function retryEvents(): Promise<RetryEventsResult> {
    await prepareDirectories();
    return store.withLock(
      'vmcatcher-cache',
      async () => {
        const failed = await store.subscriber.listFailedEvents();
        let delivered = 0;
        for (const f of failed) {
          // New-image events went to the subscription's command (VMCATCHER_SUB_EVENT), the rest to the cache's.
          const command =
            f.type === 'SubscriptionImageNew' ? options.newImageEventCommand : options.eventCommand;
          if (!command) {
            log(
              'warn',
              `no event command to re-deliver the ${f.type} event ${f.id}; stopping to keep the order`,
            );
            break;
          }
          const r = await runEventCommand(command, f.payload as unknown as AnyVmcatcherEvent, {
            ...(options.eventTimeoutMs === undefined ? {} : { timeoutMs: options.eventTimeoutMs }),
            ...(options.eventKillGraceMs === undefined ? {} : { killGraceMs: options.eventKillGraceMs }),
            ...(options.eventEnv === undefined ? {} : { env: options.eventEnv }),
            log,
          });
          if (r.exitCode === 0 && !r.timedOut) {
            await store.subscriber.deleteFailedEvent(f.id);
            delivered++;
            continue;
          }
          await store.subscriber.bumpFailedEvent(f.id, describeFailure(r, options.eventTimeoutMs ?? 10_000));
          break;
        }
        return { delivered, remaining: failed.length - delivered };
      },
      options.lockWaitMs === undefined ? undefined : { waitMs: options.lockWaitMs },
    );
  }

  return { dirs, run, retryEvents };
}

function identifierOf(key: string, entry: CacheIndexEntry): string {
  const id = entry['dc:identifier'] ?? entry.uuid;
  return typeof id === 'string' && id !== '' ? id : key;
}

function sameImage(entry: CacheIndexEntry, img: ImageInstance): boolean {
  const sha = String(entry['sl:checksum:sha512'] ?? entry.sha512 ?? '').toLowerCase();
  const size = Number(entry['hv:size'] ?? entry.size);
  return sha === img.sha512.toLowerCase() && size === img.size;
}

/** A `cache.index` entry with every field of reference §3.4. */
function indexEntry(c: Candidate, list: StoredImageList | undefined, filename: string): CacheIndexEntry {
  const img = c.latest;
  const entry: CacheIndexEntry = {};
  for (const [k, v] of Object.entries(img.image ?? {})) entry[`hv:image.${k}`] = v;
  Object.assign(entry, {
    'dc:identifier': c.identifier,
    'hv:uri': img.uri,
    'sl:checksum:sha512': img.sha512.toLowerCase(),
    'hv:size': img.size,
    'hv:imagelist.dc:identifier': c.subscription,
    'dc:title': img.title,
    'dc:description': img.description,
    'hv:version': img.version,
    'hv:hypervisor': img.hypervisor,
    'sl:arch': img.arch,
    'sl:comments': img.comments,
    'sl:os': img.os,
    'sl:osversion': img.osversion,
    uri: img.uri,
    sha512: img.sha512.toLowerCase(),
    size: img.size,
    uuid: c.identifier,
    msgHash: list?.dataHash ?? c.list.dataHash,
    message: list ? Buffer.from(list.data).toString('utf8') : '',
    filename,
  });
  const vo = list?.metadata['ad:vo'];
  if (vo !== undefined && vo !== null && vo !== '') entry['hv:imagelist.ad:vo'] = vo;
  return entry;
}

/** Event metadata: the index entry without the signed list text, which would bloat every event. */
function eventMetadata(entry: CacheIndexEntry): CacheIndexEntry {
  const { message: _message, ...rest } = entry;
  return rest;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** rename(2), or copy and unlink across file systems (the partial directory may be elsewhere). */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const dir = resolve(to, '..');
    const tmp = join(dir, `${TEMP_PREFIX}move-${process.pid}-${randomUUID()}`);
    await copyFile(from, tmp);
    await rename(tmp, to);
    await rm(from, { force: true });
  }
}

async function hashFile(path: string): Promise<{ size: number; sha512: string } | undefined> {
  const hash = createHash('sha512');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return { size, sha512: hash.digest('hex') };
}
