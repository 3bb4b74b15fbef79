import { describe, expect, it } from 'vitest';
import {
  ImageListError,
  type ImageList,
  imageSize,
  listEndorsers,
  REQUIRED_ENDORSER_KEYS,
  REQUIRED_IMAGE_KEYS,
  REQUIRED_IMAGELIST_KEYS,
  validateImageList,
  validateImageListDetailed,
} from '../src/index.js';
import { example, exampleText, invalid, makeList, paths } from './helpers.js';

const L = '/hv:imagelist';
const I0 = `${L}/hv:images/0/hv:image`;

describe('the §1.6 example', () => {
  for (const mode of ['strict', 'compatible'] as const) {
    it(`validates in ${mode} mode from text, bytes and object, without warnings`, () => {
      for (const input of [
        exampleText,
        Buffer.from(exampleText),
        new TextEncoder().encode(exampleText),
        example(),
      ]) {
        const { list, warnings } = validateImageListDetailed(input, { mode });
        expect(warnings).toEqual([]);
        expect(list).toEqual(example());
      }
    });
  }

  it('is the default (compatible) result typed as ImageList, values untouched', () => {
    const list: ImageList = validateImageList(exampleText);
    const image = list['hv:imagelist']['hv:images'][0]!['hv:image'];
    expect(image['hv:size']).toBe(2147483648);
    expect(image['ad:mpuri']).toMatch(/:12\/$/);
    expect(list['hv:imagelist']['ad:vo']).toBe('vo.example.org');
    expect(imageSize(image)).toBe(2147483648);
  });

  it('returns the same object when nothing is dropped and never modifies the input', () => {
    const input = example();
    const frozen = JSON.stringify(input);
    expect(validateImageList(input)).toBe(input);
    expect(JSON.stringify(input)).toBe(frozen);
  });
});

describe('required keys', () => {
  for (const key of REQUIRED_IMAGELIST_KEYS) {
    it(`list without ${key} fails in both modes at ${L}/${key}`, () => {
      const doc = example();
      delete doc['hv:imagelist'][key];
      for (const mode of ['strict', 'compatible'] as const) {
        const err = invalid(() => validateImageList(doc, { mode }));
        expect(paths(err.issues)).toEqual([`${L}/${key}`]);
        expect(err.issues[0]!.message).toContain(`missing required key "${key}"`);
        expect(err.message).toContain(`${L}/${key}`);
      }
    });
  }

  for (const key of REQUIRED_ENDORSER_KEYS) {
    it(`endorser without ${key} fails in both modes`, () => {
      const doc = example();
      delete doc['hv:imagelist']['hv:endorser']['hv:x509'][key];
      for (const mode of ['strict', 'compatible'] as const) {
        const err = invalid(() => validateImageList(doc, { mode }));
        expect(paths(err.issues)).toEqual([`${L}/hv:endorser/hv:x509/${key}`]);
      }
    });
  }

  it('endorser without hv:x509 fails', () => {
    const doc = example();
    doc['hv:imagelist']['hv:endorser'] = { 'hv:pgp': {} };
    expect(paths(invalid(() => validateImageList(doc)).issues)).toEqual([`${L}/hv:endorser/hv:x509`]);
  });

  for (const key of REQUIRED_IMAGE_KEYS) {
    it(`image without ${key}: strict fails at ${I0}/${key}, compatible drops it with that warning`, () => {
      const doc = example();
      delete doc['hv:imagelist']['hv:images'][0]['hv:image'][key];
      const err = invalid(() => validateImageList(doc, { mode: 'strict' }));
      expect(paths(err.issues)).toEqual([`${I0}/${key}`]);

      const { list, warnings } = validateImageListDetailed(doc);
      expect(list['hv:imagelist']['hv:images']).toEqual([]);
      expect(warnings).toEqual([
        { path: `${I0}/${key}`, message: `missing required key "${key}"; image dropped` },
      ]);
      // the input still has its image
      expect(doc['hv:imagelist']['hv:images']).toHaveLength(1);
    });
  }

  it('drops only the bad images and keeps the order of the others', () => {
    const doc = makeList(5);
    const images = doc['hv:imagelist']['hv:images'];
    delete images[1]['hv:image']['sl:os'];
    images[3] = { image: images[3]['hv:image'] };
    images.push('not an image');
    const { list, warnings } = validateImageListDetailed(doc);
    expect(list['hv:imagelist']['hv:images'].map((e) => e['hv:image']['dc:title'])).toEqual([
      'Image 0',
      'Image 2',
      'Image 4',
    ]);
    expect(paths(warnings)).toEqual([
      `${L}/hv:images/1/hv:image/sl:os`,
      `${L}/hv:images/3/hv:image`,
      `${L}/hv:images/5`,
    ]);
    expect(warnings.every((w) => w.message.endsWith('image dropped'))).toBe(true);
  });

  it('an empty hv:images array is legal (decommissioned list)', () => {
    const doc = makeList(0);
    expect(validateImageListDetailed(doc, { mode: 'strict' }).warnings).toEqual([]);
  });

  it('strict mode rejects empty required values, compatible accepts them (AppDB sends "sl:comments": "")', () => {
    const doc = example();
    doc['hv:imagelist']['hv:images'][0]['hv:image']['sl:comments'] = '';
    doc['hv:imagelist']['dc:description'] = '';
    const err = invalid(() => validateImageList(doc, { mode: 'strict' }));
    expect(err.issues).toEqual([
      { path: `${L}/dc:description`, message: 'must not be empty' },
      { path: `${I0}/sl:comments`, message: 'must not be empty' },
    ]);
    expect(validateImageListDetailed(doc).warnings).toEqual([]);
  });

  it('reports every issue at once', () => {
    const doc = example();
    delete doc['hv:imagelist']['dc:title'];
    delete doc['hv:imagelist']['hv:uri'];
    doc['hv:imagelist']['hv:version'] = 3;
    const err = invalid(() => validateImageList(doc, { mode: 'strict' }));
    expect(paths(err.issues).sort()).toEqual([`${L}/dc:title`, `${L}/hv:uri`, `${L}/hv:version`]);
    expect(err.message).toMatch(/and 2 more issues/);
  });
});

