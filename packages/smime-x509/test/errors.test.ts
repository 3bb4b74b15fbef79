// The error model: one class on HepixError, the exported code list, typed context fields without undefined
// properties, and ERR_SMIME_INTERNAL (not a misleading code) for what nobody expected.
import { HepixError, isHepixError } from '@hepix/common';
import { describe, expect, it } from 'vitest';
import {
  loadPrivateKey,
  SMIME_ERROR_CODES,
  SMIME_WARNING_CODES,
  SmimeError,
  type SmimeErrorCode,
  signSmime,
  TrustStore,
  verifySmime,
} from '../src/index.js';
import { file, read } from './helpers.js';

describe('SmimeError', () => {
  it('is a HepixError with a code from SMIME_ERROR_CODES and only the fields that are set', () => {
    const e = new SmimeError('ERR_SMIME_REVOKED', 'revoked', { subject: '/CN=x', cause: new Error('inner') });
    expect(e).toBeInstanceOf(HepixError);
    expect(isHepixError(e)).toBe(true);
    expect([e.name, e.code, e.message, e.subject]).toEqual([
      'SmimeError',
      'ERR_SMIME_REVOKED',
      'revoked',
      '/CN=x',
    ]);
    expect((e.cause as Error).message).toBe('inner');
    expect(Object.keys(e).sort()).toEqual(['code', 'name', 'subject']);
    expect('issuer' in e).toBe(false);
  });

  it('lists every code once, the new refusals and INTERNAL included', () => {
    expect(new Set(SMIME_ERROR_CODES).size).toBe(SMIME_ERROR_CODES.length);
    const expected: SmimeErrorCode[] = [
      'ERR_SMIME_UNRESTRICTED_CA',
      'ERR_SMIME_SELF_SIGNED_SIGNER',
      'ERR_SMIME_INTERNAL',
    ];
    expect(SMIME_ERROR_CODES).toEqual(expect.arrayContaining(expected));
    expect(SMIME_WARNING_CODES).toEqual([
      'WARN_SMIME_SHA1',
      'WARN_SMIME_UNRESTRICTED_CA',
      'WARN_SMIME_SELF_SIGNED_SIGNER',
    ]);
  });

  it('an exception nobody expected is ERR_SMIME_INTERNAL with its cause, not ERR_SMIME_MALFORMED', async () => {
    const trust = await TrustStore.fromDirectory(file('trust'));
    const signer = {
      certificate: read('leaf/endorser.pem'),
      privateKey: await loadPrivateKey(read('leaf/endorser.key')),
    };
    const msg = await signSmime('{}\n', signer);
    const broken = new Error('the clock is broken');
    const now = () => {
      throw broken;
    };
    await expect(verifySmime(msg, { trust, now })).rejects.toMatchObject({
      name: 'SmimeError',
      code: 'ERR_SMIME_INTERNAL',
      cause: broken,
    });
    await expect(signSmime('{}\n', { ...signer, now })).rejects.toMatchObject({
      code: 'ERR_SMIME_INTERNAL',
      cause: broken,
    });
    // A message that is merely bad keeps its own code.
    await expect(verifySmime('not a message', { trust })).rejects.toMatchObject({
      code: 'ERR_SMIME_MALFORMED',
    });
  });
});
