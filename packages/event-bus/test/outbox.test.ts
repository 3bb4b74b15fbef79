// The outbox on both dialects: events in seq order, marked once, written in the same transaction as the state
// change they report (both or neither), and bad input refused with the stored data unchanged.
import { afterEach, describe, expect, it } from 'vitest';
import { outboxExtension } from '../src/index.js';
import { dialects, expectCode, type TestStore, testStore } from './helpers.js';

const open: TestStore[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.dispose();
});
async function fresh(dialect: 'sqlite' | 'postgres') {
  const t = await testStore(dialect);
  open.push(t);
  return { store: t.store, outbox: t.store.extension(outboxExtension) };
}

describe.each(dialects())('the outbox on %s', (dialect) => {
  it('keeps events in seq order and returns only the pending ones', async () => {
    const { outbox } = await fresh(dialect);
    const a = await outbox.enqueue({
      id: 'e-1',
      type: 'AvailablePrefix',
      payload: { n: 1, text: 'caf\u00e9' },
    });
    const b = await outbox.enqueue({ type: 'AvailablePostfix', payload: { n: 2 } });
    const c = await outbox.enqueue({ id: 'e-3', type: 'ExpirePostfix', payload: [3] });
    expect(a).toMatchObject({
      id: 'e-1',
      type: 'AvailablePrefix',
      payload: { n: 1, text: 'caf\u00e9' },
      published: null,
    });
    expect(b.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.seq).toBeLessThan(b.seq);
    expect(b.seq).toBeLessThan(c.seq);
    expect((await outbox.pending()).map((e) => e.id)).toEqual(['e-1', b.id, 'e-3']);
    expect((await outbox.pending(2)).map((e) => e.id)).toEqual(['e-1', b.id]);
    expect(await outbox.markPublished(['e-1', 'e-3', 'unknown'])).toBe(2);
    // Marking again changes nothing.
    expect(await outbox.markPublished(['e-1'])).toBe(0);
    expect((await outbox.pending()).map((e) => e.id)).toEqual([b.id]);
    expect(await outbox.counts()).toEqual({ pending: 1, published: 2 });
    const got = await outbox.get('e-3');
    expect(got).toMatchObject({ id: 'e-3', payload: [3], seq: c.seq });
    expect(got!.published).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await outbox.get('none')).toBeUndefined();
    // Pruning deletes published events only.
    expect(await outbox.prune(new Date(Date.now() + 60_000))).toBe(2);
    expect(await outbox.counts()).toEqual({ pending: 1, published: 0 });
  });

  it('marks more events than one statement takes in one call', async () => {
    const { outbox } = await fresh(dialect);
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) ids.push((await outbox.enqueue({ type: 'T', payload: i })).id);
    expect(await outbox.markPublished(ids)).toBe(600);
    expect(await outbox.pending()).toEqual([]);
  });

  it('writes the event in the same transaction as the state change it reports: both or neither', async () => {
    const { store, outbox } = await fresh(dialect);
    const signer = { subject: '/C=DE/O=Test/CN=Endorser', issuer: '/C=DE/O=Test/CN=CA' };
    await expect(
      store.transaction(async ({ subscriber, extension }) => {
        await subscriber.createEndorser('desy', [signer]);
        await extension(outboxExtension).enqueue({
          id: 'ev-rolled-back',
          type: 'EndorserAdded',
          payload: {},
        });
        throw new Error('the state change failed after the event was written');
      }),
    ).rejects.toThrow('the state change failed');
    expect(await outbox.get('ev-rolled-back')).toBeUndefined();
    expect(await store.subscriber.listEndorsers()).toEqual([]);

    await store.transaction(async ({ subscriber, extension }) => {
      await subscriber.createEndorser('desy', [signer]);
      await extension(outboxExtension).enqueue({
        id: 'ev-committed',
        type: 'EndorserAdded',
        payload: { e: 'desy' },
      });
    });
    expect(await outbox.get('ev-committed')).toMatchObject({ payload: { e: 'desy' } });
    expect((await store.subscriber.listEndorsers()).map((e) => e.identifier)).toEqual(['desy']);
  });

  it('refuses a duplicate id and bad events, leaving the outbox unchanged', async () => {
    const { outbox } = await fresh(dialect);
    await outbox.enqueue({ id: 'same', type: 'T', payload: 1 });
    const before = await outbox.pending();
    const dup = await expectCode(
      outbox.enqueue({ id: 'same', type: 'T', payload: 2 }),
      'ERR_EVENTBUS_DUPLICATE',
    );
    expect(dup.eventId).toBe('same');
    await expectCode(outbox.enqueue({ type: '', payload: 1 }), 'ERR_EVENTBUS_INVALID');
    await expectCode(outbox.enqueue({ type: 'has space', payload: 1 }), 'ERR_EVENTBUS_INVALID');
    await expectCode(outbox.enqueue({ type: 'T', payload: undefined }), 'ERR_EVENTBUS_INVALID');
    await expectCode(outbox.enqueue({ type: 'T', payload: { n: 10n } }), 'ERR_EVENTBUS_INVALID');
    await expectCode(outbox.enqueue({ id: 'bad\nid', type: 'T', payload: 1 }), 'ERR_EVENTBUS_INVALID');
    await expectCode(outbox.pending(0), 'ERR_EVENTBUS_INVALID');
    expect(await outbox.pending()).toEqual(before);
  });
});
