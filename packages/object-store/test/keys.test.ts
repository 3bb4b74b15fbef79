// The names of the store: s3:// URLs, keys, content addresses, metadata. Pure functions, tested by tables.
import { describe, expect, it } from 'vitest';
import { checkMetadata } from '../src/keys.js';
import { expiredKey, imageKey, ObjectStoreError, parseObjectUrl } from '../src/index.js';

const H = 'ab'.repeat(64);

describe('parseObjectUrl', () => {
  it.each([
    ['s3://images', { bucket: 'images', prefix: '' }],
    ['s3://images/', { bucket: 'images', prefix: '' }],
    ['s3://images/site-a/cache', { bucket: 'images', prefix: 'site-a/cache' }],
    ['s3://images/site-a/cache/', { bucket: 'images', prefix: 'site-a/cache' }],
    ['s3://my.bucket-1/p', { bucket: 'my.bucket-1', prefix: 'p' }],
  ])('%s', (url, parsed) => {
    expect(parseObjectUrl(url)).toEqual(parsed);
  });

  it.each([
    'http://images/x',
    's3:/images',
    's3://',
    's3://ab',
    's3://Images',
    's3://192.168.1.1/x',
    's3://a..b/x',
    's3://images/a//b',
    's3://images/../x',
    's3://images/x?y=1',
  ])('refuses %s with ERR_OBJECT_CONFIG or ERR_OBJECT_INVALID', (url) => {
    let err: unknown;
    try {
      parseObjectUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect(['ERR_OBJECT_CONFIG', 'ERR_OBJECT_INVALID']).toContain((err as ObjectStoreError).code);
  });
});

describe('imageKey', () => {
  it('fans out by the first two hex digits and keeps the whole hash', () => {
    expect(imageKey(H)).toBe(`sha512/ab/${H}`);
    expect(imageKey(H.toUpperCase())).toBe(`sha512/ab/${H}`);
    expect(expiredKey(imageKey(H))).toBe(`expired/sha512/ab/${H}`);
  });
  it.each(['', 'ab', 'g'.repeat(128), `${H}0`])('refuses %j', (h) => {
    expect(() => imageKey(h)).toThrow(expect.objectContaining({ code: 'ERR_OBJECT_INVALID' }));
  });
});

describe('checkMetadata', () => {
  it('accepts lower-case names with printable ASCII values', () => {
    expect(() => checkMetadata({ sha512: H, 'dc-identifier': 'img-1', list_version: '1.2' })).not.toThrow();
  });
  it.each([
    [{ Upper: 'x' }],
    [{ 'with space': 'x' }],
    [{ k: 'caf\u00e9' }],
    [{ k: 'line\nbreak' }],
    [{ k: 'x'.repeat(257) }],
    [Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(250)]))],
  ])('refuses %j', (m) => {
    expect(() => checkMetadata(m as Record<string, string>)).toThrow(
      expect.objectContaining({ code: 'ERR_OBJECT_INVALID' }),
    );
  });
});
