// Step 6: download every candidate that is not cached, `concurrency` at a time: refused URIs and trust problems
// first (nothing is written), then a partial file of the cache's own (a foreign file at the usual name is left
// alone and the download goes to another), space reserved across the parallel downloads, the transfer, and the
// commit. A failure of one image never stops the others; it is in `summary.failed`.
import { type Logger, mapLimit, messageOf } from '@hepix/common';
import { imageLocations } from '@hepix/site-policy';
import { redactUrl, type TlsTrust } from '@hepix/transport';
import {
  type Candidate,
  entryFilename,
  entryImage,
  entrySubscription,
  eventMetadata,
  indexEntry,
  sameImage,
  withFields,
} from '../entries.js';
import { asCacheError, ImageCacheError } from '../errors.js';
import { callHooks } from '../hooks.js';
import type { CacheIndexEntry } from '../index-file.js';
import { imageFileName, uniqueName } from '../names.js';
import type { PartialFile } from '../storage.js';
import {
  type DownloadOptions,
  imageSource,
  imageTrust,
  type TransferRequest,
  transfer,
} from '../transfer.js';
import { candidateFor } from './candidates.js';
import { verifyFailed } from './check.js';
import { commitAvailable } from './commit.js';
import type { RunContext } from './context.js';
import { recordFailure } from './expire.js';

/** Step 6 of one run alone (after cleanPartials): every candidate not cached, `concurrency` at a time. */
export async function downloadWanted(ctx: RunContext): Promise<void> {
  await mapLimit(wanted(ctx), ctx.settings.concurrency, (c) => downloadGuarded(ctx, c));
}

/** Partial files of images no longer wanted (or wanted with other bytes, or cached meanwhile) are ours to remove. */
export async function cleanPartials(ctx: RunContext): Promise<void> {
  const { indexes, storage } = ctx;
  const cachedBy = cachedCandidates(ctx);
  // With several workers, a download another one is doing is its to finish or undo, even if this run's
  // candidates (from a newer list) no longer want it.
  const busy = ctx.settings.workers
    ? new Set((await ctx.store.claims.list(IMAGE_CLAIM)).map((c) => c.item))
    : new Set<string>();
  for (const [key, entry] of indexes.partial.list()) {
    if (
      busy.has(
        claimItem({ subscription: entrySubscription(entry) ?? '', identifier: entryImage(key, entry) }),
      )
    )
      continue;
    const c = candidateFor(ctx, key, entry);
    if (c && sameImage(entry, c.latest) && !cachedBy.has(c)) continue;
    const name = entryFilename(key, entry);
    try {
      await storage.remove('partial', name);
    } catch (err) {
      if (!(err instanceof ImageCacheError && err.code === 'ERR_CACHE_UNSAFE_FILE')) throw err;
      ctx.log('warn', `${err.message}`, { name: 'cache' });
    }
    indexes.partial.delete(key);
  }
  await indexes.save();
}

function cachedCandidates(ctx: RunContext): Map<Candidate, CacheIndexEntry> {
  const cachedBy = new Map<Candidate, CacheIndexEntry>();
  for (const [key, entry] of ctx.indexes.cache.list()) {
    const c = candidateFor(ctx, key, entry);
    if (c) cachedBy.set(c, entry);
  }
  return cachedBy;
}

/** The candidates with no cached copy. */
function wanted(ctx: RunContext): Candidate[] {
  const cachedBy = cachedCandidates(ctx);
  const todo: Candidate[] = [];
  for (const c of ctx.candidates.values()) {
    const cached = cachedBy.get(c);
    if (!cached) todo.push(c);
    else if (!sameImage(cached, c.latest))
      ctx.about(c.identifier, c.subscription)(
        'warn',
        'an older copy is still cached (its expiry was vetoed)',
      );
  }
  return todo;
}

/** One download; its failure is the image's (logged, in the summary), never the run's. */
async function downloadGuarded(
  ctx: RunContext,
  c: Candidate,
  signal = ctx.signal,
): Promise<'cached' | 'elsewhere' | 'failed'> {
  try {
    return (await downloadOne(ctx, c, signal)) ? 'cached' : 'elsewhere';
  } catch (err) {
    const e = asCacheError(err, { image: c.identifier, subscription: c.subscription });
    ctx.about(c.identifier, c.subscription)('error', e.message, { code: e.code });
    recordFailure(ctx, c.identifier, c.subscription, e);
    return 'failed';
  }
}

/** The claim kind of a download: the image of one subscription (its cache slot). */
const IMAGE_CLAIM = 'image';

/** `subscription/identifier`, each part URI-encoded: readable in `store.claims.list`, and never a NUL byte. */
function claimItem(c: Pick<Candidate, 'subscription' | 'identifier'>): string {
  return `${encodeURIComponent(c.subscription)}/${encodeURIComponent(c.identifier)}`;
}

