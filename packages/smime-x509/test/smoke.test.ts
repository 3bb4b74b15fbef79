import { describe, expect, it } from 'vitest';
import { loadCertificate, loadPrivateKey, signSmime, TrustStore, verifySmime } from '../src/index.js';
import { file, imageList, read } from './helpers.js';

describe('smoke', () => {
  it('round trips', async () => {
    const trust = await TrustStore.fromDirectory(file('trust'));
    expect(trust.warnings).toEqual([]);
    const msg = await signSmime(imageList(), {
      certificate: read('leaf/endorser.pem'),
      privateKey: await loadPrivateKey(read('leaf/endorser.key')),
      chain: [loadCertificate(read('inter/cert.pem'))],
    });
    const v = await verifySmime(msg, { trust });
    expect(v.signer.subject).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge');
  });
});
