import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/index.js';
import { dialects, expectCode, freshStore } from './helpers.js';

const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
const CA = '/C=DE/O=GermanGrid/CN=GridKa-CA';

function listDoc(version: string, images: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    'hv:imagelist': {
      'dc:identifier': 'list-1',
      'dc:title': 'Test list',
      'hv:version': version,
      'hv:uri': 'https://example.org/list-1.smime',
      'hv:endorser': {
        'hv:x509': { 'hv:dn': DN, 'hv:ca': CA, 'dc:creator': 'Owen', 'hv:email': 'o@example.org' },
      },
      'hv:images': images.map((i) => ({ 'hv:image': i })),
      ...extra,
    },
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

  it('imports a document and exports it back in the published shape', async () => {
    const doc = listDoc('1.0', [
      {
        'dc:identifier': 'img-1',
        'hv:size': 1024,
        'hv:version': '1',
        'sl:os': 'Linux',
        'hv:ram_minimum': '512',
      },
      { 'dc:identifier': 'img-2', 'hv:size': '2048', 'hv:version': '1', 'ad:extra': { nested: true } },
    ]);
    const r = await store.publisher.importImageList(doc);
    expect(r).toEqual({
      identifier: 'list-1',
      created: true,
      metadataUpdated: true,
      images: [
        { identifier: 'img-1', created: true, metadataUpdated: true },
        { identifier: 'img-2', created: true, metadataUpdated: true },
      ],
      endorsers: [{ dn: DN, created: true }],
    });
    const out = await store.publisher.exportImageList('list-1');
    expect(out).toEqual({
      'hv:imagelist': {
        'dc:identifier': 'list-1',
        'dc:title': 'Test list',
        'hv:version': '1.0',
        'hv:uri': 'https://example.org/list-1.smime',
        'hv:endorser': {
          'hv:x509': { 'hv:dn': DN, 'hv:ca': CA, 'dc:creator': 'Owen', 'hv:email': 'o@example.org' },
        },
        'hv:images': [
          {
            'hv:image': {
              'dc:identifier': 'img-1',
              'hv:size': 1024,
              'hv:version': '1',
              'sl:os': 'Linux',
              'hv:ram_minimum': 512,
            },
          },
          {
            'hv:image': {
              'dc:identifier': 'img-2',
              'hv:size': 2048,
              'hv:version': '1',
              'ad:extra': '{"nested":true}',
            },
          },
        ],
      },
    });
    // The stored metadata is text, as vmcaster keeps it.
    expect((await store.publisher.getImage('img-1'))?.metadata['hv:size']).toBe('1024');
  });

  it('exports several endorsers as an array, none as absent, no images as an empty array', async () => {
    const p = store.publisher;
    await p.addImageList('L', { 'hv:version': '1' });
    let out = (await p.exportImageList('L'))['hv:imagelist'] as Record<string, unknown>;
    expect(out['hv:endorser']).toBeUndefined();
    expect(out['hv:images']).toEqual([]);
    await p.addEndorser('/CN=A', { 'hv:ca': '/CN=CA' });
    await p.addEndorser('/CN=B');
    await p.bindEndorser('L', '/CN=A');
    await p.bindEndorser('L', '/CN=B');
    out = (await p.exportImageList('L'))['hv:imagelist'] as Record<string, unknown>;
    expect(out['hv:endorser']).toEqual([
      { 'hv:x509': { 'hv:ca': '/CN=CA', 'hv:dn': '/CN=A' } },
      { 'hv:x509': { 'hv:dn': '/CN=B' } },
    ]);
    await expectCode(p.exportImageList('nope'), 'ERR_STORE_NOT_FOUND');
  });

  it('accepts the legacy unwrapped format', async () => {
    const doc = listDoc('1', [{ 'dc:identifier': 'i', 'hv:version': '1' }])['hv:imagelist'];
    const r = await store.publisher.importImageList(doc);
    expect(r.identifier).toBe('list-1');
    expect((await store.publisher.getImageList('list-1'))?.images).toEqual(['i']);
  });

  it('replaces metadata only for the same or a newer hv:version (split_numeric_sort)', async () => {
    const p = store.publisher;
    await p.importImageList(
      listDoc('1.10', [
        { 'dc:identifier': 'a', 'hv:version': '2.0', 'dc:title': 'A2' },
        { 'dc:identifier': 'b', 'hv:version': '1.0', 'dc:title': 'B1' },
      ]),
    );
    await p.setImageListKeys('list-1', { 'local:note': 'mine' });
    // An older list (1.9 < 1.10 numerically) keeps the stored list metadata; per image the image version rules.
    const older = await p.importImageList(
      listDoc(
        '1.9',
        [
          { 'dc:identifier': 'a', 'hv:version': '1.9', 'dc:title': 'A-old' },
          { 'dc:identifier': 'b', 'hv:version': '1.0.1', 'dc:title': 'B-newer' },
        ],
        { 'dc:title': 'old title' },
      ),
    );
    expect(older.created).toBe(false);
    expect(older.metadataUpdated).toBe(false);
    expect(older.images).toEqual([
      { identifier: 'a', created: false, metadataUpdated: false },
      { identifier: 'b', created: false, metadataUpdated: true },
    ]);
    expect((await p.getImageList('list-1'))?.metadata).toMatchObject({
      'dc:title': 'Test list',
      'hv:version': '1.10',
      'local:note': 'mine',
    });
    expect((await p.getImage('a'))?.metadata['dc:title']).toBe('A2');
    expect((await p.getImage('b'))?.metadata['dc:title']).toBe('B-newer');

    // The same version is accepted and replaces the metadata (keys not in the import go away).
    const same = await p.importImageList(
      listDoc('1.10', [{ 'dc:identifier': 'a', 'hv:version': '2.0', 'dc:title': 'A2b' }]),
    );
    expect(same.metadataUpdated).toBe(true);
    const list = await p.getImageList('list-1');
    expect(list?.metadata['local:note']).toBeUndefined();
    // The list's image set is the import's: b is unbound but still exists.
    expect(list?.images).toEqual(['a']);
    expect(await p.listImages()).toEqual(['a', 'b']);
  });

  it('rejects malformed documents without touching the store', async () => {
    const p = store.publisher;
    await p.importImageList(listDoc('1', [{ 'dc:identifier': 'a', 'hv:version': '1' }]));
    const before = await p.exportImageList('list-1');
    await expectCode(p.importImageList(null), 'ERR_STORE_INVALID');
    await expectCode(p.importImageList({ 'hv:imagelist': { 'dc:title': 'no id' } }), 'ERR_STORE_INVALID');
    await expectCode(p.importImageList(listDoc('2', [{ 'dc:title': 'no identifier' }])), 'ERR_STORE_INVALID');
    await expectCode(p.importImageList(listDoc('2', [], { 'hv:images': 'nope' })), 'ERR_STORE_INVALID');
    await expectCode(
      p.importImageList(listDoc('2', [], { 'hv:endorser': { 'hv:x509': { 'hv:ca': CA } } })),
      'ERR_STORE_INVALID',
    );
    expect(await p.exportImageList('list-1')).toEqual(before);
    expect(await p.listImageLists()).toEqual(['list-1']);
  });

  it('imports a list-valued hv:endorser and binds existing endorsers without duplicating them', async () => {
    const p = store.publisher;
    await p.addEndorser(DN, { 'hv:ca': CA });
    const r = await p.importImageList(
      listDoc('1', [], {
        'hv:endorser': [{ 'hv:x509': { 'hv:dn': DN, 'hv:ca': CA } }, { 'hv:x509': { 'hv:dn': '/CN=Two' } }],
      }),
    );
    expect(r.endorsers).toEqual([
      { dn: DN, created: false },
      { dn: '/CN=Two', created: true },
    ]);
    await p.importImageList(listDoc('1', []));
    expect((await p.getImageList('list-1'))?.endorsers).toEqual([DN, '/CN=Two']);
    expect(await p.listEndorsers()).toEqual(['/CN=Two', DN].sort());
  });
});
