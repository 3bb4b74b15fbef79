// The seam between the cache run and where its three areas live. The run never touches the file system itself:
// it asks a CacheStorage, so that another backend (an S3 bucket for `cache` and `expired`, with `partial` on a
// local disk) can be added without changing the steps. `createDirectoryStorage` is the one built here: three
// directories, as the originals had them.
//
// Rules of the directory storage, whatever a hostile list or another local user plants in the directories:
// - nothing is ever opened through a symbolic link (O_NOFOLLOW), and every file the cache reads or writes is
//   checked to be a regular file (lstat before, fstat after opening; a FIFO or device is never opened blocking);
// - new files are created exclusively (O_EXCL): an existing name is never taken over;
// - moves never replace what is at the target (link(2) then unlink, which fails on an existing name);
// - a name that resolves outside its directory is refused (`inside`).
import { constants, type Stats } from 'node:fs';
import {
  access,
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  stat,
  statfs,
  unlink,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { atomicWriteFile, hashFile, openExclusive, syncDirectory } from '@hepix/common';
import { type FoundKind, ImageCacheError } from './errors.js';
import { INDEX_FILE, inside, MESSAGES_DIR, TEMP_PREFIX } from './names.js';

export type CacheArea = 'cache' | 'partial' | 'expired';
export const CACHE_AREAS: readonly CacheArea[] = ['cache', 'partial', 'expired'];

/** One name in an area, as found (never followed). */
export interface StoredFile {
  name: string;
  /** `file` for a regular file. */
  kind: FoundKind;
  size: number;
  /** Identity of the file itself (device and inode): two names with one id are one file. */
  id: string;
}

/** A download's file in the partial area, open for appending. */
export interface PartialFile {
  readonly name: string;
  /** Bytes the file holds now. */
  size(): Promise<number>;
  /**
   * Feeds the file's current content into `hash`, so a resumed transfer's digest covers every byte; an update
   * that returns a promise is awaited before the next one.
   */
  hashInto(hash: { update(data: Uint8Array): unknown }): Promise<void>;
  /** Appends all of `data` at the end of the file; `data` may be reused once it resolves. */
  append(data: Uint8Array): Promise<void>;
  truncate(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface CacheStorage {
  /** Where each area is, as the event command sees it (`VMCATCHER_CACHE_DIR_*`) and hooks report it. */
  readonly locations: Readonly<Record<CacheArea, string>>;
  /** Creates (when asked) and checks the areas: `ERR_CACHE_DIRECTORY`. */
  prepare(options: { create: boolean }): Promise<void>;
  /** Where one name of an area is (for hooks and messages; a local path for directories). */
  path(area: CacheArea, name: string): string;
  /** Every name of an area but the storage's own (index, messages, temporaries, the nested areas). */
  list(area: CacheArea): Promise<StoredFile[]>;
  stat(area: CacheArea, name: string): Promise<StoredFile | undefined>;
  /** The area's `cache.index` text, undefined when there is none. */
  readIndex(area: CacheArea): Promise<string | undefined>;
  /** Replaces the area's `cache.index` atomically. */
  writeIndex(area: CacheArea, text: string): Promise<void>;
  /** The signed lists kept beside the cache index, by sha512 (`msgHash`). */
  listMessages(): Promise<string[]>;
  writeMessage(hash: string, data: Uint8Array): Promise<void>;
  removeMessage(hash: string): Promise<void>;
  /**
   * Opens a partial file: an existing regular file of that name to resume (`resume`), else a new one, created
   * exclusively. Anything else at that name is `ERR_CACHE_UNSAFE_FILE` (with `found`), left as it is.
   */
  openPartial(name: string, options: { resume: boolean }): Promise<PartialFile>;
  /** sha512 and size of a regular file (undefined when missing); anything else is `ERR_CACHE_UNSAFE_FILE`. */
  hash(area: CacheArea, name: string): Promise<{ size: number; sha512: string } | undefined>;
  /**
   * Moves a regular file to another area (or name), never replacing anything at the target
   * (`ERR_CACHE_UNSAFE_FILE` with what was found there). `missing` when the source is gone.
   */
  move(from: CacheArea, name: string, to: CacheArea, toName: string): Promise<'moved' | 'missing'>;
  /** Removes a regular file (false when missing); anything else is left, `ERR_CACHE_UNSAFE_FILE`. */
  remove(area: CacheArea, name: string): Promise<boolean>;
  /** Bytes available to this process in an area, when the backend can tell. */
  freeSpace(area: CacheArea): Promise<number | undefined>;
  /** Removes temporary files an interrupted run left; returns how many. */
  removeTemporaries(): Promise<number>;
  /**
   * The URL of the cached bytes with this sha512, for storages that have one (`s3://…`): recorded in the cache
   * index entry (`vmcatcher:cache.url`) and given to events as `VMCATCHER_EVENT_CACHE_URL`.
   */
  objectUrl?(sha512: string): string;
  /**
   * Optional: the slow part of a later `move('partial', name, to, …)` done ahead of it (S3: the verified
   * upload), so that several workers do it outside the store lock; the move then only records the name. A
   * staged file that changed before its move is moved the slow way.
   */
  stage?(name: string, to: Exclude<CacheArea, 'partial'>): Promise<void>;
}

export interface DirectoryStorageOptions {
  cache: string;
  /** Default `<cache>/partial`. */
  partial?: string;
  /** Default `<cache>/expired`. */
  expired?: string;
}

const MESSAGE_NAME = /^[0-9a-f]{128}$/;

export function kindOf(s: Stats): FoundKind {
  if (s.isFile()) return 'file';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isDirectory()) return 'directory';
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  if (s.isBlockDevice() || s.isCharacterDevice()) return 'device';
  return 'other';
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function identity(s: Stats): string {
  return `${s.dev}:${s.ino}`;
}

function unsafe(path: string, found: FoundKind, what: string): ImageCacheError {
  return new ImageCacheError(
    'ERR_CACHE_UNSAFE_FILE',
    `${path} is ${found === 'file' ? 'a file the cache did not create' : `a ${found}`}; ${what}`,
    { path, found },
  );
}

function noSpace(path: string, cause: unknown): ImageCacheError {
  return new ImageCacheError('ERR_CACHE_NO_SPACE', `no space left while writing ${path}`, { path, cause });
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** Writes all of `data` at the file's position (O_APPEND: its end); write(2) may write less than asked. */
async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    offset += bytesWritten;
  }
}

/** Opens an existing regular file without following a link or blocking on a FIFO, and checks what it opened. */
async function openRegular(path: string, flags: number, what: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errno(err);
    if (code === 'ELOOP') throw unsafe(path, 'symlink', what);
    if (code === 'ENXIO') throw unsafe(path, 'fifo', what);
    throw err;
  }
  const s = await handle.stat();
  if (!s.isFile()) {
    await handle.close();
    throw unsafe(path, kindOf(s), what);
  }
  return handle;
}

/** The three areas as directories (the originals' layout). */
export function createDirectoryStorage(options: DirectoryStorageOptions): CacheStorage {
  const cache = resolve(options.cache);
  const dirs: Record<CacheArea, string> = {
    cache,
    partial: resolve(options.partial ?? join(cache, 'partial')),
    expired: resolve(options.expired ?? join(cache, 'expired')),
  };
  const messagesDir = join(cache, MESSAGES_DIR);
  const path = (area: CacheArea, name: string) => inside(dirs[area], name);
  // Names that are the storage's own in an area: its index, and the areas or messages nested in it.
  const own = (area: CacheArea, name: string): boolean => {
    if (name === INDEX_FILE || name.startsWith(TEMP_PREFIX)) return true;
    const full = join(dirs[area], name);
    return full === messagesDir || Object.values(dirs).includes(full);
  };

  async function fileAt(area: CacheArea, name: string): Promise<StoredFile | undefined> {
    const s = await lstatOrUndefined(path(area, name));
    return s && { name, kind: kindOf(s), size: s.size, id: identity(s) };
  }

  async function copyAcross(from: string, fromStats: Stats, to: string): Promise<void> {
    // Another file system: a temporary copy beside the target, durable, then linked into place (no replace).
    const tmp = join(resolve(to, '..'), `${TEMP_PREFIX}move-${process.pid}-${fromStats.ino}`);
    const source = await openRegular(from, constants.O_RDONLY, 'not copied');
    let target: FileHandle | undefined;
    try {
      if (identity(await source.stat()) !== identity(fromStats)) throw unsafe(from, 'file', 'not copied');
      target = await openExclusive(tmp, 0o644);
      const buffer = Buffer.allocUnsafe(4 << 20);
      for (;;) {
        const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        await writeAll(target, buffer.subarray(0, bytesRead));
      }
      await target.sync();
      await target.close();
      target = undefined;
      await link(tmp, to).catch(async (err) => {
        if (errno(err) === 'EEXIST') {
          const s = await lstatOrUndefined(to);
          throw unsafe(to, s ? kindOf(s) : 'other', 'left as it is');
        }
        throw err;
      });
    } catch (err) {
      if (DISK_FULL.has(errno(err) ?? '')) throw noSpace(to, err);
      throw err;
    } finally {
      await target?.close();
      await source.close();
      await unlink(tmp).catch(() => {});
    }
  }

  const storage: CacheStorage = {
    locations: dirs,

    async prepare({ create }) {
      for (const area of CACHE_AREAS) {
        const dir = dirs[area];
        try {
          if (create) await mkdir(dir, { recursive: true });
          // The configured directory itself may be a link an administrator made; what is inside it may not.
          if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
          await access(dir, constants.W_OK);
        } catch (cause) {
          throw new ImageCacheError(
            'ERR_CACHE_DIRECTORY',
            `${area} directory ${dir} is not a writable directory`,
            { path: dir, cause },
          );
        }
      }
    },

    path,

    async list(area) {
      const out: StoredFile[] = [];
      for (const name of await readdir(dirs[area])) {
        if (own(area, name)) continue;
        const f = await fileAt(area, name);
        if (f) out.push(f);
      }
      return out;
    },

    stat: fileAt,

    async readIndex(area) {
      const file = join(dirs[area], INDEX_FILE);
      let handle: FileHandle;
      try {
        handle = await openRegular(file, constants.O_RDONLY, 'not read as an index');
      } catch (err) {
        if (errno(err) === 'ENOENT') return undefined;
        if (err instanceof ImageCacheError) throw err;
        throw new ImageCacheError('ERR_CACHE_INDEX', `cannot read ${file}`, { path: file, cause: err });
      }
      try {
        return await handle.readFile('utf8');
      } catch (cause) {
        throw new ImageCacheError('ERR_CACHE_INDEX', `cannot read ${file}`, { path: file, cause });
      } finally {
        await handle.close();
      }
    },

    async writeIndex(area, text) {
      const file = join(dirs[area], INDEX_FILE);
      try {
        await atomicWriteFile(file, text, { tempPrefix: `${TEMP_PREFIX}index-` });
      } catch (err) {
        if (DISK_FULL.has(errno(err) ?? '')) throw noSpace(file, err);
        throw err;
      }
    },

    async listMessages() {
      const s = await lstatOrUndefined(messagesDir);
      if (!s) return [];
      if (!s.isDirectory()) throw unsafe(messagesDir, kindOf(s), 'left as it is');
      return (await readdir(messagesDir)).filter((n) => MESSAGE_NAME.test(n));
    },

    async writeMessage(hash, data) {
      if (!MESSAGE_NAME.test(hash)) throw new Error(`not a sha512: ${JSON.stringify(hash)}`);
      const s = await lstatOrUndefined(messagesDir);
      if (!s)
        await mkdir(messagesDir).catch((err) => (errno(err) === 'EEXIST' ? undefined : Promise.reject(err)));
      else if (!s.isDirectory()) throw unsafe(messagesDir, kindOf(s), 'left as it is');
      const file = join(messagesDir, hash);
      try {
        await atomicWriteFile(file, data, { tempPrefix: TEMP_PREFIX });
      } catch (err) {
        if (DISK_FULL.has(errno(err) ?? '')) throw noSpace(file, err);
        throw err;
      }
    },

    async removeMessage(hash) {
      if (!MESSAGE_NAME.test(hash)) return;
      const file = join(messagesDir, hash);
      const s = await lstatOrUndefined(file);
      if (s?.isFile()) await unlink(file);
    },

    async openPartial(name, { resume }) {
      const file = path('partial', name);
      const found = await lstatOrUndefined(file);
      let handle: FileHandle;
      if (found) {
        if (!resume || !found.isFile())
          throw unsafe(file, kindOf(found), 'left as it is; the download goes to another name');
        handle = await openRegular(file, constants.O_RDWR | constants.O_APPEND, 'left as it is');
        if (identity(await handle.stat()) !== identity(found)) {
          await handle.close();
          throw unsafe(file, 'file', 'replaced while it was opened; left as it is');
        }
      } else {
        try {
          handle = await open(
            file,
            constants.O_RDWR |
              constants.O_APPEND |
              constants.O_CREAT |
              constants.O_EXCL |
              constants.O_NOFOLLOW,
            0o644,
          );
        } catch (err) {
          if (errno(err) === 'EEXIST') {
            const s = await lstatOrUndefined(file);
            throw unsafe(file, s ? kindOf(s) : 'other', 'left as it is; the download goes to another name');
          }
          if (DISK_FULL.has(errno(err) ?? '')) throw noSpace(file, err);
          throw err;
        }
      }
      return {
        name,
        async size() {
          return (await handle.stat()).size;
        },
        async hashInto(hash) {
          const buffer = Buffer.allocUnsafe(4 << 20);
          const size = (await handle.stat()).size;
          for (let position = 0; position < size; ) {
            const { bytesRead } = await handle.read(
              buffer,
              0,
              Math.min(buffer.length, size - position),
              position,
            );
            if (bytesRead === 0) break;
            await hash.update(buffer.subarray(0, bytesRead));
            position += bytesRead;
          }
        },
        append(data) {
          return writeAll(handle, data);
        },
        async truncate() {
          await handle.truncate(0);
        },
        async sync() {
          await handle.sync();
        },
        async close() {
          await handle.close();
        },
      };
    },

    async hash(area, name) {
      const file = path(area, name);
      const before = await lstatOrUndefined(file);
      if (!before) return undefined;
      if (!before.isFile()) throw unsafe(file, kindOf(before), 'not read');
      let digest: { size: number; digest: string };
      try {
        digest = await hashFile(file);
      } catch (err) {
        if (errno(err) === 'ENOENT') return undefined;
        throw err;
      }
      // hashFile opens by name: the same file must still be there, or what was read may be anything.
      const after = await lstatOrUndefined(file);
      if (!after || identity(after) !== identity(before))
        throw unsafe(file, after ? kindOf(after) : 'other', 'replaced while it was read');
      return { size: digest.size, sha512: digest.digest };
    },

    async move(fromArea, name, toArea, toName) {
      const from = path(fromArea, name);
      const to = path(toArea, toName);
      const s = await lstatOrUndefined(from);
      if (!s) return 'missing';
      if (!s.isFile()) throw unsafe(from, kindOf(s), 'left as it is');
      let linked = true;
      try {
        await link(from, to);
      } catch (err) {
        const code = errno(err);
        if (code === 'EEXIST') {
          const t = await lstatOrUndefined(to);
          throw unsafe(to, t ? kindOf(t) : 'other', 'left as it is');
        }
        if (code === 'ENOENT') return 'missing';
        if (code === 'EXDEV') {
          await copyAcross(from, s, to);
          linked = false;
        } else if (NO_HARD_LINKS.has(code ?? '')) {
          // A file system without hard links: the best that remains is to look, then rename.
          const t = await lstatOrUndefined(to);
          if (t) throw unsafe(to, kindOf(t), 'left as it is');
          await rename(from, to);
          await syncDirectory(dirs[toArea]);
          return 'moved';
        } else {
          throw err;
        }
      }
      if (linked) {
        // link(2) does not follow a link at the source: the target must be the very file looked at.
        const t = await lstatOrUndefined(to);
        if (!t || identity(t) !== identity(s)) {
          if (t && !t.isDirectory()) await unlink(to);
          throw unsafe(from, t ? kindOf(t) : 'other', 'replaced while it was moved; left as it is');
        }
      }
      await unlink(from);
      await syncDirectory(dirs[toArea]);
      if (dirs[fromArea] !== dirs[toArea]) await syncDirectory(dirs[fromArea]);
      return 'moved';
    },

    async remove(area, name) {
      const file = path(area, name);
      const s = await lstatOrUndefined(file);
      if (!s) return false;
      if (!s.isFile()) throw unsafe(file, kindOf(s), 'left as it is');
      await unlink(file);
      return true;
    },

    async freeSpace(area) {
      const s = await statfs(dirs[area]);
      return Number(s.bavail) * Number(s.bsize);
    },

    async removeTemporaries() {
      let n = 0;
      for (const dir of [...new Set([...Object.values(dirs), messagesDir])]) {
        let names: string[];
        try {
          names = await readdir(dir);
        } catch (err) {
          if (errno(err) === 'ENOENT') continue;
          throw err;
        }
        for (const name of names) {
          if (!name.startsWith(TEMP_PREFIX)) continue;
          const s = await lstatOrUndefined(join(dir, name));
          if (s?.isFile()) {
            await unlink(join(dir, name));
            n++;
          }
        }
      }
      return n;
    },
  };
  return storage;
}