/**
 * Step 6 of one worker among several: each candidate not cached is claimed first (a row lease in the store,
 * renewed every third of the lease while the run works); one another worker holds is left to it. A claim is
 * released when its download ends, with `done` once the image is cached.
 */
export async function downloadClaimed(ctx: RunContext): Promise<void> {
  const { store } = ctx;
  const leaseMs = ctx.settings.workers?.leaseMs ?? 60_000;
  const owner = ctx.session;
  const elsewhere = ctx.summary.claimedElsewhere ?? [];
  // Past the lease without a renewal another worker may take the images over: stop rather than write beside it.
  const heartbeat = store.claims.heartbeat(owner, leaseMs, (err) =>
    ctx.log('warn', `cannot renew the image claims: ${messageOf(err)}`, { name: 'cache' }),
  );
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, heartbeat.lost]) : heartbeat.lost;
  try {
    await mapLimit(wanted(ctx), ctx.settings.concurrency, async (c) => {
      if (signal.aborted) return;
      const item = claimItem(c);
      const [got] = await store.claims.claim(IMAGE_CLAIM, [item], { owner, leaseMs });
      if (got === undefined) {
        ctx.about(c.identifier, c.subscription)('debug', 'claimed by another worker');
        elsewhere.push({ identifier: c.identifier, subscription: c.subscription });
        return;
      }
      const outcome = await downloadGuarded(ctx, c, signal);
      if (outcome === 'elsewhere') elsewhere.push({ identifier: c.identifier, subscription: c.subscription });
      await store.claims
        .release(IMAGE_CLAIM, item, owner, { done: outcome !== 'failed' })
        .catch((err) => ctx.log('warn', `cannot release the claim of ${item}: ${messageOf(err)}`));
    });
  } finally {
    heartbeat.stop();
  }
}

/**
 * Downloads and commits one image. Returns false when, looking under the lock, the image turned out to be
 * cached already (by another worker).
 */
