// Hostile input: each case must end in a clear ERR_IMAGELIST_INVALID or a bounded result, never a crash or hang.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_BYTES,
  MAX_DROPPED_DETAILS,
  MAX_ENDORSERS,
  type ImageListValidationError,
  validateImageList,
  validateImageListDetailed,
} from '../src/index.js';
import { example, exampleText, invalid, makeImage } from './helpers.js';

const MB = 1024 * 1024;

/** A valid list of about `bytes` bytes of JSON text, built as text so the test itself stays light. */
function bigListText(bytes: number): string {
  const head = exampleText.slice(0, exampleText.indexOf('"hv:images": [') + '"hv:images": ['.length);
  const tail = exampleText.slice(exampleText.lastIndexOf(']'));
  const parts: string[] = [head];
  let size = head.length + tail.length;
  for (let i = 0; size < bytes; i++) {
    const entry = `${i ? ',' : ''}{"hv:image":${JSON.stringify(makeImage(i))}}`;
    parts.push(entry);
    size += entry.length;
  }
  parts.push(tail);
  return parts.join('');
}

const shortMessages = (issues: { message: string }[]) => issues.every((i) => i.message.length < 400);

describe('50 MB of JSON', () => {
  const text = bigListText(50 * MB);

  it('is refused by default with a clear limit error, before parsing, for text and bytes', () => {
    expect(text.length).toBeGreaterThan(DEFAULT_MAX_BYTES);
    for (const input of [text, Buffer.from(text)]) {
      const err = invalid(() => validateImageList(input));
      expect(err.reason).toBe('limits');
      expect(err.issues[0]!.message).toMatch(/is larger than the limit of 33554432 bytes/);
    }
  });

  it('multi-byte text is measured in UTF-8 bytes, not UTF-16 units', () => {
    const doc = example();
    doc['hv:imagelist']['dc:description'] = 'é'.repeat(600_000); // 600 000 units, 1.2 MB of UTF-8
    const err = invalid(() => validateImageList(JSON.stringify(doc), { maxBytes: MB }));
    expect(err.reason).toBe('limits');
    expect(
      validateImageList(JSON.stringify(doc), { maxBytes: 2 * MB })['hv:imagelist']['dc:description'],
    ).toHaveLength(600_000);
  });

  it('validates with a raised maxBytes: every image kept, nothing dropped', { timeout: 60_000 }, () => {
    const { list, warnings } = validateImageListDetailed(text, { maxBytes: 64 * MB });
    expect(warnings).toEqual([]);
    expect(list['hv:imagelist']['hv:images'].length).toBeGreaterThan(40_000);
  });

  it('50 MB that is not a list gives one clear issue', { timeout: 60_000 }, () => {
    const numbers = `[${'1,'.repeat(25 * MB)}1]`;
    const err = invalid(() => validateImageList(numbers, { maxBytes: 64 * MB }));
    expect(err.issues).toEqual([{ path: '', message: 'an image list must be a JSON object' }]);
    const broken = `${text.slice(0, 30 * MB)}`;
    const syntax = invalid(() => validateImageList(broken, { maxBytes: 64 * MB }));
    expect(syntax.reason).toBe('syntax');
    expect(shortMessages(syntax.issues)).toBe(true);
  });
});

