import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageInstance, RecordImageListInput, Store } from '../src/index.js';
import { dialects, expectCode, fakeSha, freshStore, withRawDb } from './helpers.js';

const SIGNER = {
  subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
  issuer: '/C=DE/O=GermanGrid/CN=GridKa-CA',
};
const SUB = 'f3e4e9a2-0b0e-4c43-9a7f-6f3b1d2c0001';

function image(id: string, extra: Partial<ImageInstance> = {}): Omit<ImageInstance, 'imageListId'> {
  return {
    identifier: id,
    title: `title ${id}`,
    description: `description ${id}`,
    hypervisor: 'QEMU,KVM',
    sha512: fakeSha(id),
    uri: `https://example.org/${id}.img`,
    os: 'Linux',
    osversion: '9',
    arch: 'x86_64',
    version: '1',
    size: 12_000_000_000,
    comments: '',
    format: 'qcow2',
    image: { 'dc:identifier': id, 'hv:format': 'qcow2', 'ad:mpuri': `https://appdb/${id}:1/` },
    ...extra,
  };
}

function listInput(
  version: string,
  ids: string[],
  opts: { expires?: string; data?: string } = {},
): RecordImageListInput {
  const data = new TextEncoder().encode(opts.data ?? `signed list ${version} ${ids.join(',')}`);
  return {
    data,
    dataHash: createHash('sha512').update(data).digest('hex'),
    created: new Date('2026-01-01T00:00:00Z'),
    expires: new Date(opts.expires ?? '2026-12-31T00:00:00Z'),
    version,
    signer: SIGNER,
    metadata: { 'dc:identifier': SUB, 'hv:version': version, 'ad:vo': 'dteam' },
    images: ids.map((id) => image(id)),
  };
}

