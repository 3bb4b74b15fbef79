// A CacheStorage whose `cache` and `expired` areas are in an S3 bucket (`--cache-url s3://BUCKET/PREFIX`), with
// `partial` on a local disk: an image is downloaded (and hashed) there as usual, and the commit's move into the
// cache uploads it with putVerified, so the object is visible only once its sha512 and size are checked again
// on the way up.
//
// Layout under the prefix:
//   sha512/<2 hex>/<sha512>           the bytes of a cached image, content-addressed (stored once)
//   expired/sha512/<2 hex>/<sha512>   the bytes of an image that only expired names still refer to
//   names/<area>/<name>               an empty object per name of the run (metadata: sha512, size)
//   refs/<sha512>/<area>/<name>       the reverse of names/, so that "does anything still use these bytes"
//                                     is one short listing
//   index/<area>.index, messages/<sha512>   the indexes and the signed lists, as the directory storage keeps them
// A name is written after the bytes it points to and removed before them: a reader that finds a name always
// finds its bytes, and nothing half-uploaded is ever visible (a multipart upload is invisible until completed).

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { HepixError, mapLimit, openExclusive } from '@hepix/common';
import { expiredKey, imageKey, type ObjectStore, ObjectStoreError, putVerified } from '@hepix/object-store';
import { ImageCacheError } from './errors.js';
import {
  type CacheArea,
  type CacheStorage,
  createDirectoryStorage,
  kindOf,
  type StoredFile,
} from './storage.js';

export interface S3StorageOptions {
  /** The bucket and prefix (`createObjectStore({ url: 's3://BUCKET/PREFIX' })` of `@hepix/object-store`). */
  objects: ObjectStore;
  /** The local directory of the downloads in progress. */
  partial: string;
  /** Multipart uploads older than this are what killed workers left: aborted at the start of a run (24 h). */
  staleUploadMs?: number;
}

type RemoteArea = Exclude<CacheArea, 'partial'>;

const SHA512_HEX = /^[0-9a-f]{128}$/;

function remote(area: CacheArea): area is RemoteArea {
  return area !== 'partial';
}

/** Errors of the object store become the cache's one code for them, with the original as the cause. */
async function s3<T>(what: string, url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ImageCacheError) throw err;
    if (err instanceof ObjectStoreError || !(err instanceof HepixError)) {
      const message = err instanceof Error ? err.message : String(err);
      throw new ImageCacheError('ERR_CACHE_OBJECT_STORE', `${what} ${url}: ${message}`, {
        uri: url,
        cause: err,
      });
    }
    throw err;
  }
}

