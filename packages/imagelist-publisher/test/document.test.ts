// The list format on the store: documents imported (vmcaster §4.4 rules) and exported in the published shape.
// These are the store's former publisher-format tests, now on top of its format-agnostic applyImport.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportImageList, importImageList, importPlan, importWins } from '../src/index.js';
import { DN, expectCode, type Fixture, fixture, snapshot } from './helpers.js';

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

let f: Fixture;
beforeEach(async () => {
  f = await fixture();
});
afterEach(async () => f.dispose());

describe('importImageList / exportImageList', () => {
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
    const p = f.store.publisher;
    expect(await importImageList(p, doc)).toEqual({
      identifier: 'list-1',
      created: true,
      metadataUpdated: true,
      images: [
        { identifier: 'img-1', created: true, metadataUpdated: true },
        { identifier: 'img-2', created: true, metadataUpdated: true },
      ],
      endorsers: [{ dn: DN, created: true }],
    });
    expect(await exportImageList(p, 'list-1')).toEqual({
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
    expect((await p.getImage('img-1'))?.metadata['hv:size']).toBe('1024');
  });

  it('exports several endorsers as an array, none as absent, no images as an empty array', async () => {
    const p = f.store.publisher;
    await p.addImageList('L', { 'hv:version': '1' });
    let out = (await exportImageList(p, 'L'))['hv:imagelist'];
    expect(out['hv:endorser']).toBeUndefined();
    expect(out['hv:images']).toEqual([]);
    await p.addEndorser('/CN=A', { 'hv:ca': '/CN=CA' });
    await p.addEndorser('/CN=B');
    await p.bindEndorser('L', '/CN=A');
    await p.bindEndorser('L', '/CN=B');
    out = (await exportImageList(p, 'L'))['hv:imagelist'];
    expect(out['hv:endorser']).toEqual([
      { 'hv:x509': { 'hv:ca': '/CN=CA', 'hv:dn': '/CN=A' } },
      { 'hv:x509': { 'hv:dn': '/CN=B' } },
    ]);
    await expectCode(exportImageList(p, 'nope'), 'ERR_PUBLISHER_NOT_FOUND');
  });

  it('publishes sl:locations as an array (none left: no key) and sl:deprecated as text', async () => {
    const p = f.store.publisher;
    await importImageList(
      p,
      listDoc('1', [
        {
          'dc:identifier': 'i',
          'hv:version': '1',
          'sl:locations': ['https://mirror.example/i.img', 'http://other.example/i.img'],
          'sl:deprecated': 'use j',
        },
      ]),
    );
    expect((await p.getImage('i'))?.metadata['sl:locations']).toBe(
      '["https://mirror.example/i.img","http://other.example/i.img"]',
    );
    let image = (await exportImageList(p, 'list-1'))['hv:imagelist']['hv:images'] as { 'hv:image': object }[];
    expect(image[0]['hv:image']).toMatchObject({
      'sl:locations': ['https://mirror.example/i.img', 'http://other.example/i.img'],
      'sl:deprecated': 'use j',
    });
    await p.setImageKeys('i', { 'sl:locations': '[]' });
    image = (await exportImageList(p, 'list-1'))['hv:imagelist']['hv:images'] as { 'hv:image': object }[];
    expect(image[0]['hv:image']).not.toHaveProperty('sl:locations');
  });

  it('accepts the legacy unwrapped format', async () => {
    const doc = listDoc('1', [{ 'dc:identifier': 'i', 'hv:version': '1' }])['hv:imagelist'];
    const r = await importImageList(f.store.publisher, doc);
    expect(r.identifier).toBe('list-1');
    expect((await f.store.publisher.getImageList('list-1'))?.images).toEqual(['i']);
  });

  it('replaces metadata only for the same or a newer hv:version (split_numeric_sort)', async () => {
    const p = f.store.publisher;
    await importImageList(
      p,
      listDoc('1.10', [
        { 'dc:identifier': 'a', 'hv:version': '2.0', 'dc:title': 'A2' },
        { 'dc:identifier': 'b', 'hv:version': '1.0', 'dc:title': 'B1' },
      ]),
    );
    await p.setImageListKeys('list-1', { 'local:note': 'mine' });
    // An older list (1.9 < 1.10 numerically) keeps the stored list metadata; per image the image version rules.
    const older = await importImageList(
      p,
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
    const same = await importImageList(
      p,
      listDoc('1.10', [{ 'dc:identifier': 'a', 'hv:version': '2.0', 'dc:title': 'A2b' }]),
    );
    expect(same.metadataUpdated).toBe(true);
    const list = await p.getImageList('list-1');
    expect(list?.metadata['local:note']).toBeUndefined();
    // The list's image set is the import's: b is unbound but still exists.
    expect(list?.images).toEqual(['a']);
    expect(await p.listImages()).toEqual(['a', 'b']);
  });

  it.each([
    ['1', '1', true],
    ['1', '2', true],
    ['1.10', '1.9', false],
    ['0.0.9', '0.0.10', true],
    ['3.3.0-1', '3.3.0', false],
    [undefined, '1', true],
    [undefined, undefined, true],
    ['1', undefined, false],
  ] as const)('importWins(stored %j, incoming %j) = %j', (stored, incoming, wins) => {
    expect(importWins(stored, incoming)).toBe(wins);
  });

  it('rejects malformed documents without touching the store', async () => {
    const p = f.store.publisher;
    await importImageList(p, listDoc('1', [{ 'dc:identifier': 'a', 'hv:version': '1' }]));
    const before = await snapshot(p);
    for (const bad of [
      null,
      [],
      { 'hv:imagelist': 'x' },
      { 'hv:imagelist': { 'dc:title': 'no id' } },
      listDoc('2', [{ 'dc:title': 'no identifier' }]),
      listDoc('2', [], { 'hv:images': 'nope' }),
      listDoc('2', [], { 'hv:images': ['not an entry'] }),
      listDoc('2', [], { 'hv:endorser': { 'hv:x509': { 'hv:ca': CA } } }),
      listDoc('2', [], { 'hv:endorser': ['x'] }),
    ]) {
      await expectCode(importImageList(p, bad), 'ERR_PUBLISHER_DOCUMENT');
      expect(() => importPlan(bad)).toThrow();
    }
    expect(await snapshot(p)).toEqual(before);
  });

  it('imports a list-valued hv:endorser and binds existing endorsers without duplicating them', async () => {
    const p = f.store.publisher;
    await p.addEndorser(DN, { 'hv:ca': CA });
    const r = await importImageList(
      p,
      listDoc('1', [], {
        'hv:endorser': [
          { 'hv:x509': { 'hv:dn': DN, 'hv:ca': CA } },
          { 'hv:x509': { 'hv:dn': '/CN=Two' } },
          { 'hv:x509': { 'hv:dn': '/CN=Two' } },
        ],
      }),
    );
    expect(r.endorsers).toEqual([
      { dn: DN, created: false },
      { dn: '/CN=Two', created: true },
    ]);
    await importImageList(p, listDoc('1', []));
    expect((await p.getImageList('list-1'))?.endorsers).toEqual([DN, '/CN=Two']);
    expect(await p.listEndorsers()).toEqual(['/CN=Two', DN].sort());
  });

  it('an image listed twice counts once, at its last place', async () => {
    const plan = importPlan(
      listDoc('1', [
        { 'dc:identifier': 'a', 'hv:version': '1' },
        { 'dc:identifier': 'b', 'hv:version': '1' },
        { 'dc:identifier': 'a', 'hv:version': '2' },
      ]),
    );
    expect(plan.images).toEqual([
      { identifier: 'b', metadata: { 'hv:version': '1' } },
      { identifier: 'a', metadata: { 'hv:version': '2' } },
    ]);
  });
});