describe.each(dialects())('subscriber repository on %s', (dialect) => {
  let store: Store;
  let url: string;
  let dispose: () => Promise<void>;
  let clock: Date;
  beforeEach(async () => {
    clock = new Date('2026-03-01T12:00:00Z');
    ({ store, url, dispose } = await freshStore(dialect, { now: () => clock }));
  });
  afterEach(async () => dispose());

  async function subscribe(updateMode: 0 | 1 | 3 = 0, images: { identifier: string; cache: boolean }[] = []) {
    await store.subscriber.createEndorser('owen', [SIGNER]);
    return store.subscriber.createSubscription({
      identifier: SUB,
      description: 'Test list',
      uri: 'https://example.org/list.smime',
      endorser: 'owen',
      updateMode,
      images,
    });
  }

  it('creates endorsers with principals, finds them, refuses duplicates', async () => {
    const s = store.subscriber;
    const e = await s.createEndorser('owen', [SIGNER, { subject: '/CN=Other', issuer: '/CN=CA2' }]);
    expect(e.principals).toHaveLength(2);
    await expectCode(
      s.createEndorser('owen', [{ subject: '/CN=new', issuer: '/CN=x' }]),
      'ERR_STORE_CONFLICT',
    );
    await expectCode(s.createEndorser('other', [SIGNER]), 'ERR_STORE_CONFLICT');
    await expectCode(s.createEndorser('empty', []), 'ERR_STORE_INVALID');
    expect(await s.listEndorsers()).toEqual([e]);
    expect(await s.findEndorserByPrincipal(SIGNER)).toEqual(e);
    expect(await s.findEndorserByPrincipal({ subject: SIGNER.subject, issuer: '/CN=wrong' })).toBeUndefined();
    await s.deleteEndorser('owen');
    await expectCode(s.deleteEndorser('owen'), 'ERR_STORE_NOT_FOUND');
    expect(await s.listEndorsers()).toEqual([]);
    // Principals went with it: the subject is free again.
    await s.createEndorser('again', [SIGNER]);
  });

  it('creates a subscription with images and an authorised link in one transaction', async () => {
    const sub = await subscribe(0, [
      { identifier: 'img-a', cache: true },
      { identifier: 'img-b', cache: false },
    ]);
    expect(sub).toEqual({
      identifier: SUB,
      description: 'Test list',
      uri: 'https://example.org/list.smime',
      authorised: true,
      trustAnchor: 'none',
      updateMode: 0,
      hasUsername: false,
      hasPassword: false,
    });
    expect(await store.subscriber.listLinks()).toEqual([
      { endorser: 'owen', subscription: SUB, authorised: true },
    ]);
    expect(await store.subscriber.isAuthorised(SUB, SIGNER)).toBe(true);
    expect(await store.subscriber.isAuthorised(SUB, { ...SIGNER, issuer: '/CN=other' })).toBe(false);
    expect((await store.subscriber.listImages()).map((i) => [i.identifier, i.state])).toEqual([
      ['img-a', 1],
      ['img-b', 0],
    ]);
    await expectCode(subscribeAgain(), 'ERR_STORE_CONFLICT');
    // A failing create (unknown endorser) leaves nothing behind.
    await expectCode(
      store.subscriber.createSubscription({
        identifier: 'x',
        description: '',
        uri: 'file:///x',
        endorser: 'nobody',
        images: [{ identifier: 'q', cache: true }],
      }),
      'ERR_STORE_NOT_FOUND',
    );
    expect(await store.subscriber.getSubscription('x')).toBeUndefined();
    expect(await store.subscriber.getImages('q')).toEqual([]);
  });

  function subscribeAgain() {
    return store.subscriber.createSubscription({
      identifier: 'other',
      description: '',
      uri: 'https://example.org/list.smime',
    });
  }

  it('keeps Basic-auth secrets apart from the subscription', async () => {
    const s = store.subscriber;
    const sub = await s.createSubscription({
      identifier: SUB,
      description: 'private',
      uri: 'https://TOKEN:x-oauth-basic@vmcaster.appdb.egi.eu/store/vo/list.smime',
    });
    expect(sub.uri).toBe('https://vmcaster.appdb.egi.eu/store/vo/list.smime');
    expect(sub.hasUsername && sub.hasPassword).toBe(true);
    expect(JSON.stringify(await s.listSubscriptions())).not.toContain('TOKEN');
    expect(JSON.stringify(await s.listSubscriptions())).not.toContain('x-oauth-basic');
    expect(await s.getCredentials(SUB)).toEqual({ username: 'TOKEN', password: 'x-oauth-basic' });
    expect(
      (await s.getSubscriptionByUri('https://vmcaster.appdb.egi.eu/store/vo/list.smime'))?.identifier,
    ).toBe(SUB);
    await s.setCredentials(SUB, { password: null });
    expect(await s.getCredentials(SUB)).toEqual({ username: 'TOKEN' });
    await s.setCredentials(SUB, { username: null });
    expect(await s.getSubscription(SUB)).toMatchObject({ hasUsername: false, hasPassword: false });
    await s.setCredentials(SUB, { username: 'u', password: 'p' });
    expect(await s.getCredentials(SUB)).toEqual({ username: 'u', password: 'p' });
    await expectCode(s.getCredentials('nope'), 'ERR_STORE_NOT_FOUND');
  });

  it('updates subscription attributes and refuses a taken uri or bad modes', async () => {
    const s = store.subscriber;
    await subscribe();
    await s.createSubscription({ identifier: 'two', description: '', uri: 'file:///two' });
    await s.updateSubscription(SUB, {
      description: 'new',
      authorised: false,
      trustAnchor: 'igtf',
      updateMode: 3,
      uri: 'https://example.org/moved',
    });
    expect(await s.getSubscription(SUB)).toMatchObject({
      description: 'new',
      authorised: false,
      trustAnchor: 'igtf',
      updateMode: 3,
      uri: 'https://example.org/moved',
    });
    await expectCode(s.updateSubscription(SUB, { uri: 'file:///two' }), 'ERR_STORE_CONFLICT');
    await expectCode(s.updateSubscription(SUB, { updateMode: 2 as 1 }), 'ERR_STORE_INVALID');
    await expectCode(s.updateSubscription(SUB, { trustAnchor: 'x' as 'none' }), 'ERR_STORE_INVALID');
    await expectCode(s.updateSubscription('nope', { description: 'x' }), 'ERR_STORE_NOT_FOUND');
    expect((await s.getSubscription(SUB))?.uri).toBe('https://example.org/moved');
  });

  it('records an imported list: raw bytes, hash, instances, latest pointers, refusals (mode 0)', async () => {
    const s = store.subscriber;
    await subscribe(0, [{ identifier: 'img-a', cache: true }]);
    const input = listInput('1', ['img-a', 'img-new']);
    const r = await s.recordImageList(SUB, input);
    expect(r.accepted).toEqual([]);
    expect(r.refused).toEqual(['img-new']);
    const latest = await s.getLatestImageList(SUB);
    expect(latest?.id).toBe(r.imageListId);
    expect(Buffer.from(latest!.data).equals(Buffer.from(input.data))).toBe(true);
    expect(latest?.dataHash).toBe(input.dataHash);
    expect(latest?.metadata).toEqual(input.metadata);
    expect(latest?.signer).toEqual(SIGNER);
    expect(latest?.imported).toEqual(clock);
    expect(latest?.expires).toEqual(new Date('2026-12-31T00:00:00Z'));
    const sub = await s.getSubscription(SUB);
    expect(sub?.updated).toEqual(clock);
    expect(sub?.latest?.id).toBe(r.imageListId);
    const [img] = await s.getImages('img-a');
    expect(img.state).toBe(3);
    expect(img.latest).toEqual({ ...image('img-a'), imageListId: r.imageListId });
    expect(img.latest?.size).toBe(12_000_000_000);
    expect(await s.getImages('img-new')).toEqual([]);
  });

  it('refuses text holding a NUL character (ERR_STORE_INVALID), writing nothing', async () => {
    const s = store.subscriber;
    await subscribe(1);
    await s.recordImageList(SUB, listInput('1', ['a']));
    // SQLite's driver would store `x\0y` as `x`, colliding with the image `x`.
    const bad = listInput('2', ['x', 'x\0y']);
    const e = await expectCode(s.recordImageList(SUB, bad), 'ERR_STORE_INVALID');
    expect(e.message).toMatch(/images\[1\]\.identifier holds a NUL character/);
    const titled = listInput('2', ['b']);
    titled.images[0] = { ...titled.images[0], title: 'a\0title' };
    await expectCode(s.recordImageList(SUB, titled), 'ERR_STORE_INVALID');
    await expectCode(
      s.createSubscription({
        identifier: 'nul\0sub',
        description: 'x',
        uri: 'https://example.org/l',
        endorser: 'owen',
      }),
      'ERR_STORE_INVALID',
    );
    expect((await s.getLatestImageList(SUB))?.version).toBe('1');
    expect((await s.listImages()).map((i) => i.identifier)).toEqual(['a']);
    expect((await s.listSubscriptions()).map((x) => x.identifier)).toEqual([SUB]);
  });

  it('accepts new images per update mode (1 accept, 3 accept and subscribe)', async () => {
    const s = store.subscriber;
    await subscribe(1);
    let r = await s.recordImageList(SUB, listInput('1', ['a', 'b']));
    expect(r.accepted).toEqual(['a', 'b']);
    expect((await s.listImages()).map((i) => [i.identifier, i.state])).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
    await s.updateSubscription(SUB, { updateMode: 3 });
    r = await s.recordImageList(SUB, listInput('2', ['a', 'c']));
    expect(r.accepted).toEqual(['c']);
    // b is not in the newest list: known but no longer available.
    expect((await s.listImages({ subscription: SUB })).map((i) => [i.identifier, i.state])).toEqual([
      ['a', 2],
      ['b', 0],
      ['c', 3],
    ]);
  });

  it('derives the available bit: latest list, not expired, subscription authorised', async () => {
    const s = store.subscriber;
    await subscribe(0, [{ identifier: 'a', cache: true }]);
    const r = await s.recordImageList(SUB, listInput('1', ['a']));
    expect((await s.listCacheCandidates()).map((c) => [c.identifier, c.list.id, c.latest.sha512])).toEqual([
      ['a', r.imageListId, fakeSha('a')],
    ]);
    await s.updateSubscription(SUB, { authorised: false });
    expect((await s.getImages('a'))[0].state).toBe(1);
    expect(await s.listCacheCandidates()).toEqual([]);
    await s.updateSubscription(SUB, { authorised: true });
    await s.markImageListExpired(r.imageListId, new Date('2026-03-02T00:00:00Z'));
    expect((await s.getImages('a'))[0].state).toBe(1);
    expect(await s.listCacheCandidates()).toEqual([]);
    expect((await s.getSubscription(SUB))?.latest?.expired).toEqual(new Date('2026-03-02T00:00:00Z'));
    // A later mark keeps the first time it was found expired.
    await s.markImageListExpired(r.imageListId, new Date('2026-04-01T00:00:00Z'));
    expect((await s.getLatestImageList(SUB))?.expired).toEqual(new Date('2026-03-02T00:00:00Z'));
    await expectCode(s.markImageListExpired(999_999, new Date()), 'ERR_STORE_NOT_FOUND');

    // A newer list makes it available again; the list's own expiry (by the injected clock) also counts.
    await s.recordImageList(SUB, listInput('2', ['a'], { expires: '2026-06-01T00:00:00Z' }));
    expect((await s.getImages('a'))[0].state).toBe(3);
    clock = new Date('2026-06-01T00:00:01Z');
    expect((await s.getImages('a'))[0].state).toBe(1);
    expect(await s.listCacheCandidates()).toEqual([]);
  });

  it('withdraws a stored list: its images lose the available bit until a newer list is recorded', async () => {
    const s = store.subscriber;
    await subscribe(0, [{ identifier: 'a', cache: true }]);
    const r = await s.recordImageList(SUB, listInput('1', ['a']));
    const at = new Date('2026-03-01T12:30:00Z');
    await s.withdrawImageList(r.imageListId, {
      at,
      code: 'ERR_SMIME_REVOKED',
      reason: 'the signer was revoked',
    });
    const withdrawn = { at, code: 'ERR_SMIME_REVOKED', reason: 'the signer was revoked' };
    expect((await s.getImages('a'))[0].state).toBe(1);
    expect(await s.listCacheCandidates()).toEqual([]);
    expect((await s.getLatestImageList(SUB))?.withdrawn).toEqual(withdrawn);
    expect((await s.getSubscription(SUB))?.latest?.withdrawn).toEqual(withdrawn);
    expect((await s.getLatestImageList(SUB))?.expired).toBeUndefined();

    // The first withdrawal is kept; bad input changes nothing.
    await s.withdrawImageList(r.imageListId, { at: clock, code: 'ERR_LIST_NOT_AUTHORISED', reason: 'later' });
    await expectCode(
      s.withdrawImageList(r.imageListId, { at: clock, code: ' ', reason: 'no code' }),
      'ERR_STORE_INVALID',
    );
    await expectCode(
      s.withdrawImageList(999_999, { at: clock, code: 'ERR_SMIME_REVOKED', reason: '' }),
      'ERR_STORE_NOT_FOUND',
    );
    expect((await s.getLatestImageList(SUB))?.withdrawn).toEqual(withdrawn);

    // Only a list recorded after it makes the image available again.
    const r2 = await s.recordImageList(SUB, listInput('2', ['a']));
    expect((await s.getImages('a'))[0].state).toBe(3);
    expect((await s.listCacheCandidates()).map((c) => [c.identifier, c.list.id])).toEqual([
      ['a', r2.imageListId],
    ]);
    expect((await s.getLatestImageList(SUB))?.withdrawn).toBeUndefined();
  });

  it('lets the same image UUID live in two subscriptions', async () => {
    const s = store.subscriber;
    await subscribe(0, [{ identifier: 'shared', cache: false }]);
    await s.createSubscription({
      identifier: 'sub-2',
      description: '',
      uri: 'file:///two',
      images: [{ identifier: 'shared', cache: false }],
    });
    expect((await s.getImages('shared')).map((i) => i.subscription).sort()).toEqual([SUB, 'sub-2'].sort());
    expect(await s.setImageCache('shared', true, 'sub-2')).toBe(1);
    expect((await s.getImages('shared')).map((i) => [i.subscription, i.cache])).toEqual(
      [
        [SUB, false],
        ['sub-2', true],
      ].sort(),
    );
    expect(await s.setImageCache('shared', true)).toBe(2);
    expect(await s.setImageCache('unknown', true)).toBe(0);
  });

  it('finds images by the sha512 of any stored instance', async () => {
    const s = store.subscriber;
    await subscribe(1);
    await s.recordImageList(SUB, listInput('1', ['a', 'b']));
    expect((await s.findImagesBySha512(fakeSha('b'))).map((i) => i.identifier)).toEqual(['b']);
    expect((await s.findImagesBySha512(fakeSha('b').toUpperCase())).map((i) => i.identifier)).toEqual(['b']);
    expect(await s.findImagesBySha512(fakeSha('zzz'))).toEqual([]);
  });

  it('accepts and refuses images', async () => {
    const s = store.subscriber;
    await subscribe(0);
    await s.acceptImage(SUB, 'pre');
    await expectCode(s.acceptImage(SUB, 'pre'), 'ERR_STORE_CONFLICT');
    await expectCode(s.acceptImage('nope', 'pre'), 'ERR_STORE_NOT_FOUND');
    const r = await s.recordImageList(SUB, listInput('1', ['pre']));
    expect(r.refused).toEqual([]);
    expect((await s.getImages('pre'))[0].state).toBe(2);
    await s.refuseImage(SUB, 'pre');
    await expectCode(s.refuseImage(SUB, 'pre'), 'ERR_STORE_NOT_FOUND');
    expect(await s.getImages('pre')).toEqual([]);
  });

  it('links and unlinks endorsers', async () => {
    const s = store.subscriber;
    await subscribe(0);
    await s.createEndorser('second', [{ subject: '/CN=second', issuer: '/CN=CA' }]);
    await s.link('second', SUB);
    await s.link('second', SUB);
    expect(await s.listLinks()).toHaveLength(2);
    expect(await s.isAuthorised(SUB, { subject: '/CN=second', issuer: '/CN=CA' })).toBe(true);
    await s.unlink('second', SUB);
    await expectCode(s.unlink('second', SUB), 'ERR_STORE_NOT_FOUND');
    await expectCode(s.link('nobody', SUB), 'ERR_STORE_NOT_FOUND');
    await expectCode(s.link('second', 'nope'), 'ERR_STORE_NOT_FOUND');
    expect(await s.isAuthorised(SUB, { subject: '/CN=second', issuer: '/CN=CA' })).toBe(false);
  });

  it('deletes a subscription with its definitions, lists, instances and links', async () => {
    const s = store.subscriber;
    await subscribe(1);
    await s.recordImageList(SUB, listInput('1', ['a']));
    await s.setCredentials(SUB, { username: 'u' });
    await s.deleteSubscription(SUB);
    await expectCode(s.deleteSubscription(SUB), 'ERR_STORE_NOT_FOUND');
    expect(await s.listImages()).toEqual([]);
    expect(await s.listLinks()).toEqual([]);
    await withRawDb(url, async (db) => {
      for (const table of [
        'sub_imagelist',
        'sub_image_instance',
        'sub_image_definition',
        'sub_credential',
        'sub_link',
      ]) {
        const rows = await db.selectFrom(table).selectAll().execute();
        expect(rows, table).toEqual([]);
      }
    });
    expect(await s.listEndorsers()).toHaveLength(1);
  });

  it('refuses a bad recordImageList input without storing anything', async () => {
    const s = store.subscriber;
    await subscribe(1);
    await expectCode(
      s.recordImageList(SUB, { ...listInput('1', ['a']), dataHash: 'nothex' }),
      'ERR_STORE_INVALID',
    );
    const dup = listInput('1', ['a']);
    dup.images.push(image('a'));
    await expectCode(s.recordImageList(SUB, dup), 'ERR_STORE_INVALID');
    await expectCode(s.recordImageList('nope', listInput('1', ['a'])), 'ERR_STORE_NOT_FOUND');
    expect(await s.getLatestImageList(SUB)).toBeUndefined();
    expect(await s.listImages()).toEqual([]);
  });

  it('queues failed events for redelivery', async () => {
    const s = store.subscriber;
    const id = await s.recordFailedEvent({
      type: 'AvailablePostfix',
      payload: { VMCATCHER_EVENT_DC_IDENTIFIER: 'a' },
      error: 'exit 1',
    });
    expect(await s.bumpFailedEvent(id, 'exit 2')).toBe(2);
    expect(await s.listFailedEvents()).toEqual([
      {
        id,
        recorded: clock,
        type: 'AvailablePostfix',
        payload: { VMCATCHER_EVENT_DC_IDENTIFIER: 'a' },
        error: 'exit 2',
        attempts: 2,
      },
    ]);
    await s.deleteFailedEvent(id);
    await expectCode(s.deleteFailedEvent(id), 'ERR_STORE_NOT_FOUND');
    await expectCode(s.bumpFailedEvent(id, 'x'), 'ERR_STORE_NOT_FOUND');
    expect(await s.listFailedEvents()).toEqual([]);
  });

  it('moves an event that failed too often to the dead-letter list, keeping the order of the rest', async () => {
    const s = store.subscriber;
    const ids: number[] = [];
    for (const type of ['ExpirePrefix', 'ExpirePostfix', 'ProcessPostfix'])
      ids.push(await s.recordFailedEvent({ type, payload: { type }, error: 'exit 1' }));
    await s.markFailedEventDead(ids[0]);
    expect((await s.listFailedEvents({ dead: false })).map((f) => f.id)).toEqual([ids[1], ids[2]]);
    const dead = await s.listFailedEvents({ dead: true });
    expect(dead.map((f) => [f.id, f.type, f.dead])).toEqual([[ids[0], 'ExpirePrefix', clock]]);
    expect((await s.listFailedEvents()).map((f) => f.id)).toEqual(ids);
    await expectCode(s.markFailedEventDead(99_999), 'ERR_STORE_NOT_FOUND');
    expect((await s.listFailedEvents()).map((f) => f.id)).toEqual(ids);
    await s.deleteFailedEvent(ids[0]);
    expect(await s.listFailedEvents({ dead: true })).toEqual([]);
  });
});