/** The cache and expired areas in an S3 bucket, the partial area in a local directory. */
export function createS3Storage(options: S3StorageOptions): CacheStorage {
  const { objects } = options;
  const local = createDirectoryStorage({
    cache: options.partial,
    partial: options.partial,
    expired: options.partial,
  });
  const staleMs = options.staleUploadMs ?? 24 * 3_600_000;
  const base = `s3://${objects.bucket}${objects.prefix ? `/${objects.prefix}` : ''}`;
  const locations: Record<CacheArea, string> = {
    cache: base,
    partial: local.locations.partial,
    expired: `${base}/expired`,
  };
  const nameKey = (area: RemoteArea, name: string) => `names/${area}/${encodeURIComponent(name)}`;
  const refKey = (sha: string, area: RemoteArea, name: string) =>
    `refs/${sha}/${area}/${encodeURIComponent(name)}`;
  const blobKey = (sha: string, live: boolean) => (live ? imageKey(sha) : expiredKey(imageKey(sha)));
  const path = (area: CacheArea, name: string) =>
    remote(area) ? objects.url(nameKey(area, name)) : local.path('partial', name);

  async function pointer(
    area: RemoteArea,
    name: string,
  ): Promise<{ sha512: string; size: number } | undefined> {
    const key = nameKey(area, name);
    const head = await s3('cannot read', objects.url(key), () => objects.head(key));
    if (!head) return undefined;
    const sha512 = head.metadata.sha512 ?? '';
    const size = Number(head.metadata.size);
    if (!SHA512_HEX.test(sha512) || !Number.isSafeInteger(size))
      throw new ImageCacheError(
        'ERR_CACHE_UNSAFE_FILE',
        `${objects.url(key)} is an object the cache did not create; left as it is`,
        { path: objects.url(key), found: 'other' },
      );
    return { sha512, size };
  }

  async function put(key: string, body: Uint8Array | string, metadata?: Record<string, string>) {
    await s3('cannot write', objects.url(key), () =>
      objects.putStream(key, Readable.from([Buffer.from(body)]), {
        size: Buffer.byteLength(body),
        ...(metadata ? { metadata } : {}),
      }),
    );
  }

  async function readText(key: string): Promise<string | undefined> {
    return s3('cannot read', objects.url(key), async () => {
      if (!(await objects.head(key))) return undefined;
      const chunks: Buffer[] = [];
      for await (const c of await objects.get(key)) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    });
  }

  async function refsOf(sha: string): Promise<{ cache: number; expired: number }> {
    const n = { cache: 0, expired: 0 };
    await s3('cannot list', objects.url(`refs/${sha}/`), async () => {
      for await (const o of objects.list(`refs/${sha}/`)) {
        const area = o.key.split('/')[2];
        if (area === 'cache' || area === 'expired') n[area]++;
      }
    });
    return n;
  }

  /** Puts the bytes where the names that still use them expect them: live, expired, or nowhere. */
  async function settle(sha: string): Promise<void> {
    const refs = await refsOf(sha);
    const live = blobKey(sha, true);
    const dead = blobKey(sha, false);
    await s3('cannot move', objects.url(live), async () => {
      const [l, d] = [await objects.head(live), await objects.head(dead)];
      if (refs.cache > 0) {
        if (!l && d) await objects.copy(dead, live);
        if (d && refs.expired === 0) await objects.delete(dead);
      } else if (refs.expired > 0) {
        if (l && !d) await objects.move(live, dead);
        else if (l) await objects.delete(live);
      } else {
        if (l) await objects.delete(live);
        if (d) await objects.delete(dead);
      }
    });
  }

  async function addName(area: RemoteArea, name: string, sha: string, size: number): Promise<void> {
    if (await pointer(area, name))
      throw new ImageCacheError('ERR_CACHE_UNSAFE_FILE', `${path(area, name)} exists; left as it is`, {
        path: path(area, name),
        found: 'file',
      });
    const metadata = { sha512: sha, size: String(size) };
    await put(refKey(sha, area, name), '', metadata);
    await put(nameKey(area, name), '', metadata);
  }

  async function dropName(area: RemoteArea, name: string, sha: string): Promise<void> {
    const key = nameKey(area, name);
    await s3('cannot delete', objects.url(key), () => objects.delete(key));
    const ref = refKey(sha, area, name);
    await s3('cannot delete', objects.url(ref), () => objects.delete(ref));
  }

  /** Verified partial files uploaded ahead of their move (`stage`): name → what was uploaded. */
  const staged = new Map<string, { sha512: string; size: number; id: string }>();

  /** Uploads the bytes of a partial file under their content address, visible only once verified. */
  async function uploadBlob(name: string, key: string, digest: { sha512: string; size: number }) {
    const file = local.path('partial', name);
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ELOOP')
          throw new ImageCacheError('ERR_CACHE_UNSAFE_FILE', `${file} is a symlink; left as it is`, {
            path: file,
            found: 'symlink',
          });
        throw err;
      },
    );
    try {
      const s = await handle.stat();
      if (!s.isFile())
        throw new ImageCacheError('ERR_CACHE_UNSAFE_FILE', `${file} is a ${kindOf(s)}; left as it is`, {
          path: file,
          found: kindOf(s),
        });
      await s3('cannot upload to', objects.url(key), () =>
        putVerified(objects, key, handle.createReadStream(), {
          expectedSha512: digest.sha512,
          expectedSize: digest.size,
        }),
      );
    } finally {
      // The stream closes the handle when it ends or is destroyed; this closes it when it was never read.
      await handle.close().catch(() => {});
    }
  }

  /** The partial file's identity and size, if it is a regular file. */
  async function partialFile(name: string) {
    const found = await local.stat('partial', name);
    if (!found) return undefined;
    if (found.kind !== 'file') {
      const file = local.path('partial', name);
      throw new ImageCacheError('ERR_CACHE_UNSAFE_FILE', `${file} is a ${found.kind}; left as it is`, {
        path: file,
        found: found.kind,
      });
    }
    return found;
  }

  async function uploadPartial(name: string, to: RemoteArea, toName: string): Promise<'moved' | 'missing'> {
    const found = await partialFile(name);
    if (!found) return 'missing';
    const early = staged.get(name);
    staged.delete(name);
    let digest: { sha512: string; size: number } | undefined;
    if (early && early.id === found.id && early.size === found.size) {
      // Uploaded by `stage`; only checked to be still there (another name's expiry may have removed bytes
      // that no name referred to yet).
      const key = blobKey(early.sha512, to === 'cache');
      if (await s3('cannot read', objects.url(key), () => objects.head(key))) digest = early;
    }
    if (!digest) {
      // The transfer verified the bytes against the list; hashing the file again gives the content address, and
      // putVerified checks on the way up that the object holds exactly these bytes. The local storage's hash
      // refuses a file replaced while it is read; the upload opens it without following a link.
      digest = await local.hash('partial', name);
      if (!digest) return 'missing';
      await uploadBlob(name, blobKey(digest.sha512, to === 'cache'), digest);
    }
    const digestHex = digest.sha512;
    await addName(to, toName, digestHex, digest.size);
    await settle(digestHex);
    await local.remove('partial', name);
    return 'moved';
  }

  async function downloadToPartial(
    from: RemoteArea,
    name: string,
    toName: string,
  ): Promise<'moved' | 'missing'> {
    const p = await pointer(from, name);
    if (!p) return 'missing';
    const file = local.path('partial', toName);
    const handle = await openExclusive(file, 0o644);
    try {
      const hash = createHash('sha512');
      await s3('cannot read', objects.url(blobKey(p.sha512, from === 'cache')), async () => {
        for await (const chunk of await objects.get(blobKey(p.sha512, from === 'cache'))) {
          const data = chunk as Buffer;
          hash.update(data);
          for (let offset = 0; offset < data.length; ) {
            const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
            offset += bytesWritten;
          }
        }
        if (hash.digest('hex') !== p.sha512)
          throw new Error('the object does not hold the bytes it is named for');
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await dropName(from, name, p.sha512);
    await settle(p.sha512);
    return 'moved';
  }

  const storage: CacheStorage = {
    locations,

    async prepare({ create }) {
      await local.prepare({ create });
      if (create) await s3('cannot create the bucket of', base, () => objects.ensureBucket());
    },

    path,

    async list(area) {
      if (!remote(area)) return local.list('partial');
      const names: string[] = [];
      await s3('cannot list', objects.url(`names/${area}/`), async () => {
        for await (const o of objects.list(`names/${area}/`))
          names.push(o.key.slice(`names/${area}/`.length));
      });
      const out = await mapLimit(names, 8, async (encoded) => {
        const name = decodeURIComponent(encoded);
        return storage.stat(area, name).catch((err) => {
          if (err instanceof ImageCacheError && err.code === 'ERR_CACHE_UNSAFE_FILE')
            return { name, kind: 'other', size: 0, id: `s3:${encoded}` } satisfies StoredFile;
          throw err;
        });
      });
      return out.filter((f): f is StoredFile => f !== undefined);
    },

    async stat(area, name) {
      if (!remote(area)) return local.stat('partial', name);
      const p = await pointer(area, name);
      return p && { name, kind: 'file', size: p.size, id: `s3:${p.sha512}` };
    },

    readIndex: (area) => (remote(area) ? readText(`index/${area}.index`) : local.readIndex('partial')),

    writeIndex: (area, text) =>
      remote(area) ? put(`index/${area}.index`, text) : local.writeIndex('partial', text),

    async listMessages() {
      const out: string[] = [];
      await s3('cannot list', objects.url('messages/'), async () => {
        for await (const o of objects.list('messages/')) {
          const h = o.key.slice('messages/'.length);
          if (SHA512_HEX.test(h)) out.push(h);
        }
      });
      return out;
    },

    async writeMessage(hash, data) {
      if (!SHA512_HEX.test(hash)) throw new Error(`not a sha512: ${JSON.stringify(hash)}`);
      await put(`messages/${hash}`, data);
    },

    async removeMessage(hash) {
      if (!SHA512_HEX.test(hash)) return;
      await s3('cannot delete', objects.url(`messages/${hash}`), () => objects.delete(`messages/${hash}`));
    },

    openPartial: (name, o) => local.openPartial(name, o),

    async stage(name, to) {
      const found = await partialFile(name);
      if (!found) return;
      const digest = await local.hash('partial', name);
      if (!digest) return;
      await uploadBlob(name, blobKey(digest.sha512, to === 'cache'), digest);
      staged.set(name, { ...digest, id: found.id });
    },

    async hash(area, name) {
      if (!remote(area)) return local.hash('partial', name);
      const p = await pointer(area, name);
      if (!p) return undefined;
      const key = blobKey(p.sha512, area === 'cache');
      return s3('cannot read', objects.url(key), async () => {
        if (!(await objects.head(key))) return undefined;
        const hash = createHash('sha512');
        let size = 0;
        for await (const chunk of await objects.get(key)) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        return { size, sha512: hash.digest('hex') };
      });
    },

    async move(from, name, to, toName) {
      if (!remote(from) && !remote(to)) return local.move('partial', name, 'partial', toName);
      if (!remote(from) && remote(to)) return uploadPartial(name, to, toName);
      if (remote(from) && !remote(to)) return downloadToPartial(from, name, toName);
      const p = await pointer(from as RemoteArea, name);
      if (!p) return 'missing';
      await addName(to as RemoteArea, toName, p.sha512, p.size);
      await dropName(from as RemoteArea, name, p.sha512);
      await settle(p.sha512);
      return 'moved';
    },

    async remove(area, name) {
      if (!remote(area)) return local.remove('partial', name);
      const p = await pointer(area, name);
      if (!p) return false;
      await dropName(area, name, p.sha512);
      await settle(p.sha512);
      return true;
    },

    async freeSpace(area) {
      return remote(area) ? undefined : local.freeSpace('partial');
    },

    objectUrl: (sha512) => objects.url(imageKey(sha512)),

    async removeTemporaries() {
      const n = await local.removeTemporaries();
      const aborted = await s3('cannot list the uploads of', base, () =>
        objects.abortStaleUploads('', staleMs),
      );
      return n + aborted;
    },
  };
  return storage;
}
