// sha512 off the main thread. The main thread of a cache run parses HTTP for every download and writes the
// partial files; hashing there too made one core the limit for all downloads together (the profile of issue 14:
// a third of the main thread in Hash.update). Here each download hashes in one of a few worker threads (one
// per core, at most four), so two downloads hash on two cores while the main thread only moves bytes.
//
// The bytes are not copied to the worker: a session owns a few slots of one SharedArrayBuffer; the transfer
// copies received chunks into a slot (the one copy of the byte path), writes the slot to the file and hands
// the worker only (slot, length). The hand-off is a ring of requests and two counters in an Int32Array at the
// start of the same memory, signalled with Atomics.notify and awaited with Atomics.waitAsync, not a
// postMessage per slot and its reply (the second profile of issue 14: a fifth of the main thread in
// postMessage under load). A thread busy with the previous slot sees the next one without being woken.
// A slot is reused after both are done, so the memory of a download is bounded by its slots. The worker is
// referenced only while an answer is awaited, so it never keeps a process alive.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Bytes per slot: big enough that a write(2) and a hash update per slot cost little, small for memory. */
export const SLOT_BYTES = 1 << 20;
/** Slots per download: one being filled, one being written and hashed, and slack for the disk to lag. */
export const SLOTS_PER_SESSION = 4;

// The control block (Int32 indexes) at the start of a session's memory, then the slots.
const SUBMITTED = 0; // requests written by the main thread
const DONE = 1; // requests completed by the worker
const FAILED = 2; // 1 once the worker could not complete a request (the message follows by postMessage)
const RING = 3; // RING_SIZE entries of [op, slot, length]
// At most every slot and a digest or a close are outstanding at once: the ring never wraps onto a live entry.
const RING_SIZE = SLOTS_PER_SESSION + 4;
const DIGEST = RING + 3 * RING_SIZE; // 128 bytes: the hex digest, written by the worker
const CONTROL_BYTES = (DIGEST + 32) * 4;
const SLOTS_AT = Math.ceil(CONTROL_BYTES / 4096) * 4096;
const OP_UPDATE = 1;
const OP_DIGEST = 2;
const OP_CLOSE = 3;

