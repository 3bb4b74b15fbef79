/**
 * The conformance suite every upload backend runs (built-in and third-party), in the style of unstorage's
 * `testDriver()`: call {@link testBackend} inside a vitest test file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UploadError } from './errors.js';
import type { UploadBackend, UploadProgress } from './types.js';

/** How the suite reaches the backend under test and checks the stored result independently of it. */
export interface BackendTestOptions {
  /** Label of the describe block. */
  name: string;
  /** Creates the backend under test (once per suite; disposed at the end). */
  create: () => UploadBackend | Promise<UploadBackend>;
  /** The remote target for a relative name such as `run-1/dir/file.img`. */
  target: (relative: string) => string;
  /** Opens what is stored at a relative name through a channel other than the backend; `undefined` if absent. */
  read: (relative: string) => Promise<NodeJS.ReadableStream | undefined>;
  /** Names in a relative directory, to check that no temporary files are left behind (optional). */
  list?: (relativeDir: string) => Promise<string[]>;
  /** Size of the streamed-body case in bytes (default 256 MiB, or `HEPIX_CONFORMANCE_BIG_MB`). */
  bigSize?: number;
  /** Extra hostile relative names that must be refused with `ERR_UPLOAD_TARGET`. */
  hostileNames?: string[];
  /** Per-test timeout in ms (default 120 000). */
  timeout?: number;
}

async function readAll(s: NodeJS.ReadableStream | undefined): Promise<Buffer | undefined> {
  if (!s) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function hashOf(
  s: NodeJS.ReadableStream | undefined,
): Promise<{ hex: string; size: number } | undefined> {
  if (!s) return undefined;
  const h = createHash('sha256');
  let size = 0;
  for await (const c of s as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { hex: h.digest('hex'), size };
}

/** A deterministic generated body of `size` bytes in 1 MiB chunks, hashed as it is produced. */
function generated(size: number): { stream: Readable; digest: () => string } {
  const base = randomBytes(1 << 20);
  const h = createHash('sha256');
  let sent = 0;
  let n = 0;
  const stream = new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const len = Math.min(base.length, size - sent);
      const chunk = Buffer.allocUnsafe(len);
      base.copy(chunk, 0, 0, len);
      chunk.writeUInt32BE(n++ >>> 0, 0);
      h.update(chunk);
      sent += len;
      this.push(chunk);
    },
  });
  return { stream, digest: () => h.digest('hex') };
}

/** An endless slow body: 64 KiB every few ms, until destroyed. */
function endless(): Readable {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      setTimeout(() => {
        if (!this.destroyed) this.push(Buffer.from(chunk));
      }, 2);
    },
  });
}

async function expectCode(p: Promise<unknown>, code: string, what = 'the operation'): Promise<UploadError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UploadError);
    expect((err as UploadError).code, (err as Error).message).toBe(code);
    return err as UploadError;
  }
  throw new Error(`expected rejection with ${code}, but ${what} succeeded`);
}