describe('10,000-deep nesting', () => {
  const nested = (n: number, inner = '1') => '['.repeat(n) + inner + ']'.repeat(n);

  it('JSON text nested 10,000 and 1,000,000 deep is refused as a limit', () => {
    for (const n of [10_000, 1_000_000]) {
      for (const text of [`{"a": ${nested(n)}}`, `{"hv:imagelist": ${nested(n)}}`]) {
        const err = invalid(() => validateImageList(text, { maxBytes: 4 * MB }));
        expect(err.reason).toBe('limits');
        expect(err.issues[0]!.message).toMatch(/nesting deeper than 64/);
      }
      // a bare deep array is not an object: refused at once, without walking it
      expect(invalid(() => validateImageList(nested(n), { maxBytes: 4 * MB })).issues).toEqual([
        { path: '', message: 'an image list must be a JSON object' },
      ]);
    }
  });

  it('deep nesting hidden in an unknown key of a valid list is refused too', () => {
    const text = exampleText.replace(
      '"ad:vo": "vo.example.org"',
      `"ad:vo": "vo.example.org", "x": ${nested(10_000)}`,
    );
    const err = invalid(() => validateImageList(text));
    expect(err.reason).toBe('limits');
    // with the limit raised the list is accepted and the value kept, without a stack overflow anywhere
    const list = validateImageList(text, { maxDepth: 20_000 });
    expect(Array.isArray(list['hv:imagelist'].x)).toBe(true);
  });

  it('a deep or cyclic object built in memory is refused without recursion', () => {
    let deep: unknown = {};
    for (let i = 0; i < 10_000; i++) deep = { 'hv:imagelist': deep };
    expect(invalid(() => validateImageList(deep)).reason).toBe('limits');
    const cyclic = example();
    cyclic['hv:imagelist']['ad:self'] = cyclic;
    expect(invalid(() => validateImageList(cyclic)).reason).toBe('limits');
  });

  it('an object whose shared subtrees would make an exponential walk is bounded', () => {
    let dag: unknown = 'leaf';
    for (let i = 0; i < 40; i++) dag = { a: dag, b: dag };
    const doc = example();
    doc['hv:imagelist']['x:dag'] = dag;
    const err = invalid(() => validateImageList(doc));
    expect(err.reason).toBe('limits');
  });
});

describe('millions of bad elements', () => {
  const listWith = (key: string, value: string) =>
    exampleText.replace(/"hv:images": \[[\s\S]*\]\s*,\s*"hv:uri"/, `"${key}": ${value}, "hv:uri"`);

  it('500,000 bad images: compatible keeps the list with a bounded number of warnings', {
    timeout: 60_000,
  }, () => {
    const text = listWith('hv:images', `[${'0,'.repeat(500_000)}{}]`);
    const { list, warnings } = validateImageListDetailed(text);
    expect(list['hv:imagelist']['hv:images']).toEqual([]);
    expect(warnings).toHaveLength(MAX_DROPPED_DETAILS + 1);
    expect(warnings.at(-1)).toEqual({
      path: '/hv:imagelist/hv:images',
      message: `${500_001 - MAX_DROPPED_DETAILS} more images dropped; details not shown`,
    });
  });

  it('500,000 bad images: strict reports 100 issues and the total', { timeout: 60_000 }, () => {
    const text = listWith('hv:images', `[${'0,'.repeat(500_000)}0]`);
    const err = invalid(() => validateImageList(text, { mode: 'strict' }));
    expect(err.issues).toHaveLength(101);
    expect(err.issues[100]!.message).toBe(`${500_001 - 100} more issues not shown`);
  });

  it('a huge array of endorsers is refused before it is validated element by element', () => {
    const doc = example();
    doc['hv:imagelist']['hv:endorser'] = new Array(5_000_000).fill(0);
    const err = invalid(() => validateImageList(doc));
    expect(err.issues).toEqual([
      { path: '/hv:imagelist/hv:endorser', message: `more than ${MAX_ENDORSERS} endorsers (5000000)` },
    ]);
    doc['hv:imagelist']['hv:endorser'] = new Array(MAX_ENDORSERS).fill(
      example()['hv:imagelist']['hv:endorser'],
    );
    expect(validateImageListDetailed(doc).warnings).toHaveLength(1);
  });
});

