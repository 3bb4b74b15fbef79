// The Postfix events a change of the indexes still has to send. AvailablePostfix and ExpirePostfix report a
// change of the cache; the change and the event to send are written in one index write (PENDING_FIELD on the
// cache entry, or on the expired entry), and the field is removed once the event was handed to the sink (the
// outbox of `--events`) and the command. A run that dies in between leaves the field, and the next run sends
// the event with the same id: at least once, never lost, a duplicate recognisable by its id.
import { entryFilename, eventMetadata, PENDING_FIELD, withFields } from '../entries.js';
import type { CacheIndexEntry } from '../index-file.js';
import type { RunContext } from './context.js';

type PendingType = 'AvailablePostfix' | 'ExpirePostfix';

/** An event still to send, as the index keeps it. */
export interface PendingEvent {
  type: PendingType;
  id: string;
  /** ExpirePostfix: the cache entry's key and file name before the move, and why it expired. */
  key?: string;
  filename?: string;
  reason?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function pendingEvent(
  type: PendingType,
  id: string,
  fields: Omit<PendingEvent, 'type' | 'id'> = {},
): PendingEvent {
  return { type, id, ...fields };
}

/**
 * The pending event of an entry: undefined when there is none, null when the field is not one this library
 * wrote (the index is a file anyone with access to the directory can edit: such a field is dropped, not sent).
 */
function pendingOf(entry: CacheIndexEntry, type: PendingType): PendingEvent | null | undefined {
  const p = entry[PENDING_FIELD];
  if (p === undefined) return undefined;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
  const { type: t, id, key, filename, reason } = p as Record<string, unknown>;
  if (t !== type || typeof id !== 'string' || !UUID.test(id)) return null;
  if (type === 'ExpirePostfix' && (typeof key !== 'string' || typeof filename !== 'string')) return null;
  return {
    type,
    id,
    ...(typeof key === 'string' ? { key } : {}),
    ...(typeof filename === 'string' ? { filename } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

const without = (entry: CacheIndexEntry) => withFields(entry, { [PENDING_FIELD]: undefined });

/**
 * Before the areas are scanned: an expiry interrupted between its two index writes is finished (the file is
 * in expired/: the cache entry goes) or undone (the file is still in the cache: the expired entry goes, and
 * the expire step decides again).
 */
export async function settleExpiries(ctx: RunContext): Promise<void> {
  const { indexes, storage } = ctx;
  for (const [name, entry] of indexes.expired.list()) {
    const p = pendingOf(entry, 'ExpirePostfix');
    if (!p?.key || !p.filename) continue;
    const cached = indexes.cache.get(p.key);
    if (!cached || entryFilename(p.key, cached) !== p.filename) continue; // the cache index was written
    const [inCache, inExpired] = [
      await storage.stat('cache', p.filename),
      await storage.stat('expired', name),
    ];
    if (
      inExpired?.kind === 'file' &&
      (!inCache || (inCache.kind === 'file' && inCache.id === inExpired.id))
    ) {
      // Moved (or linked under both names): finish the expiry.
      if (inCache) await storage.remove('cache', p.filename);
      indexes.cache.delete(p.key);
    } else {
      indexes.expired.delete(name);
    }
  }
}

/** After ProcessPrefix: sends the Postfix events an interrupted run did not send, with their ids. */
export async function sendPending(ctx: RunContext): Promise<void> {
  const { indexes, events } = ctx;
  let sent = 0;
  for (const [key, entry] of indexes.cache.list()) {
    const p = pendingOf(entry, 'AvailablePostfix');
    if (p === undefined) continue;
    if (p === null) {
      ctx.log('warn', `${key}: dropping an unknown ${PENDING_FIELD} field of the cache index`, {
        name: 'cache',
      });
      indexes.cache.set(key, without(entry));
      continue;
    }
    sent++;
    if ((await events.send('AvailablePostfix', eventMetadata(entry), p.id)).queued)
      indexes.cache.set(key, without(entry));
  }
  for (const [name, entry] of indexes.expired.list()) {
    const p = pendingOf(entry, 'ExpirePostfix');
    if (p === undefined) continue;
    if (p === null || !p.filename) {
      ctx.log('warn', `${name}: dropping an unknown ${PENDING_FIELD} field of the expired index`, {
        name: 'cache',
      });
      indexes.expired.set(name, without(entry));
      continue;
    }
    sent++;
    // The file is gone when the expiry found it missing: the event names the cache file, as it did then.
    const moved = ctx.found.expired.get(name)?.kind === 'file';
    const metadata = eventMetadata(entry, {
      filename: moved ? name : p.filename,
      ...(p.reason === undefined ? {} : { reason: p.reason }),
    });
    if ((await events.send('ExpirePostfix', metadata, p.id)).queued) {
      if (moved) indexes.expired.set(name, without(entry));
      else indexes.expired.delete(name);
    }
  }
  if (sent) ctx.log('info', `sent ${sent} events an interrupted run had not sent`, { name: 'cache' });
  await indexes.save();
}
