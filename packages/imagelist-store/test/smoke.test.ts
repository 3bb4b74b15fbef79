import { describe, expect, it } from 'vitest';
import { dialects, freshStore } from './helpers.js';

describe.each(dialects())('smoke on %s', (dialect) => {
  it('opens, imports and exports', async () => {
    const { store, dispose } = await freshStore(dialect);
    try {
      await store.publisher.addEndorser('/C=DE/O=GermanGrid/CN=A', { 'hv:ca': '/C=DE/CN=CA' });
      const r = await store.publisher.importImageList({
        'hv:imagelist': {
          'dc:identifier': 'L1',
          'hv:version': '1',
          'hv:endorser': { 'hv:x509': { 'hv:dn': '/C=DE/O=GermanGrid/CN=A', 'hv:ca': '/C=DE/CN=CA' } },
          'hv:images': [{ 'hv:image': { 'dc:identifier': 'I1', 'hv:size': 12, 'hv:version': '1' } }],
        },
      });
      expect(r.created).toBe(true);
      const out = await store.publisher.exportImageList('L1');
      expect(out).toMatchObject({ 'hv:imagelist': { 'hv:images': [{ 'hv:image': { 'hv:size': 12 } }] } });
    } finally {
      await dispose();
    }
  });
});
