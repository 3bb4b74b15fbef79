// sha512 off the main thread. The main thread of a cache run parses HTTP for every download and writes the
// partial files; hashing there too made one core the limit for all downloads together (the profile of issue 14:
// a third of the main thread in Hash.update). Here each download hashes in one of a few worker threads (one
// per core, at most four), so two downloads hash on two cores while the main thread only moves bytes.
//
// The bytes are not copied to the worker: a session owns a few slots of one SharedArrayBuffer; the transfer
// copies received chunks into a slot (the one copy of the byte path), writes the slot to the file and hands
// the worker only (offset, length). A slot is reused after both are done, so the memory of a download is
// bounded by its slots. The worker is referenced only while it has work, so it never keeps a process alive.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Bytes per slot: big enough that a write(2) and a hash update per slot cost little, small for memory. */
export const SLOT_BYTES = 1 << 20;
/** Slots per download: one being filled, one being written and hashed, and slack for the disk to lag. */
export const SLOTS_PER_SESSION = 4;

// Plain CommonJS evaluated in the worker: no separate file to ship or to find from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'open') {
      sessions.set(m.id, { hash: createHash(m.algorithm), bytes: new Uint8Array(m.memory) });
      return;
    }
    const s = sessions.get(m.id);
    if (m.op === 'close') { sessions.delete(m.id); return; }
    if (!s) throw new Error('no hash session ' + m.id);
    if (m.op === 'update') {
      s.hash.update(s.bytes.subarray(m.offset, m.offset + m.length));
      parentPort.postMessage({ id: m.id, seq: m.seq });
    } else if (m.op === 'digest') {
      sessions.delete(m.id);
      parentPort.postMessage({ id: m.id, seq: m.seq, digest: s.hash.digest('hex') });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, seq: m.seq, error: String(err && err.message || err) });
  }
});
`;

/** The hash worker failed (it cannot be reached, or it exited): the transfer cannot be verified. */
export class HashWorkerError extends Error {
  override readonly name = 'HashWorkerError';
}

interface Pending {
  resolve: (digest: string | undefined) => void;
  reject: (err: Error) => void;
}

interface Reply {
  id: number;
  seq: number;
  digest?: string;
  error?: string;
}

class HashWorker {
  readonly worker: Worker;
  sessions = 0;
  #pending = new Map<string, Pending>();
  #failure: HashWorkerError | undefined;

  constructor(onGone: (w: HashWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const key = `${r.id}:${r.seq}`;
      const p = this.#pending.get(key);
      if (!p) return;
      this.#pending.delete(key);
      this.#refCount();
      if (r.error !== undefined) p.reject(new HashWorkerError(`hash worker: ${r.error}`));
      else p.resolve(r.digest);
    });
    const gone = (err: Error) => {
      this.#failure ??= new HashWorkerError(`hash worker: ${err.message}`, { cause: err });
      onGone(this);
      for (const p of this.#pending.values()) p.reject(this.#failure);
      this.#pending.clear();
      this.worker.unref();
    };
    this.worker.on('error', gone);
    this.worker.on('exit', (code) => gone(new Error(`exited with status ${code}`)));
  }

  post(message: Record<string, unknown>): void {
    if (this.#failure) throw this.#failure;
    this.worker.postMessage(message);
  }

  request(message: { id: number; seq: number } & Record<string, unknown>): Promise<string | undefined> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.set(`${message.id}:${message.seq}`, { resolve, reject });
      this.#refCount();
      this.worker.postMessage(message);
    });
  }

  // Referenced while an answer is awaited, so that a run waiting only for a digest does not end early.
  #refCount() {
    if (this.#pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }
}

const workers: HashWorker[] = [];
const maxWorkers = Math.max(1, Math.min(4, availableParallelism()));
let nextId = 1;

function pickWorker(): HashWorker {
  // The least busy worker, a new one while there are fewer than cores.
  const idle = workers.find((w) => w.sessions === 0);
  if (idle) return idle;
  if (workers.length < maxWorkers) {
    const w = new HashWorker((gone) => {
      const i = workers.indexOf(gone);
      if (i >= 0) workers.splice(i, 1);
    });
    workers.push(w);
    return w;
  }
  return workers.reduce((a, b) => (b.sessions < a.sessions ? b : a));
}

/** One region of a session's memory: fill `bytes`, then `hash` (and write) it, then `release` it. */
export interface HashSlot {
  readonly bytes: Buffer;
  readonly index: number;
}

/** The incremental hash of one download, computed by a worker thread, in submission order. */
export interface HashSession {
  /** A free slot, waiting until one is released. */
  slot(): Promise<HashSlot>;
  /** A free slot if there is one now. */
  trySlot(): HashSlot | undefined;
  /** Hashes the first `length` bytes of the slot (after everything submitted before); resolves when done. */
  hash(slot: HashSlot, length: number): Promise<void>;
  release(slot: HashSlot): void;
  /** Feeds bytes held elsewhere (a resumed file's content) through a slot. */
  update(data: Uint8Array): Promise<void>;
  /** The hex digest of everything submitted; ends the session. */
  digest(): Promise<string>;
  /** Ends the session without a digest (a failed attempt). */
  close(): void;
}

export function openHashSession(algorithm = 'sha512'): HashSession {
  const id = nextId++;
  let seq = 0;
  let closed = false;
  const memory = new SharedArrayBuffer(SLOT_BYTES * SLOTS_PER_SESSION);
  const free: HashSlot[] = Array.from({ length: SLOTS_PER_SESSION }, (_, index) => ({
    index,
    bytes: Buffer.from(memory, index * SLOT_BYTES, SLOT_BYTES),
  }));
  const waiting: ((s: HashSlot) => void)[] = [];
  // The worker is taken at the first bytes, not before the request: starting a thread must not delay it.
  let bound: HashWorker | undefined;
  const worker = (): HashWorker => {
    if (!bound) {
      bound = pickWorker();
      bound.sessions++;
      bound.post({ op: 'open', id, algorithm, memory });
    }
    return bound;
  };
  const end = () => {
    if (closed) return;
    closed = true;
    if (bound) bound.sessions--;
  };

  const session: HashSession = {
    trySlot() {
      return waiting.length > 0 ? undefined : free.pop();
    },
    slot() {
      const s = free.pop();
      if (s) return Promise.resolve(s);
      return new Promise((resolve) => waiting.push(resolve));
    },
    async hash(slot, length) {
      if (length === 0) return;
      await worker().request({ op: 'update', id, seq: seq++, offset: slot.index * SLOT_BYTES, length });
    },
    release(slot) {
      const next = waiting.shift();
      if (next) next(slot);
      else free.push(slot);
    },
    async update(data) {
      for (let offset = 0; offset < data.length; ) {
        const s = await session.slot();
        const n = Math.min(SLOT_BYTES, data.length - offset);
        s.bytes.set(data.subarray(offset, offset + n));
        try {
          await session.hash(s, n);
        } finally {
          session.release(s);
        }
        offset += n;
      }
    },
    async digest() {
      try {
        return (await worker().request({ op: 'digest', id, seq: seq++ })) as string;
      } finally {
        end();
      }
    },
    close() {
      if (closed) return;
      end();
      try {
        bound?.post({ op: 'close', id });
      } catch {
        // The worker is gone: so is the session.
      }
    },
  };
  return session;
}
