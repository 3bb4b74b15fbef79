// The worker-thread sha512 of the transfer: digests equal node:crypto's for any split of the bytes, sessions
// running at the same time do not mix, and slots bound the memory (a session never hands out more than it has).
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HashWorkerError,
  openHashSession,
  SLOT_BYTES,
  SLOTS_PER_SESSION,
} from '../src/cache/hash-workers.js';

const sha512 = (data: Uint8Array) => createHash('sha512').update(data).digest('hex');

/** Feeds `data` through slots the way the transfer does: fill, hash, release, several in flight. */
async function digestInSlots(data: Buffer, cut: number): Promise<string> {
  const session = openHashSession();
  const inFlight: Promise<void>[] = [];
  for (let offset = 0; offset < data.length; ) {
    const slot = await session.slot();
    const n = Math.min(cut, data.length - offset);
    data.copy(slot.bytes, 0, offset, offset + n);
    inFlight.push(session.hash(slot, n).then(() => session.release(slot)));
    offset += n;
  }
  await Promise.all(inFlight);
  return session.digest();
}

describe('hash sessions in worker threads', () => {
  it('gives the sha512 of node:crypto for any split into slots', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * SLOT_BYTES + 17 }),
        fc.integer({ min: 4096, max: SLOT_BYTES }),
        async (size, cut) => {
          const data = randomBytes(size);
          expect(await digestInSlots(data, cut)).toBe(sha512(data));
        },
      ),
      { numRuns: 12 },
    );
  }, 60_000);

  it('keeps sessions apart when more run than there are workers', async () => {
    const inputs = Array.from({ length: 9 }, (_, i) => randomBytes(SLOT_BYTES + i * 4099));
    const digests = await Promise.all(inputs.map((d, i) => digestInSlots(d, 65_536 + i)));
    expect(digests).toEqual(inputs.map(sha512));
  });

  it('feeds bytes held elsewhere (a resumed file) in order, before the slots that follow', async () => {
    const head = randomBytes(2 * SLOT_BYTES + 5);
    const tail = randomBytes(1000);
    const session = openHashSession();
    await session.update(head);
    const slot = await session.slot();
    tail.copy(slot.bytes);
    await session.hash(slot, tail.length);
    session.release(slot);
    expect(await session.digest()).toBe(sha512(Buffer.concat([head, tail])));
  });

  it('hands out no more slots than it has until one is released', async () => {
    const session = openHashSession();
    const slots = [];
    for (let i = 0; i < SLOTS_PER_SESSION; i++) slots.push(await session.slot());
    expect(session.trySlot()).toBeUndefined();
    let got = false;
    const next = session.slot().then((s) => {
      got = true;
      return s;
    });
    await new Promise((r) => setImmediate(r));
    expect(got).toBe(false);
    session.release(slots[0]!);
    expect((await next).index).toBe(slots[0]!.index);
    session.close();
  });

  it('a request the worker cannot complete fails the session with HashWorkerError, and no other session', async () => {
    const bad = openHashSession('no-such-digest');
    const good = openHashSession();
    const slot = await bad.slot();
    slot.bytes.fill(1, 0, 10);
    const err = await bad.hash(slot, 10).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HashWorkerError);
    expect((err as Error).message).toMatch(/hash worker: .*digest/i);
    await expect(bad.digest()).rejects.toBeInstanceOf(HashWorkerError);
    await good.update(Buffer.from('still fine'));
    expect(await good.digest()).toBe(sha512(Buffer.from('still fine')));
  });

  it('reuses the memory of an ended session for the next one, with nothing of the old session in its digest', async () => {
    const first = openHashSession();
    const a = await first.slot();
    const memory = a.bytes.buffer;
    a.bytes.fill(7);
    await first.hash(a, SLOT_BYTES);
    first.release(a);
    await first.digest();
    const second = openHashSession();
    const b = await second.slot();
    expect(b.bytes.buffer).toBe(memory);
    b.bytes.write('next');
    await second.hash(b, 4);
    second.release(b);
    expect(await second.digest()).toBe(sha512(Buffer.from('next')));
  });
});