/** Registers the conformance tests of one backend. */
export function testBackend(opts: BackendTestOptions): void {
  const envMb = Number(process.env.HEPIX_CONFORMANCE_BIG_MB);
  const bigSize = opts.bigSize ?? (envMb > 0 ? Math.round(envMb * 1024 * 1024) : 256 * 1024 * 1024);
  const timeout = opts.timeout ?? 120_000;
  const run = `conformance-${randomBytes(4).toString('hex')}`;
  const rel = (name: string) => `${run}/${name}`;

  describe(`upload backend conformance: ${opts.name}`, () => {
    let backend: UploadBackend;
    let scratch: string;

    beforeAll(async () => {
      backend = await opts.create();
      scratch = await mkdtemp(join(tmpdir(), 'hepix-conformance-'));
    }, timeout);
    afterAll(async () => {
      await backend?.dispose?.();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    const content = async (name: string) => readAll(await opts.read(rel(name)));

    it('describes itself', () => {
      expect(typeof backend.name).toBe('string');
      expect(typeof backend.put).toBe('function');
      for (const k of ['delete', 'stat', 'atomicReplace'] as const)
        expect(typeof backend.capabilities[k]).toBe('boolean');
      if (backend.capabilities.delete) expect(typeof backend.delete).toBe('function');
      if (backend.capabilities.stat) expect(typeof backend.stat).toBe('function');
    });

    it(
      'puts a file from a path and from a stream, creating directories',
      async () => {
        const body = randomBytes(100_000);
        const file = join(scratch, 'small.bin');
        await writeFile(file, body);
        await backend.put(opts.target(rel('a/b/from-path.bin')), file);
        expect((await content('a/b/from-path.bin'))?.equals(body)).toBe(true);
        await backend.put(
          opts.target(rel('from-stream.bin')),
          Readable.from([body.subarray(0, 10), body.subarray(10)]),
        );
        expect((await content('from-stream.bin'))?.equals(body)).toBe(true);
        await backend.put(opts.target(rel('empty.bin')), Readable.from([]), { size: 0 });
        expect((await content('empty.bin'))?.length).toBe(0);
      },
      timeout,
    );

    it(
      'overwrites an existing file and leaves no temporary files',
      async () => {
        await backend.put(opts.target(rel('over/x.txt')), Readable.from([Buffer.from('first version')]));
        await backend.put(opts.target(rel('over/x.txt')), Readable.from([Buffer.from('second')]));
        expect((await content('over/x.txt'))?.toString()).toBe('second');
        if (opts.list) expect(await opts.list(rel('over'))).toEqual(['x.txt']);
      },
      timeout,
    );

    it(
      'concurrent uploads to one target leave one of them whole, never a mix',
      async () => {
        const a = Buffer.alloc(2 * 1024 * 1024 + 3, 0x41);
        const b = Buffer.alloc(3 * 1024 * 1024 + 5, 0x42);
        await Promise.all([
          backend.put(
            opts.target(rel('race/same.bin')),
            Readable.from([a.subarray(0, 1000), a.subarray(1000)]),
          ),
          backend.put(
            opts.target(rel('race/same.bin')),
            Readable.from([b.subarray(0, 1000), b.subarray(1000)]),
          ),
        ]);
        const got = await content('race/same.bin');
        expect(got?.equals(a) || got?.equals(b), `stored ${got?.length} bytes`).toBe(true);
        if (opts.list) expect(await opts.list(rel('race'))).toEqual(['same.bin']);
      },
      timeout,
    );

    it(
      'reports progress up to the full size',
      async () => {
        const body = randomBytes(3 * 1024 * 1024 + 17);
        const seen: UploadProgress[] = [];
        await backend.put(opts.target(rel('progress.bin')), Readable.from([body]), {
          size: body.length,
          onProgress: (p) => seen.push({ ...p }),
        });
        expect(seen.length).toBeGreaterThan(0);
        for (let i = 1; i < seen.length; i++)
          expect(seen[i].transferred).toBeGreaterThanOrEqual(seen[i - 1].transferred);
        expect(seen.at(-1)).toEqual({ transferred: body.length, total: body.length });
      },
      timeout,
    );

    it(
      'stats targets when it can',
      async () => {
        if (!backend.capabilities.stat || !backend.stat) return;
        await backend.put(opts.target(rel('stat.bin')), Readable.from([Buffer.alloc(1234, 1)]));
        expect((await backend.stat(opts.target(rel('stat.bin'))))?.size).toBe(1234);
        expect(await backend.stat(opts.target(rel('missing.bin')))).toBeUndefined();
      },
      timeout,
    );

    it(
      'deletes targets when it can; deleting a missing target is not an error',
      async () => {
        if (!backend.capabilities.delete || !backend.delete) return;
        await backend.put(opts.target(rel('del.bin')), Readable.from([Buffer.from('x')]));
        await backend.delete(opts.target(rel('del.bin')));
        expect(await content('del.bin')).toBeUndefined();
        await backend.delete(opts.target(rel('del.bin')));
      },
      timeout,
    );

    it(
      `streams a ${Math.round(bigSize / 1048576)} MiB body with bounded memory`,
      async () => {
        const gen = generated(bigSize);
        const before = process.memoryUsage.rss();
        let peak = before;
        const timer = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage.rss());
        }, 20);
        try {
          await backend.put(opts.target(rel('big.bin')), gen.stream, { size: bigSize });
        } finally {
          clearInterval(timer);
        }
        peak = Math.max(peak, process.memoryUsage.rss());
        const stored = await hashOf(await opts.read(rel('big.bin')));
        expect(stored?.size).toBe(bigSize);
        expect(stored?.hex).toBe(gen.digest());
        // Buffering the whole body would grow RSS by at least its size.
        const bound = Math.max(96 * 1048576, bigSize / 2);
        expect(peak - before, `RSS grew by ${((peak - before) / 1048576).toFixed(0)} MiB`).toBeLessThan(
          bound,
        );
      },
      Math.max(timeout, 300_000),
    );

    it(
      'an abort mid-transfer leaves the previous file (or none) at the target name',
      async () => {
        await backend.put(opts.target(rel('abort/kept.bin')), Readable.from([Buffer.from('old content')]));
        for (const name of ['abort/kept.bin', 'abort/new.bin']) {
          const ac = new AbortController();
          const src = endless();
          const p = backend.put(opts.target(rel(name)), src, {
            signal: ac.signal,
            onProgress: ({ transferred }) => {
              if (transferred >= 512 * 1024) ac.abort();
            },
          });
          await expectCode(p, 'ERR_UPLOAD_ABORTED');
          src.destroy();
        }
        expect((await content('abort/kept.bin'))?.toString()).toBe('old content');
        expect(await content('abort/new.bin')).toBeUndefined();
        if (opts.list) {
          // a server may finish discarding an aborted body shortly after the client gave up
          let names: string[] = [];
          for (let i = 0; i < 50; i++) {
            names = await opts.list(rel('abort'));
            if (names.length === 1) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          expect(names).toEqual(['kept.bin']);
        }
        const ac = new AbortController();
        ac.abort();
        await expectCode(
          backend.put(opts.target(rel('abort/pre.bin')), Readable.from([Buffer.from('x')]), {
            signal: ac.signal,
          }),
          'ERR_UPLOAD_ABORTED',
        );
        expect(await content('abort/pre.bin')).toBeUndefined();
      },
      timeout,
    );

    it(
      'a source shorter than the declared size fails without replacing the target',
      async () => {
        await backend.put(opts.target(rel('short.bin')), Readable.from([Buffer.from('good')]));
        await expectCode(
          backend.put(opts.target(rel('short.bin')), Readable.from([Buffer.from('bad')]), { size: 100 }),
          'ERR_UPLOAD_FAILED',
        );
        expect((await content('short.bin'))?.toString()).toBe('good');
      },
      timeout,
    );

    it(
      'refuses hostile target names',
      async () => {
        const hostile = [
          `${run}/../escaped-${run}.bin`,
          `${run}/x/../../escaped-${run}.bin`,
          `${run}/%2e%2e/escaped-${run}.bin`,
          `${run}/nul\u0000byte.bin`,
          `${run}/new\nline.bin`,
          ...(opts.hostileNames ?? []),
        ];
        for (const name of hostile) {
          const err = await expectCode(
            backend.put(opts.target(name), Readable.from([Buffer.from('evil')])),
            'ERR_UPLOAD_TARGET',
            JSON.stringify(name),
          );
          expect(err.message.length).toBeGreaterThan(0);
        }
        expect(await readAll(await opts.read(`escaped-${run}.bin`).catch(() => undefined))).toBeUndefined();
      },
      timeout,
    );
  });
}