describe('invalid UTF-8', () => {
  const cases: [string, number[], number][] = [
    ['a 0xff byte', [0xff], 0],
    ['an overlong "/"', [0xc0, 0xaf], 0],
    ['an encoded UTF-16 surrogate', [0xed, 0xa0, 0x80], 0],
    ['a truncated sequence at the end', [0xe2, 0x82], 0],
    ['a continuation byte alone', [0x80], 0],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
  ];
  for (const [name, bad, at] of cases) {
    it(`${name} is refused naming the byte offset`, () => {
      const prefix = Buffer.from(exampleText.slice(0, 100));
      const bytes = Buffer.concat([prefix, Buffer.from(bad), Buffer.from(exampleText.slice(100))]);
      const err: ImageListValidationError = invalid(() => validateImageList(bytes));
      expect(err.reason).toBe('encoding');
      expect(err.issues[0]!.message).toBe(`not valid UTF-8 (first bad byte at offset ${100 + at})`);
      expect(err.cause).toBeInstanceOf(TypeError);
    });
  }

  it('valid multi-byte UTF-8 and a BOM are accepted, as Uint8Array and ArrayBuffer', () => {
    const doc = example();
    doc['hv:imagelist']['dc:title'] = 'Jürgen’s images 😀';
    const bytes = new TextEncoder().encode(`\ufeff${JSON.stringify(doc)}`);
    expect(validateImageList(bytes)['hv:imagelist']['dc:title']).toBe('Jürgen’s images 😀');
    expect(validateImageList(bytes.buffer)['hv:imagelist']['dc:title']).toBe('Jürgen’s images 😀');
  });
});

describe('a 10 MB string value', () => {
  const huge = 'A'.repeat(10 * MB);

  it('in a free-text field is accepted and kept as it is', () => {
    const doc = example();
    doc['hv:imagelist']['dc:description'] = huge;
    for (const mode of ['strict', 'compatible'] as const) {
      const list = validateImageList(JSON.stringify(doc), { mode });
      expect(list['hv:imagelist']['dc:description']).toBe(huge);
    }
  });

  it('in a checked field gives short messages that do not repeat the value', () => {
    for (const key of ['sl:checksum:sha512', 'hv:size', 'dc:date:expires']) {
      const doc = example();
      doc['hv:imagelist']['hv:images'][0]['hv:image'][key] = huge;
      const { list, warnings } = validateImageListDetailed(doc);
      expect(list['hv:imagelist']['hv:images']).toEqual(key === 'dc:date:expires' ? [expect.anything()] : []);
      expect(shortMessages(warnings)).toBe(true);
      const strict = invalid(() => validateImageList(doc, { mode: 'strict' }));
      expect(shortMessages(strict.issues)).toBe(true);
      expect(strict.message.length).toBeLessThan(400);
    }
    const doc = example();
    doc['hv:imagelist']['dc:date:created'] = huge;
    const err = invalid(() => validateImageList(doc));
    expect(err.message.length).toBeLessThan(400);
  });

  it('as a key is handled', () => {
    const doc = example();
    doc['hv:imagelist'][huge] = 1;
    expect(validateImageList(doc)['hv:imagelist'][huge]).toBe(1);
  });
});

describe('JSON syntax', () => {
  for (const text of ['', '{', '{"hv:imagelist": }', "{'a': 1}", '{"a": 1} trailing', 'NaN']) {
    it(`${JSON.stringify(text)} is refused as a syntax error`, () => {
      const err = invalid(() => validateImageList(text));
      expect(err.reason).toBe('syntax');
      expect(err.issues[0]!.message).toMatch(/^not valid JSON/);
      expect(err.cause).toBeInstanceOf(SyntaxError);
    });
  }
});

describe('invalid UTF-8 offsets agree with the WHATWG decoder', () => {
  it('the offset is where a replacing decoder puts its first U+FFFD', () => {
    const lenient = new TextDecoder('utf-8');
    let checked = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      // deterministic bytes biased towards lead and continuation bytes
      let x = seed;
      const bytes = new Uint8Array(1 + (seed % 12)).map(() => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const r = x >>> 16;
        return r % 3 === 0 ? 0x80 + (r % 0x40) : r % 3 === 1 ? 0xc0 + (r % 0x40) : r % 0x80;
      });
      const decoded = lenient.decode(bytes);
      const first = decoded.indexOf('\ufffd');
      // skip valid input and input holding a genuine U+FFFD (EF BF BD)
      if (first < 0 || Buffer.from(bytes).includes(Buffer.from([0xef, 0xbf, 0xbd]))) continue;
      checked++;
      const err = invalid(() => validateImageList(bytes));
      expect(err.reason).toBe('encoding');
      expect(err.issues[0]!.message).toBe(
        `not valid UTF-8 (first bad byte at offset ${Buffer.byteLength(decoded.slice(0, first))})`,
      );
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
