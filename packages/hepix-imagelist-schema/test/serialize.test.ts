import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageListSerializeError, serializeImageList, validateImageList } from '../src/index.js';
import { serializeByWriter } from '../src/serialize.js';
import { example, exampleText, makeList } from './helpers.js';

function serializeError(value: unknown): ImageListSerializeError {
  try {
    serializeImageList(value);
  } catch (err) {
    expect(err).toBeInstanceOf(ImageListSerializeError);
    expect((err as ImageListSerializeError).code).toBe('ERR_IMAGELIST_SERIALIZE');
    return err as ImageListSerializeError;
  }
  throw new Error('expected ImageListSerializeError');
}

/** Rebuilds an object with its keys in reverse order at every level. */
function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reverseKeys(x)]),
    );
  }
  return v;
}

describe('serializeImageList', () => {
  it('writes sorted keys, 4-space indent, ": " separators and a final newline', () => {
    const text = serializeImageList(validateImageList(exampleText));
    const lines = text.split('\n');
    expect(text.endsWith('}\n')).toBe(true);
    expect(lines[0]).toBe('{');
    expect(lines[1]).toBe('    "hv:imagelist": {');
    expect(lines[2]).toBe('        "ad:vo": "vo.example.org",');
    expect(lines[3]).toBe('        "dc:date:created": "2024-01-01T00:00:00Z",');
    expect(text).toContain('\n                    "hv:size": 2147483648,\n');
    expect(lines.every((l) => !/\s$/.test(l))).toBe(true);
    expect(lines.every((l) => /^( {4})*\S/.test(l) || l === '')).toBe(true);
    // keys of every object appear in sorted order
    const image = Object.keys(JSON.parse(text)['hv:imagelist']['hv:images'][0]['hv:image']);
    expect(image).toEqual([...image].sort());
  });

  it('is byte-stable: same data in any key order gives the same bytes, and a round trip changes nothing', () => {
    const a = serializeImageList(example());
    const b = serializeImageList(reverseKeys(example()));
    expect(b).toBe(a);
    expect(serializeImageList(JSON.parse(a))).toBe(a);
    expect(serializeImageList(validateImageList(a, { mode: 'strict' }))).toBe(a);
    expect(serializeByWriter(example())).toBe(a);
    const big = makeList(200);
    const text = serializeImageList(big);
    expect(serializeImageList(JSON.parse(text))).toBe(text);
    expect(JSON.parse(text)).toEqual(big);
  });

  it('keeps JSON types: a string size stays a string', () => {
    const doc = example();
    doc['hv:imagelist']['hv:images'][0]['hv:image']['hv:size'] = '121243136';
    expect(serializeImageList(validateImageList(doc))).toContain('"hv:size": "121243136"');
  });

  it('escapes everything outside printable ASCII as lowercase \\uXXXX', () => {
    const text = serializeImageList({ name: 'Jürgen 😀', c: '\u0000\u007f\n\t"\\', lone: '\ud800x' });
    expect(text).toBe(
      '{\n' +
        '    "c": "\\u0000\\u007f\\n\\t\\"\\\\",\n' +
        '    "lone": "\\ud800x",\n' +
        '    "name": "J\\u00fcrgen \\ud83d\\ude00"\n' +
        '}\n',
    );
    expect(/^[\x20-\x7e\n]*$/.test(text)).toBe(true);
    expect(JSON.parse(text).name).toBe('Jürgen 😀');
  });

  it('sorts keys by code point like Python sort_keys (astral after U+FFFF)', () => {
    const text = serializeImageList({ '\uffff': 1, '😀': 2, b: 3, B: 4, a: 5, '': 6 });
    expect(Object.keys(JSON.parse(text))).toEqual(['', 'B', 'a', 'b', '\uffff', '😀']);
  });

  it('writes empty containers, nulls, booleans and numbers like JSON.stringify', () => {
    expect(serializeImageList({ a: [], b: {}, c: null, d: true, e: false, f: 1.5, g: -0, h: 1e21 })).toBe(
      '{\n    "a": [],\n    "b": {},\n    "c": null,\n    "d": true,\n    "e": false,\n    "f": 1.5,\n' +
        '    "g": 0,\n    "h": 1e+21\n}\n',
    );
    expect(serializeImageList([1, [2]])).toBe('[\n    1,\n    [\n        2\n    ]\n]\n');
    expect(serializeImageList('x')).toBe('"x"\n');
  });

  it('leaves out object keys whose value is undefined', () => {
    expect(serializeImageList({ a: 1, b: undefined })).toBe('{\n    "a": 1\n}\n');
  });

  it('rejects what is not JSON, naming the path', () => {
    const cyclic: Record<string, unknown> = { a: { b: [] } };
    ((cyclic.a as Record<string, unknown>).b as unknown[]).push(cyclic);
    expect(serializeError(cyclic).path).toBe('/a/b/0');
    expect(serializeError({ 'x/y': [Number.NaN] }).path).toBe('/x~1y/0');
    expect(serializeError({ a: [undefined] }).path).toBe('/a/0');
    expect(serializeError({ a: 1n }).path).toBe('/a');
    expect(serializeError({ a: new Date(0) }).message).toMatch(/Date is not a plain JSON object/);
    expect(serializeError({ a: new Map() }).path).toBe('/a');
    expect(serializeError({ f: () => 1 }).path).toBe('/f');
    expect(serializeError(Number.POSITIVE_INFINITY).path).toBe('');
  });

  it('refuses nesting deeper than 256 levels without overflowing the stack', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(serializeError(deep).message).toMatch(/deeper than 256/);
    let ok: unknown = 'x';
    for (let i = 0; i < 256; i++) ok = { k: ok };
    expect(JSON.parse(serializeImageList(ok))).toEqual(ok);
  });

  it('agrees with JSON.parse(JSON.stringify()) and is idempotent for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const text = serializeImageList(v);
        expect(/^[\x20-\x7e\n]*$/.test(text)).toBe(true);
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(v)));
        expect(serializeImageList(JSON.parse(text))).toBe(text);
        // the general path (used when the fast one would be slow) writes the same bytes
        expect(serializeByWriter(v)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('serializeImageList key order edge cases', () => {
  it('integer-like keys sort as strings, like every other key', () => {
    const text = serializeImageList({ '10': 1, '9': 2, '1': 3, b: { '2': 0, '10': 0 } });
    expect(text).toBe(
      '{\n    "1": 3,\n    "10": 1,\n    "9": 2,\n    "b": {\n        "10": 0,\n        "2": 0\n    }\n}\n',
    );
    expect(serializeByWriter({ '10': 1, '9': 2, '1': 3, b: { '2': 0, '10': 0 } })).toBe(text);
  });

  it('a key named __proto__ (as JSON.parse creates it) is written like any other', () => {
    const v = JSON.parse('{"__proto__": {"x": 1}, "a": 2}');
    expect(serializeImageList(v)).toBe('{\n    "__proto__": {\n        "x": 1\n    },\n    "a": 2\n}\n');
    expect(serializeByWriter(v)).toBe(serializeImageList(v));
  });

  it('fast-check: random objects with unicode and integer-like keys, both paths agree', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.nat({ max: 20 }).map(String),
      fc.constantFrom('😀', '\uffff', 'é'),
    );
    const json = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(key, tie('node'), { maxKeys: 5 }),
      ),
    })).node;
    fc.assert(
      fc.property(json, (v) => {
        const text = serializeImageList(v);
        expect(serializeByWriter(v)).toBe(text);
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 1000 },
    );
  });
});