// Plain CommonJS evaluated in the worker: no separate file to ship or to find from dist/. Each session is
// pumped on its own: complete what was submitted, then wait (asynchronously, so that 'open' messages of
// other sessions still arrive) for more.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const [SUBMITTED, DONE, FAILED, RING, RING_SIZE, DIGEST, SLOTS_AT, SLOT_BYTES] = ${JSON.stringify([
  SUBMITTED,
  DONE,
  FAILED,
  RING,
  RING_SIZE,
  DIGEST,
  SLOTS_AT,
  SLOT_BYTES,
])};
function pump(s) {
  try {
    for (;;) {
      const submitted = Atomics.load(s.ctrl, SUBMITTED);
      while (s.done < submitted) {
        const at = RING + 3 * (s.done % RING_SIZE);
        const op = s.ctrl[at];
        if (op === ${OP_UPDATE}) {
          const offset = SLOTS_AT + s.ctrl[at + 1] * SLOT_BYTES;
          s.hash.update(s.bytes.subarray(offset, offset + s.ctrl[at + 2]));
        } else if (op === ${OP_DIGEST}) {
          s.bytes.write(s.hash.digest('hex'), DIGEST * 4, 'latin1');
        } else if (op !== ${OP_CLOSE}) {
          throw new Error('unknown request ' + op);
        }
        s.done++;
        Atomics.store(s.ctrl, DONE, s.done);
        Atomics.notify(s.ctrl, DONE);
        if (op !== ${OP_UPDATE}) return;
      }
      const wait = Atomics.waitAsync(s.ctrl, SUBMITTED, submitted);
      if (wait.async) {
        wait.value.then(() => pump(s));
        return;
      }
    }
  } catch (err) {
    fail(s, err);
  }
}
function fail(s, err) {
  parentPort.postMessage({ id: s.id, error: String((err && err.message) || err) });
  Atomics.store(s.ctrl, FAILED, 1);
  Atomics.notify(s.ctrl, DONE);
}
parentPort.on('message', (m) => {
  const s = { id: m.id, ctrl: new Int32Array(m.memory, 0, ${SLOTS_AT / 4}), bytes: Buffer.from(m.memory), done: 0 };
  try {
    s.hash = createHash(m.algorithm);
  } catch (err) {
    fail(s, err);
    return;
  }
  pump(s);
});
`;

/** The hash worker failed (it cannot be reached, or it exited): the transfer cannot be verified. */
export class HashWorkerError extends Error {
  override readonly name = 'HashWorkerError';
}

/** What a worker tells the sessions bound to it. */
interface Bound {
  fail(err: HashWorkerError): void;
}

class HashWorker {
  readonly worker: Worker;
  sessions = 0;
  readonly bound = new Map<number, Bound>();
  #waiting = 0;
  failure: HashWorkerError | undefined;

  constructor(onGone: (w: HashWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (r: { id: number; error: string }) => {
      this.bound.get(r.id)?.fail(new HashWorkerError(`hash worker: ${r.error}`));
    });
    const gone = (err: Error) => {
      this.failure ??= new HashWorkerError(`hash worker: ${err.message}`, { cause: err });
      onGone(this);
      for (const b of [...this.bound.values()]) b.fail(this.failure);
      this.bound.clear();
      this.worker.unref();
    };
    this.worker.on('error', gone);
    this.worker.on('exit', (code) => gone(new Error(`exited with status ${code}`)));
  }

  open(id: number, algorithm: string, memory: SharedArrayBuffer, session: Bound): void {
    if (this.failure) throw this.failure;
    this.bound.set(id, session);
    this.worker.postMessage({ id, algorithm, memory });
  }

  // Referenced while an answer is awaited, so that a run waiting only for a digest does not end early.
  await(on: boolean): void {
    this.#waiting += on ? 1 : -1;
    if (this.#waiting > 0) this.worker.ref();
    else this.worker.unref();
  }
}

// Atomics.waitAsync is in Node 20 (V8 8.7+); its type is in TypeScript's ES2024 library, beyond ES2023.
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const workers: HashWorker[] = [];
const maxWorkers = Math.max(1, Math.min(4, availableParallelism()));
let nextId = 1;

// Memories of ended sessions, reused by the next ones. A worker frees a session's memory only at one of its rare
// garbage collections, so without reuse every download of a run would add its slots to the resident memory.
const MEMORY_BYTES = SLOTS_AT + SLOT_BYTES * SLOTS_PER_SESSION;
const spare: SharedArrayBuffer[] = [];
const MAX_SPARE = 4;

function takeMemory(): SharedArrayBuffer {
  const reused = spare.pop();
  if (!reused) return new SharedArrayBuffer(MEMORY_BYTES);
  new Int32Array(reused, 0, RING).fill(0);
  return reused;
}

/** Only once the worker has answered every request of the session: it touches the memory no more. */
function giveBack(memory: SharedArrayBuffer): void {
  if (spare.length < MAX_SPARE) spare.push(memory);
}

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

interface Request {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export function openHashSession(algorithm = 'sha512'): HashSession {
  const id = nextId++;
  let submitted = 0;
  let closed = false;
  let failure: HashWorkerError | undefined;
  const memory = takeMemory();
  const ctrl = new Int32Array(memory, 0, SLOTS_AT / 4);
  const free: HashSlot[] = Array.from({ length: SLOTS_PER_SESSION }, (_, index) => ({
    index,
    bytes: Buffer.from(memory, SLOTS_AT + index * SLOT_BYTES, SLOT_BYTES),
  }));
  const waiting: ((s: HashSlot) => void)[] = [];
  // Requests in submission order, answered in that order.
  const requests: Request[] = [];
  let watching = false;

  const fail = (err: HashWorkerError) => {
    failure ??= err;
    for (const r of requests.splice(0)) r.reject(failure);
    if (watching) {
      watching = false;
      bound?.await(false);
    }
  };
  // The worker is taken at the first bytes, not before the request: starting a thread must not delay it.
  let bound: HashWorker | undefined;
  const worker = (): HashWorker => {
    if (!bound) {
      bound = pickWorker();
      bound.sessions++;
      bound.open(id, algorithm, memory, { fail });
    }
    return bound;
  };
  const end = () => {
    if (closed) return;
    closed = true;
    if (bound) {
      bound.sessions--;
      bound.bound.delete(id);
    }
  };

  // Answers what the worker has completed; waits for the rest without blocking the thread.
  const watch = () => {
    const done = Atomics.load(ctrl, DONE);
    while (requests.length > 0 && requests[0]!.seq < done) requests.shift()!.resolve();
    // The reason of a failure comes by message, which may still be on its way: fail() answers then.
    if (Atomics.load(ctrl, FAILED) !== 0 && !failure) return;
    if (requests.length === 0 || failure) {
      if (watching) {
        watching = false;
        bound?.await(false);
      }
      return;
    }
    if (!watching) {
      watching = true;
      bound?.await(true);
    }
    const wait = waitAsync(ctrl, DONE, done);
    if (wait.async) void wait.value.then(watch);
    else queueMicrotask(watch);
  };

  const submit = (op: number, slot: number, length: number): Promise<void> => {
    const w = worker();
    if (failure) return Promise.reject(failure);
    if (w.failure) return Promise.reject(w.failure);
    const seq = submitted++;
    const at = RING + 3 * (seq % RING_SIZE);
    ctrl[at] = op;
    ctrl[at + 1] = slot;
    ctrl[at + 2] = length;
    Atomics.store(ctrl, SUBMITTED, submitted);
    Atomics.notify(ctrl, SUBMITTED);
    return new Promise<void>((resolve, reject) => {
      requests.push({ seq, resolve, reject });
      if (!watching) watch();
    });
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
      if (closed) throw new HashWorkerError('hash session closed');
      await submit(OP_UPDATE, slot.index, length);
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
        await submit(OP_DIGEST, 0, 0);
        const digest = Buffer.from(memory, DIGEST * 4, 128).toString('latin1');
        giveBack(memory);
        return digest;
      } finally {
        end();
      }
    },
    close() {
      if (closed) return;
      if (!bound) giveBack(memory);
      else if (!failure && !bound.failure)
        submit(OP_CLOSE, 0, 0).then(
          () => giveBack(memory),
          () => {},
        );
      end();
    },
  };
  return session;
}