async function downloadOne(ctx: RunContext, c: Candidate, signal = ctx.signal): Promise<boolean> {
  const { indexes, storage, settings } = ctx;
  const id = c.identifier;
  const img = c.latest;
  const about = { image: id, subscription: c.subscription };
  const log = ctx.about(id, c.subscription);
  // Refusals first: they change nothing, not even the attempt count.
  const sources = imageSources(ctx, c, log);
  const url = sources[0].url;
  const msgHash = c.list.dataHash;
  const list = await ctx.list(c.subscription);

  // Name, space and the entry are decided one download at a time (two downloads never share a name), on the
  // indexes as they are now: with several workers, another one may have cached the image or left a partial file.
  const allocated = await ctx.critical(ctx.allocation, async () => {
    const cached = indexes.cache.find(c.subscription, id);
    if (cached && sameImage(cached[1], img)) return undefined;
    const previous = indexes.partial.find(c.subscription, id);
    const trys = previous?.[1].DownLoadTrys as { count?: number; msgHash?: string } | undefined;
    const count = trys && trys.msgHash === msgHash ? Number(trys.count ?? 0) : 0;
    if (count >= settings.maxAttempts) {
      throw new ImageCacheError(
        'ERR_CACHE_GAVE_UP',
        `${count} failed downloads for this list; giving up until a new image list`,
        { ...about, uri: url.href },
      );
    }
    const ownName = previous ? entryFilename(previous[0], previous[1]) : undefined;
    let name = ownName;
    let have = 0;
    if (name !== undefined) {
      const f = await storage.stat('partial', name);
      if (f && f.kind !== 'file') {
        log(
          'warn',
          `${storage.path('partial', name)} is a ${f.kind}, not the partial file the cache made; leaving it alone`,
        );
        name = undefined;
      } else {
        have = f?.size ?? 0;
      }
    }
    const taken = new Set([...indexes.partial.filenames(), ...ctx.found.partial.keys()]);
    name ??= await freeName(ctx, imageFileName(id), taken);
    const reservation = await ctx.space.reserve(Math.max(0, img.size - have), about);
    try {
      const key = previous?.[0] ?? indexes.partial.newKey(id);
      // The entry is saved before the file is written, so the file is never taken for a foreign one.
      const entry = withFields(indexEntry(c, list?.metadata, msgHash, name), {
        DownLoadTrys: { count: count + 1, msgHash },
      });
      indexes.partial.set(key, entry);
      await indexes.save();
      let file: PartialFile | undefined;
      for (let tries = 0; !file; tries++) {
        try {
          // Only the cache's own partial file is resumed; a new name is created exclusively.
          file = await storage.openPartial(name, { resume: name === ownName });
        } catch (err) {
          if (!(err instanceof ImageCacheError && err.code === 'ERR_CACHE_UNSAFE_FILE') || tries >= 3)
            throw err;
          // Something appeared at that name since: leave it, take another.
          log('warn', `${err.message}`);
          taken.add(name);
          name = await freeName(ctx, imageFileName(id), taken);
          indexes.partial.set(key, withFields(entry, { filename: name }));
          await indexes.save();
        }
      }
      return { key, name, file, reservation, previous: previous?.[1], entry: indexes.partial.get(key) };
    } catch (err) {
      reservation.release();
      throw err;
    }
  });
  if (!allocated) {
    log('info', 'cached by another worker meanwhile');
    return false;
  }
  const { key, name, file, reservation, previous } = allocated;
  const entry = allocated.entry as CacheIndexEntry;

  let lastTenth = -1;
  try {
    const r = await transferFromLocations(
      ctx,
      c,
      sources,
      {
        image: id,
        subscription: c.subscription,
        file,
        size: img.size,
        sha512: img.sha512,
        log,
        ...(settings.sleep ? { sleep: settings.sleep } : {}),
        ...(signal ? { signal } : {}),
        onBytes: (n) => {
          reservation.wrote(n);
          ctx.bytesDownloaded += n;
        },
        onProgress: (bytes, total) => {
          const p = { session: ctx.session, identifier: id, subscription: c.subscription, bytes, total };
          // Not awaited: a slow progress hook must not slow the transfer.
          void Promise.resolve()
            .then(() => callHooks(ctx.settings.hooks.progress, p))
            .catch((err) => log('warn', `progress hook failed: ${messageOf(err)}`));
          const tenth = Math.floor((bytes / Math.max(total, 1)) * 10);
          if (tenth !== lastTenth && settings.commandEvents.includes('ImageProgress')) {
            lastTenth = tenth;
            void ctx.events.fireExtended(
              'ImageProgress',
              eventMetadata(entry, { 'vmcatcher:progress.bytes': bytes, 'vmcatcher:progress.total': total }),
            );
          }
        },
      },
      entry,
    );
    if (r.resumedFrom > 0) log('debug', `resumed from byte ${r.resumedFrom} after ${r.attempts} attempts`);
  } catch (err) {
    await file.close().catch(() => {});
    reservation.release();
    await ctx.critical(ctx.allocation, () => failed(ctx, c, key, name, previous, err));
    throw err;
  }
  await file.close();
  reservation.release();
  // Several workers: an upload to object storage happens here, outside the lock that commits are under.
  if (settings.workers && storage.stage) {
    try {
      await storage.stage(name, 'cache');
    } catch (err) {
      await ctx.critical(ctx.allocation, () => failed(ctx, c, key, name, previous, err));
      throw err;
    }
  }
  await commitAvailable(ctx, c, key, name, list);
  return true;
}

/** One place an image can be fetched from, with the trust its server is authenticated with. */
interface Source {
  url: URL;
  tls: TlsTrust;
}

/**
 * Where the image can be fetched from: `hv:uri`, then each `sl:locations` URL (mirrors of the same bytes), each
 * under the same scheme and trust rules. A location refused by them is logged and skipped; when every one is
 * refused, the first refusal (hv:uri's) is thrown.
 */
function imageSources(ctx: RunContext, c: Candidate, log: Logger): Source[] {
  const { settings } = ctx;
  const about = { image: c.identifier, subscription: c.subscription };
  const locations = imageLocations(c.latest.image);
  if (!locations.length || locations[0] !== c.latest.uri) locations.unshift(c.latest.uri);
  const out: Source[] = [];
  let first: unknown;
  for (const location of locations) {
    try {
      const url = imageSource(location, settings.allowFileUris, about);
      const tls =
        url.protocol === 'file:'
          ? { mode: 'none' as const }
          : imageTrust(settings.download, c.trustAnchor, settings.certDir, about);
      out.push({ url, tls });
    } catch (err) {
      if (out.length === 0 && first === undefined) first = err;
      if (locations.length > 1) log('warn', `location ${redactUrl(location)} skipped: ${messageOf(err)}`);
    }
  }
  if (!out.length) throw first;
  return out;
}

/** Failures of one location that another location may not have: the next one is tried. */
const NEXT_LOCATION = new Set([
  'ERR_CACHE_DOWNLOAD',
  'ERR_CACHE_DEADLINE',
  'ERR_CACHE_VERIFY',
  'ERR_CACHE_TLS',
  'ERR_CACHE_TRUST',
  'ERR_CACHE_REDIRECT',
  'ERR_CACHE_URI_REFUSED',
]);

/**
 * The single-URL transfer, location after location: every location but the last gets one attempt, the last
 * one the configured retries. A partial file left by a failed location is resumed from the next one (the
 * sha512 covers the whole file); wrong bytes are discarded first. The last location's failure is thrown.
 */