describe('integers: hv:size, hv:ram_minimum, hv:core_minimum', () => {
  it('numeric strings are accepted in compatible mode and kept as strings', () => {
    const doc = example();
    const image = doc['hv:imagelist']['hv:images'][0]['hv:image'];
    image['hv:size'] = '121243136';
    image['hv:ram_minimum'] = '512';
    image['hv:core_minimum'] = '1';
    const { list, warnings } = validateImageListDetailed(doc);
    expect(warnings).toEqual([]);
    const out = list['hv:imagelist']['hv:images'][0]!['hv:image'];
    expect(out['hv:size']).toBe('121243136');
    expect(out['hv:ram_minimum']).toBe('512');
    expect(imageSize(out)).toBe(121243136);
  });

  it('numeric strings are rejected in strict mode', () => {
    const doc = example();
    const image = doc['hv:imagelist']['hv:images'][0]['hv:image'];
    image['hv:size'] = '121243136';
    image['hv:ram_minimum'] = '512';
    const err = invalid(() => validateImageList(doc, { mode: 'strict' }));
    expect(paths(err.issues)).toEqual([`${I0}/hv:size`, `${I0}/hv:ram_minimum`]);
    expect(err.issues[0]!.message).toMatch(/integer/);
  });

  for (const bad of ['12.5', '-1', ' 12', '0x10', '', '1e9', 12.5, -1, true, null, [1], 2 ** 53]) {
    it(`hv:size ${JSON.stringify(bad)} is rejected in strict and dropped in compatible`, () => {
      const doc = example();
      doc['hv:imagelist']['hv:images'][0]['hv:image']['hv:size'] = bad;
      expect(paths(invalid(() => validateImageList(doc, { mode: 'strict' })).issues)).toEqual([
        `${I0}/hv:size`,
      ]);
      const { list, warnings } = validateImageListDetailed(doc);
      expect(list['hv:imagelist']['hv:images']).toEqual([]);
      expect(paths(warnings)).toEqual([`${I0}/hv:size`]);
    });
  }

  it('imageSize() throws ERR_IMAGELIST_INVALID for a value that is not a size', () => {
    for (const bad of ['abc', -5, 1.5, '99999999999999999', undefined]) {
      const err = invalid(() => imageSize({ 'hv:size': bad } as never));
      expect(err.issues[0]!.path).toBe('/hv:size');
      expect(err).toBeInstanceOf(ImageListError);
    }
  });
});

