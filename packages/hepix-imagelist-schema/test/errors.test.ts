// The error model: every error is an ImageListError (a HepixError) whose `code` is one of IMAGELIST_ERROR_CODES,
// the subclasses carry the typed context of their code, and an unexpected exception is ERR_IMAGELIST_INTERNAL.
import { HepixError } from '@hepix/common';
import { describe, expect, it } from 'vitest';
import {
  bumpVersion,
  IMAGELIST_ERROR_CODES,
  ImageListDateError,
  ImageListError,
  type ImageListErrorCode,
  ImageListSerializeError,
  ImageListValidationError,
  ImageListVersionError,
  parseImageListDate,
  serializeImageList,
  validateImageList,
} from '../src/index.js';
import { example } from './helpers.js';

function thrown(fn: () => unknown): ImageListError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ImageListError);
    expect(err).toBeInstanceOf(HepixError);
    return err as ImageListError;
  }
  throw new Error('nothing was thrown');
}

describe('ImageListError', () => {
  it('one base class, one code list; each subclass narrows the code', () => {
    // What a CLI writes: a new code makes this fail to compile until it is mapped.
    const EXIT = {
      ERR_IMAGELIST_INVALID: 38,
      ERR_IMAGELIST_DATE: 38,
      ERR_IMAGELIST_VERSION: 1,
      ERR_IMAGELIST_SERIALIZE: 1,
      ERR_IMAGELIST_INTERNAL: 70,
    } satisfies Record<ImageListErrorCode, number>;
    expect(Object.keys(EXIT).sort()).toEqual([...IMAGELIST_ERROR_CODES].sort());
    const cases: [ImageListError, string, ImageListErrorCode][] = [
      [thrown(() => validateImageList('{')), 'ImageListValidationError', 'ERR_IMAGELIST_INVALID'],
      [
        thrown(() => parseImageListDate('2024-02-30T00:00:00Z', 'dc:date:expires')),
        'ImageListDateError',
        'ERR_IMAGELIST_DATE',
      ],
      [thrown(() => bumpVersion(7 as never)), 'ImageListVersionError', 'ERR_IMAGELIST_VERSION'],
      [
        thrown(() => serializeImageList({ a: Number.NaN })),
        'ImageListSerializeError',
        'ERR_IMAGELIST_SERIALIZE',
      ],
    ];
    for (const [err, name, code] of cases) {
      expect([err.name, err.code]).toEqual([name, code]);
      expect(EXIT[err.code]).toBeGreaterThan(0);
    }
    const [invalid, date, version, serialize] = cases.map(([e]) => e);
    expect(invalid).toBeInstanceOf(ImageListValidationError);
    expect((invalid as ImageListValidationError).reason).toBe('syntax');
    expect(date).toBeInstanceOf(ImageListDateError);
    expect((date as ImageListDateError).field).toBe('dc:date:expires');
    expect(version).toBeInstanceOf(ImageListVersionError);
    expect(serialize).toBeInstanceOf(ImageListSerializeError);
    expect((serialize as ImageListSerializeError).path).toBe('/a');
  });

  it('an exception nobody expected is ERR_IMAGELIST_INTERNAL with its cause; the input is left as it was', () => {
    const boom = new Error('getter exploded');
    const list = example();
    const image = list['hv:imagelist']['hv:images'][0]!['hv:image'];
    Object.defineProperty(image, 'hv:uri', {
      enumerable: true,
      get() {
        throw boom;
      },
    });
    const before = Object.keys(image);
    for (const fn of [() => validateImageList(list), () => serializeImageList(list)]) {
      const err = thrown(fn);
      expect(err.code).toBe('ERR_IMAGELIST_INTERNAL');
      expect(err.name).toBe('ImageListError');
      expect(err.cause).toBe(boom);
      expect(err.message).toContain('getter exploded');
    }
    expect(Object.keys(image)).toEqual(before);
    expect(list['hv:imagelist']['hv:images']).toHaveLength(1);
  });

  it('a mode that does not exist is the caller’s bug: a TypeError, not a list error', () => {
    expect(() => validateImageList(example(), { mode: 'lenient' as never })).toThrow(TypeError);
  });
});