async function transferFromLocations(
  ctx: RunContext,
  c: Candidate,
  sources: Source[],
  req: Omit<TransferRequest, 'url' | 'tls'>,
  entry: CacheIndexEntry,
) {
  const log = req.log ?? ctx.about(c.identifier, c.subscription);
  for (const [n, source] of sources.entries()) {
    const last = n === sources.length - 1;
    const options: DownloadOptions = last ? ctx.settings.download : { ...ctx.settings.download, retries: 0 };
    try {
      const r = await transfer({ ...req, url: source.url, tls: source.tls }, options, ctx.transport);
      if (n > 0)
        log('info', `downloaded from location ${n + 1} of ${sources.length}: ${redactUrl(source.url.href)}`);
      return r;
    } catch (err) {
      if (last || req.signal?.aborted || !(err instanceof ImageCacheError) || !NEXT_LOCATION.has(err.code))
        throw err;
      log(
        'warn',
        `location ${n + 1} of ${sources.length} failed (${err.code}): ${err.message}; trying ${redactUrl(sources[n + 1].url.href)}`,
        { uri: redactUrl(source.url.href), code: err.code },
      );
      if (err.code === 'ERR_CACHE_VERIFY') {
        await req.file.truncate();
        await verifyFailed(ctx, {
          identifier: c.identifier,
          subscription: c.subscription,
          metadata: eventMetadata(entry, { 'vmcatcher:verify.uri': redactUrl(source.url.href) }),
          stage: 'download',
          reason: err.reason === 'sha512' ? 'sha512' : 'size',
          expected: { size: c.latest.size, sha512: c.latest.sha512.toLowerCase() },
        });
      }
    }
  }
  throw new ImageCacheError('ERR_CACHE_INTERNAL', 'no location to download from');
}

/** Refusals of the policy or the configuration: the cache is left as it was before the attempt. */
const REFUSED = new Set(['ERR_CACHE_TLS', 'ERR_CACHE_TRUST', 'ERR_CACHE_REDIRECT', 'ERR_CACHE_URI_REFUSED']);

/**
 * What a failed transfer leaves: a mismatch removes the partial file (the attempt counts); a full disk removes
 * it too (it cannot be resumed into; not counted); a refusal undoes the attempt; anything else keeps the file
 * for a resume.
 */
async function failed(
  ctx: RunContext,
  c: Candidate,
  key: string,
  name: string,
  previous: CacheIndexEntry | undefined,
  err: unknown,
) {
  const { indexes, storage } = ctx;
  if (!(err instanceof ImageCacheError)) return;
  const log = ctx.about(c.identifier, c.subscription);
  const entry = indexes.partial.get(key);
  if (ctx.signal?.aborted && err.code !== 'ERR_CACHE_VERIFY') {
    // The run was stopped (SIGTERM of a worker, a lost lock): not a failed attempt, or a worker restarted five
    // times in one download would give the image up. The file stays for a resume.
    if (entry) {
      indexes.partial.set(key, withFields(entry, { DownLoadTrys: previous?.DownLoadTrys }));
      await indexes.save().catch((e) => log('warn', `cannot save the partial index: ${messageOf(e)}`));
    }
    return;
  }
  const undo = async (removeFile: boolean) => {
    if (removeFile) await storage.remove('partial', name).catch(() => false);
    if (previous) indexes.partial.set(key, previous);
    else indexes.partial.delete(key);
    await indexes.save().catch((e) => log('warn', `cannot save the partial index: ${messageOf(e)}`));
  };
  if (err.code === 'ERR_CACHE_VERIFY') {
    await storage.remove('partial', name).catch(() => false);
    await verifyFailed(ctx, {
      identifier: c.identifier,
      subscription: c.subscription,
      metadata: entry ? eventMetadata(entry) : {},
      stage: 'download',
      reason: err.reason === 'sha512' ? 'sha512' : 'size',
      expected: { size: c.latest.size, sha512: c.latest.sha512.toLowerCase() },
    });
  } else if (err.code === 'ERR_CACHE_NO_SPACE') {
    await undo(true);
    log('error', `removed the partial file ${name}: the disk is full`);
  } else if (REFUSED.has(err.code)) {
    const f = await storage.stat('partial', name);
    await undo(f?.kind === 'file' && f.size === 0);
  }
}

/** The first of `base`, `base+1`, … that no entry uses and nothing occupies in the partial area. */
async function freeName(ctx: RunContext, base: string, taken: Set<string>): Promise<string> {
  for (;;) {
    const name = uniqueName(base, (n) => taken.has(n));
    if (!(await ctx.storage.stat('partial', name))) return name;
    taken.add(name);
  }
}
