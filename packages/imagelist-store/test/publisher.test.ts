import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImportPlan, ImportSubject, Metadata, Store } from '../src/index.js';
import { dialects, expectCode, freshStore } from './helpers.js';

const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
const CA = '/C=DE/O=GermanGrid/CN=GridKa-CA';

/** A plan for list-1 at `version`; `replace` is the caller's rule (here: a plain string comparison). */
function plan(
  version: string,
  images: [string, Record<string, string>][],
  extra: Partial<ImportPlan> = {},
): ImportPlan {
  return {
    list: { identifier: 'list-1', metadata: { 'dc:title': `Test list ${version}`, 'hv:version': version } },
    images: images.map(([identifier, metadata]) => ({ identifier, metadata })),
    endorsers: [{ dn: DN, metadata: { 'hv:ca': CA, 'dc:creator': 'Owen' } }],
    replace: (stored, incoming) => (stored['hv:version'] ?? '') <= (incoming['hv:version'] ?? ''),
    ...extra,
  };
}

describe.each(dialects())('publisher repository on %s', (dialect) => {
  let store: Store;
  let dispose: () => Promise<void>;
  let clock = new Date('2026-01-01T00:00:00Z');
  beforeEach(async () => {
    clock = new Date('2026-01-01T00:00:00Z');
    ({ store, dispose } = await freshStore(dialect, { now: () => clock }));
  });
  afterEach(async () => dispose());

  it('adds, reads, updates and deletes endorsers with metadata', async () => {
    const p = store.publisher;
    await p.addEndorser(DN, { 'hv:ca': CA });
    await expectCode(p.addEndorser(DN), 'ERR_STORE_CONFLICT');
    await p.setEndorserKeys(DN, { 'dc:creator': 'Owen Synge', 'hv:email': 'owen@example.org' });
    expect(await p.getEndorser(DN)).toEqual({
      dn: DN,
      metadata: { 'dc:creator': 'Owen Synge', 'hv:ca': CA, 'hv:email': 'owen@example.org' },
      imageLists: [],
    });
    await p.deleteEndorserKey(DN, 'hv:email');
    await expectCode(p.deleteEndorserKey(DN, 'hv:email'), 'ERR_STORE_NOT_FOUND');
    expect((await p.getEndorser(DN))?.metadata).toEqual({ 'dc:creator': 'Owen Synge', 'hv:ca': CA });
    expect(await p.listEndorsers()).toEqual([DN]);
    await p.deleteEndorser(DN);
    await expectCode(p.deleteEndorser(DN), 'ERR_STORE_NOT_FOUND');
    expect(await p.getEndorser(DN)).toBeUndefined();
    await expectCode(p.setEndorserKeys(DN, { a: 'b' }), 'ERR_STORE_NOT_FOUND');
  });

  it('keeps long values untruncated and one row per key', async () => {
    const long = 'x'.repeat(5000);
    await store.publisher.addImage('img', { 'dc:description': long });
    await store.publisher.setImageKeys('img', { 'dc:description': `${long}!` });
    expect((await store.publisher.getImage('img'))?.metadata).toEqual({ 'dc:description': `${long}!` });
  });

  it('refuses reserved keys and leaves the data unchanged', async () => {
    const p = store.publisher;
    await p.addImageList('L', { 'dc:title': 'T' });
    for (const key of ['dc:identifier', 'hv:endorser', 'hv:images']) {
      await expectCode(p.setImageListKeys('L', { 'dc:title': 'changed', [key]: 'x' }), 'ERR_STORE_INVALID');
    }
    await expectCode(p.addImageList('M', { 'hv:images': '[]' }), 'ERR_STORE_INVALID');
    await p.addImage('I');
    await expectCode(p.setImageKeys('I', { 'dc:identifier': 'J' }), 'ERR_STORE_INVALID');
    await expectCode(p.setImageKeys('I', { 'hv:size': 5 as unknown as string }), 'ERR_STORE_INVALID');
    expect((await p.getImageList('L'))?.metadata).toEqual({ 'dc:title': 'T' });
    expect(await p.listImageLists()).toEqual(['L']);
    expect((await p.getImage('I'))?.metadata).toEqual({});
  });

  it('binds images and endorsers in order; an image may belong to several lists', async () => {
    const p = store.publisher;
    await p.addImageList('L1');
    await p.addImageList('L2');
    await p.addEndorser(DN);
    await p.addEndorser('/CN=Second');
    for (const i of ['c', 'a', 'b']) await p.addImage(i);
    await p.bindImage('L1', 'c');
    await p.bindImage('L1', 'a');
    await p.bindImage('L2', 'a');
    await expectCode(p.bindImage('L1', 'a'), 'ERR_STORE_CONFLICT');
    await expectCode(p.bindImage('L1', 'zzz'), 'ERR_STORE_NOT_FOUND');
    await expectCode(p.bindImage('nope', 'a'), 'ERR_STORE_NOT_FOUND');
    await p.bindEndorser('L1', '/CN=Second');
    await p.bindEndorser('L1', DN);
    const l1 = await p.getImageList('L1');
    expect(l1?.images).toEqual(['c', 'a']);
    expect(l1?.endorsers).toEqual(['/CN=Second', DN]);
    expect((await p.getImage('a'))?.imageLists).toEqual(['L1', 'L2']);
    expect((await p.getEndorser(DN))?.imageLists).toEqual(['L1']);

    // Deleting a list removes its bindings, never the images.
    await p.deleteImageList('L1');
    expect(await p.listImages()).toEqual(['a', 'b', 'c']);
    expect((await p.getImage('a'))?.imageLists).toEqual(['L2']);
    expect((await p.getEndorser(DN))?.imageLists).toEqual([]);
    await p.unbindImage('L2', 'a');
    await expectCode(p.unbindImage('L2', 'a'), 'ERR_STORE_NOT_FOUND');
    await p.bindImage('L2', 'b');
    await p.deleteImage('b');
    expect((await p.getImageList('L2'))?.images).toEqual([]);
  });

  it('sets `updated` from the injected clock on list changes', async () => {
    await store.publisher.addImageList('L');
    expect((await store.publisher.getImageList('L'))?.updated).toEqual(new Date('2026-01-01T00:00:00Z'));
    clock = new Date('2026-02-03T04:05:06Z');
    await store.publisher.setImageListKeys('L', { 'dc:title': 'x' });
    expect((await store.publisher.getImageList('L'))?.updated).toEqual(clock);
  });

  it('applies a plan and reads the list back with its endorsers and images in binding order', async () => {
    const p = store.publisher;
    const r = await p.applyImport(
      plan('1', [
        ['img-2', { 'hv:size': '2048', 'hv:version': '1' }],
        ['img-1', { 'hv:size': '1024', 'hv:version': '1', 'ad:extra': '{"nested":true}' }],
      ]),
    );
    expect(r).toEqual({
      identifier: 'list-1',
      created: true,
      metadataUpdated: true,
      images: [
        { identifier: 'img-2', created: true, metadataUpdated: true },
        { identifier: 'img-1', created: true, metadataUpdated: true },
      ],
      endorsers: [{ dn: DN, created: true }],
    });
    expect(await p.getImageListContents('list-1')).toEqual({
      identifier: 'list-1',
      metadata: { 'dc:title': 'Test list 1', 'hv:version': '1' },
      updated: clock,
      endorsers: [{ dn: DN, metadata: { 'hv:ca': CA, 'dc:creator': 'Owen' } }],
      images: [
        { identifier: 'img-2', metadata: { 'hv:size': '2048', 'hv:version': '1' } },
        {
          identifier: 'img-1',
          metadata: { 'hv:size': '1024', 'hv:version': '1', 'ad:extra': '{"nested":true}' },
        },
      ],
    });
    expect(await p.getImageListContents('nope')).toBeUndefined();
    await p.addImageList('empty');
    expect(await p.getImageListContents('empty')).toMatchObject({ endorsers: [], images: [] });
  });

  it('asks replace with the stored metadata, inside the import, and follows its answer', async () => {
    const p = store.publisher;
    await p.applyImport(
      plan('2', [
        ['a', { 'hv:version': '2', 'dc:title': 'A2' }],
        ['b', { 'hv:version': '1' }],
      ]),
    );
    await p.setImageListKeys('list-1', { 'local:note': 'mine' });
    const asked: [Metadata, Metadata, ImportSubject][] = [];
    // A rule that keeps the list and image a, and replaces image b; c is new and written regardless.
    const r = await p.applyImport(
      plan(
        '1',
        [
          ['a', { 'hv:version': '1', 'dc:title': 'A-old' }],
          ['b', { 'hv:version': '3', 'dc:title': 'B3' }],
          ['c', { 'hv:version': '1' }],
        ],
        {
          replace: (stored, incoming, subject) => {
            asked.push([stored, incoming, subject]);
            return subject.identifier === 'b';
          },
        },
      ),
    );
    expect(asked).toEqual([
      [
        { 'dc:title': 'Test list 2', 'hv:version': '2', 'local:note': 'mine' },
        { 'dc:title': 'Test list 1', 'hv:version': '1' },
        { kind: 'imagelist', identifier: 'list-1' },
      ],
      [
        { 'hv:version': '2', 'dc:title': 'A2' },
        { 'hv:version': '1', 'dc:title': 'A-old' },
        { kind: 'image', identifier: 'a' },
      ],
      [{ 'hv:version': '1' }, { 'hv:version': '3', 'dc:title': 'B3' }, { kind: 'image', identifier: 'b' }],
    ]);
    expect(r.metadataUpdated).toBe(false);
    expect(r.images).toEqual([
      { identifier: 'a', created: false, metadataUpdated: false },
      { identifier: 'b', created: false, metadataUpdated: true },
      { identifier: 'c', created: true, metadataUpdated: true },
    ]);
    const kept = await p.getImageListContents('list-1');
    expect(kept?.metadata).toEqual({ 'dc:title': 'Test list 2', 'hv:version': '2', 'local:note': 'mine' });
    expect(kept?.images.map((i) => [i.identifier, i.metadata['dc:title']])).toEqual([
      ['a', 'A2'],
      ['b', 'B3'],
      ['c', undefined],
    ]);

    // A replaced list takes the plan's image set: a and c are unbound (they still exist), b stays.
    const replaced = await p.applyImport(plan('3', [['b', { 'hv:version': '3' }]]));
    expect(replaced.metadataUpdated).toBe(true);
    expect((await p.getImageList('list-1'))?.images).toEqual(['b']);
    expect((await p.getImageList('list-1'))?.metadata['local:note']).toBeUndefined();
    expect(await p.listImages()).toEqual(['a', 'b', 'c']);
  });

  it('refuses malformed plans before touching anything', async () => {
    const p = store.publisher;
    await p.applyImport(plan('1', [['a', { 'hv:version': '1' }]]));
    const before = await p.getImageListContents('list-1');
    const bad: [string, unknown][] = [
      ['no plan', null],
      ['no identifier', { ...plan('2', []), list: { identifier: '', metadata: {} } }],
      [
        'reserved list key',
        { ...plan('2', []), list: { identifier: 'list-1', metadata: { 'hv:images': '[]' } } },
      ],
      ['non-string value', plan('2', [['a', { 'hv:size': 5 as unknown as string }]])],
      ['reserved image key', plan('2', [['a', { 'dc:identifier': 'b' }]])],
      [
        'image twice',
        plan('2', [
          ['a', {}],
          ['a', {}],
        ]),
      ],
      ['image without identifier', plan('2', [['', {}]])],
      ['endorser without DN', plan('2', [], { endorsers: [{ dn: ' ', metadata: {} }] })],
      [
        'one endorser in two spellings',
        plan('2', [], {
          endorsers: [
            { dn: '/CN=host/vm.example.org', metadata: {} },
            { dn: '/CN=host\\/vm.example.org', metadata: {} },
          ],
        }),
      ],
      ['no replace rule', { ...plan('2', []), replace: undefined }],
    ];
    for (const [what, p2] of bad) {
      const err = await expectCode(p.applyImport(p2 as ImportPlan), 'ERR_STORE_INVALID');
      expect(err.message, what).toBeTruthy();
    }
    // A rule that throws rolls the import back.
    await expectCode(
      p.applyImport(
        plan(
          '2',
          [
            ['new', {}],
            ['a', {}],
          ],
          {
            replace: (_s, _i, subject) => {
              if (subject.kind === 'image') throw new Error('rule failed');
              return true;
            },
          },
        ),
      ),
      'ERR_STORE_INTERNAL',
    );
    expect(await p.getImageListContents('list-1')).toEqual(before);
    expect(await p.listImageLists()).toEqual(['list-1']);
    expect(await p.listImages()).toEqual(['a']);
  });

  it('binds existing endorsers without duplicating them, merging their metadata when the list is replaced', async () => {
    const p = store.publisher;
    await p.addEndorser(DN, { 'hv:email': 'o@example.org' });
    const r = await p.applyImport(
      plan('1', [], {
        endorsers: [
          { dn: DN, metadata: { 'hv:ca': CA } },
          { dn: '/CN=Two', metadata: {} },
        ],
      }),
    );
    expect(r.endorsers).toEqual([
      { dn: DN, created: false },
      { dn: '/CN=Two', created: true },
    ]);
    await p.applyImport(plan('1', []));
    expect((await p.getImageList('list-1'))?.endorsers).toEqual([DN, '/CN=Two']);
    expect(await p.listEndorsers()).toEqual(['/CN=Two', DN].sort());
    expect((await p.getEndorser(DN))?.metadata).toEqual({
      'hv:email': 'o@example.org',
      'hv:ca': CA,
      'dc:creator': 'Owen',
    });
  });
});