describe('legacy unwrapped format', () => {
  it('is accepted in compatible mode with a warning and returned wrapped', () => {
    const body = example()['hv:imagelist'];
    const { list, warnings } = validateImageListDetailed(JSON.stringify(body));
    expect(list).toEqual({ 'hv:imagelist': body });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.path).toBe('');
    expect(warnings[0]!.message).toMatch(/legacy unwrapped/);
  });

  it('reports pointers relative to the unwrapped document', () => {
    const body = example()['hv:imagelist'];
    delete body['hv:images'][0]['hv:image']['sl:arch'];
    const { list, warnings } = validateImageListDetailed(body);
    expect(list['hv:imagelist']['hv:images']).toEqual([]);
    expect(paths(warnings)).toEqual(['', '/hv:images/0/hv:image/sl:arch']);
    delete body['dc:title'];
    expect(paths(invalid(() => validateImageList(body)).issues)).toEqual(['/dc:title']);
  });

  it('an object that is neither wrapped nor has hv:images is reported as missing the wrapper', () => {
    for (const doc of [{}, { 'dc:title': 'x' }, { imagelist: example()['hv:imagelist'] }]) {
      expect(invalid(() => validateImageList(doc)).issues).toEqual([
        {
          path: L,
          message: expect.stringMatching(/^missing required key "hv:imagelist" \(nor is it a legacy/),
        },
      ]);
    }
  });

  it('is rejected in strict mode', () => {
    const body = example()['hv:imagelist'];
    const err = invalid(() => validateImageList(body, { mode: 'strict' }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.path).toBe('/hv:imagelist');
    expect(err.issues[0]!.message).toMatch(/compatible mode only/);
  });
});

describe('hv:endorser as a list (vmcaster with several endorsers)', () => {
  const twoEndorsers = () => {
    const doc = example();
    const one = doc['hv:imagelist']['hv:endorser'];
    const two = structuredClone(one);
    two['hv:x509']['hv:dn'] = '/C=DE/O=GermanGrid/OU=DESY/CN=Someone Else';
    doc['hv:imagelist']['hv:endorser'] = [one, two];
    return doc;
  };

  it('is rejected in strict mode with a clear message', () => {
    const err = invalid(() => validateImageList(twoEndorsers(), { mode: 'strict' }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.path).toBe(`${L}/hv:endorser`);
    expect(err.issues[0]!.message).toMatch(/single endorser object.*list of endorsers/);
  });

  it('is accepted in compatible mode with a warning; listEndorsers() gives both', () => {
    const { list, warnings } = validateImageListDetailed(twoEndorsers());
    expect(warnings).toEqual([
      { path: `${L}/hv:endorser`, message: expect.stringMatching(/list of 2 endorser/) },
    ]);
    expect(listEndorsers(list).map((e) => e['hv:x509']['hv:dn'])).toEqual([
      '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
      '/C=DE/O=GermanGrid/OU=DESY/CN=Someone Else',
    ]);
    expect(listEndorsers(example())).toHaveLength(1);
    expect(listEndorsers(example()['hv:imagelist'])).toHaveLength(1);
  });

  it('each endorser of the list is checked; an empty list is rejected', () => {
    const doc = twoEndorsers();
    delete doc['hv:imagelist']['hv:endorser'][1]['hv:x509']['hv:ca'];
    expect(paths(invalid(() => validateImageList(doc)).issues)).toEqual([`${L}/hv:endorser/1/hv:x509/hv:ca`]);
    doc['hv:imagelist']['hv:endorser'] = [];
    expect(invalid(() => validateImageList(doc)).issues[0]!.message).toMatch(/at least one endorser/);
  });
});

describe('dates', () => {
  const bad = [
    '2024-01-01T00:00:00.000Z',
    '2024-01-01T00:00:00.5Z',
    '2024-01-01T00:00:00+00:00',
    '2024-01-01T01:00:00+01:00',
    '2024-01-01',
    '2024-01-01T00:00:00',
    '2024-01-01 00:00:00Z',
    '2024-1-1T0:0:0Z',
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:00:60Z',
    '0000-01-01T00:00:00Z',
    '2024-01-01t00:00:00z',
    '',
  ];
  for (const value of bad) {
    it(`dc:date:expires ${JSON.stringify(value)} is rejected in strict and compatible mode`, () => {
      const doc = example();
      doc['hv:imagelist']['dc:date:expires'] = value;
      for (const mode of ['strict', 'compatible'] as const) {
        const err = invalid(() => validateImageList(doc, { mode }));
        expect(err.issues).toHaveLength(1);
        expect(err.issues[0]!.path).toBe(`${L}/dc:date:expires`);
      }
    });
  }

  it('a leap day is a valid date', () => {
    const doc = example();
    doc['hv:imagelist']['dc:date:expires'] = '2024-02-29T23:59:59Z';
    expect(validateImageListDetailed(doc, { mode: 'strict' }).warnings).toEqual([]);
  });

  it('per-image dc:date:expires (AppDB) is checked in strict mode and kept untouched in compatible mode', () => {
    const doc = example();
    doc['hv:imagelist']['hv:images'][0]['hv:image']['dc:date:expires'] = '2499-12-31T22:00:00.000Z';
    expect(paths(invalid(() => validateImageList(doc, { mode: 'strict' })).issues)).toEqual([
      `${I0}/dc:date:expires`,
    ]);
    const list = validateImageList(doc);
    expect(list['hv:imagelist']['hv:images'][0]!['hv:image']['dc:date:expires']).toBe(
      '2499-12-31T22:00:00.000Z',
    );
    doc['hv:imagelist']['hv:images'][0]['hv:image']['dc:date:expires'] = '2499-02-30T22:00:00Z';
    expect(paths(invalid(() => validateImageList(doc, { mode: 'strict' })).issues)).toEqual([
      `${I0}/dc:date:expires`,
    ]);
    for (const value of [null, 4102444800, { when: 'never' }]) {
      doc['hv:imagelist']['hv:images'][0]['hv:image']['dc:date:expires'] = value;
      const { list: kept, warnings } = validateImageListDetailed(doc);
      expect(warnings).toEqual([]);
      expect(kept['hv:imagelist']['hv:images'][0]!['hv:image']['dc:date:expires']).toEqual(value);
    }
  });

  it('warns when the list expires before it was created', () => {
    const doc = example();
    doc['hv:imagelist']['dc:date:expires'] = '2023-12-31T00:00:00Z';
    expect(validateImageListDetailed(doc, { mode: 'strict' }).warnings).toEqual([
      { path: `${L}/dc:date:expires`, message: 'expires before dc:date:created' },
    ]);
  });
});

describe('other rules', () => {
  it('sha512: strict wants 128 lowercase hex digits; compatible accepts uppercase with a warning', () => {
    const doc = example();
    const image = doc['hv:imagelist']['hv:images'][0]['hv:image'];
    image['sl:checksum:sha512'] = image['sl:checksum:sha512'].toUpperCase();
    expect(invalid(() => validateImageList(doc, { mode: 'strict' })).issues).toEqual([
      { path: `${I0}/sl:checksum:sha512`, message: 'must be a sha512 digest as 128 lowercase hex digits' },
    ]);
    expect(paths(validateImageListDetailed(doc).warnings)).toEqual([`${I0}/sl:checksum:sha512`]);
    image['sl:checksum:sha512'] = 'abc';
    expect(paths(validateImageListDetailed(doc).warnings)).toEqual([`${I0}/sl:checksum:sha512`]);
    expect(validateImageList(doc)['hv:imagelist']['hv:images']).toEqual([]);
  });

  it('hv:version must be a string (a number crashes the original vmcatcher)', () => {
    const doc = example();
    doc['hv:imagelist']['hv:version'] = 3;
    for (const mode of ['strict', 'compatible'] as const) {
      expect(invalid(() => validateImageList(doc, { mode })).issues).toEqual([
        { path: `${L}/hv:version`, message: 'must be of type string' },
      ]);
    }
  });

  it('unknown keys at every level are kept untouched, whatever their type', () => {
    const doc = example();
    doc['x-top'] = { a: 1 };
    doc['hv:imagelist']['ad:swid'] = 123;
    doc['hv:imagelist']['ad:publisher:name'] = { nested: ['x', 1, null] };
    doc['hv:imagelist']['hv:endorser']['hv:x509']['x:extra'] = true;
    doc['hv:imagelist']['hv:images'][0]['hv:image']['ad:user:guid'] = 42;
    doc['hv:imagelist']['hv:images'][0]['x:entry'] = 'kept';
    for (const mode of ['strict', 'compatible'] as const) {
      const { list, warnings } = validateImageListDetailed(JSON.stringify(doc), { mode });
      expect(warnings).toEqual([]);
      expect(list).toEqual(doc);
    }
  });

  it('AppDB extension keys ad:vo and ad:mpuri: any value in compatible mode, strings in strict mode', () => {
    const doc = example();
    doc['hv:imagelist']['ad:vo'] = null;
    doc['hv:imagelist']['hv:images'][0]['hv:image']['ad:mpuri'] = 12;
    const { list, warnings } = validateImageListDetailed(doc);
    expect(warnings).toEqual([]);
    expect(list['hv:imagelist']['ad:vo']).toBeNull();
    expect(paths(invalid(() => validateImageList(doc, { mode: 'strict' })).issues)).toEqual([
      `${L}/ad:vo`,
      `${I0}/ad:mpuri`,
    ]);
  });

  it('keys with "/" and "~" are escaped in JSON pointers', () => {
    const doc = example();
    const image = doc['hv:imagelist']['hv:images'][0]['hv:image'];
    delete doc['hv:imagelist']['hv:images'][0]['hv:image'];
    doc['hv:imagelist']['hv:images'][0]['a/b~c'] = image;
    const { warnings } = validateImageListDetailed(doc);
    expect(paths(warnings)).toEqual([`${L}/hv:images/0/hv:image`]);
    doc['hv:imagelist']['hv:images'][0]['hv:image'] = { ...image, 'hv:format': 7 };
    expect(paths(validateImageListDetailed(doc).warnings)).toEqual([`${I0}/hv:format`]);
  });

  it('warns about duplicate image identifiers', () => {
    const doc = makeList(3);
    doc['hv:imagelist']['hv:images'][2]['hv:image']['dc:identifier'] =
      doc['hv:imagelist']['hv:images'][0]['hv:image']['dc:identifier'];
    const { warnings } = validateImageListDetailed(doc, { mode: 'strict' });
    expect(warnings).toEqual([
      {
        path: `${L}/hv:images/2/hv:image/dc:identifier`,
        message: expect.stringMatching(/duplicate.*image 0/),
      },
    ]);
  });

  it('rejects documents that are not objects, and a non-object hv:imagelist', () => {
    for (const doc of ['[]', '"x"', '3', 'null', [], null, 42]) {
      const err = invalid(() => validateImageList(doc));
      expect(err.issues[0]!.path).toBe('');
    }
    expect(invalid(() => validateImageList({ 'hv:imagelist': [] })).issues[0]!.path).toBe(L);
  });

  it('rejects an unknown mode', () => {
    expect(() => validateImageList(example(), { mode: 'lenient' as never })).toThrow(TypeError);
  });

  it('caps the issues of one error at 100 and says how many were left out', () => {
    const doc = makeList(150);
    for (const e of doc['hv:imagelist']['hv:images']) delete e['hv:image']['sl:arch'];
    const err = invalid(() => validateImageList(doc, { mode: 'strict' }));
    expect(err.issues).toHaveLength(101);
    expect(err.issues[100]!.message).toBe('50 more issues not shown');
    expect(err.message).toMatch(/and 149 more issues/);
    // compatible mode keeps the list and reports every dropped image
    const { list, warnings } = validateImageListDetailed(doc);
    expect(list['hv:imagelist']['hv:images']).toEqual([]);
    expect(warnings).toHaveLength(150);
  });
});
