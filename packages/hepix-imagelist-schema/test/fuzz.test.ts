// Whatever the input, validation either returns a list or throws ImageListValidationError: never another error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageListValidationError, serializeImageList, validateImageListDetailed } from '../src/index.js';
import { example, makeList } from './helpers.js';

function outcome(input: unknown, mode: 'strict' | 'compatible') {
  try {
    return { ok: true as const, result: validateImageListDetailed(input, { mode }) };
  } catch (err) {
    if (!(err instanceof ImageListValidationError)) throw err;
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.issues.length).toBeLessThanOrEqual(101);
    for (const issue of err.issues) expect(issue.path === '' || issue.path.startsWith('/')).toBe(true);
    return { ok: false as const, err };
  }
}

/** Every [container, key] of a document, for mutating one place at random. */
function places(doc: unknown): [Record<string, unknown> | unknown[], string | number][] {
  const out: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        out.push([v, i]);
        walk(v[i]);
      }
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push([v as Record<string, unknown>, k]);
        walk(x);
      }
    }
  };
  walk(doc);
  return out;
}

describe('fuzzing', () => {
  it('one random change anywhere in a valid list', () => {
    fc.assert(
      fc.property(fc.nat(), fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }), (pick, value) => {
        const doc = makeList(3);
        const all = places(doc);
        const [container, key] = all[pick % all.length]!;
        if (value === undefined) {
          if (Array.isArray(container)) container.splice(key as number, 1);
          else delete container[key as string];
        } else (container as Record<string | number, unknown>)[key] = value;
        const before = JSON.stringify(doc);

        const strict = outcome(doc, 'strict');
        const compatible = outcome(doc, 'compatible');
        expect(JSON.stringify(doc)).toBe(before); // input never modified
        // anything strict accepts, compatible accepts too, with the same list
        if (strict.ok) {
          expect(compatible.ok).toBe(true);
          expect(compatible.ok && compatible.result.list).toEqual(strict.result.list);
        }
        if (compatible.ok) {
          // the result is strict-shaped apart from what compatible mode allows, and serializes
          const text = serializeImageList(compatible.result.list);
          expect(outcome(text, 'compatible').ok).toBe(true);
          // every image that is missing from the result was reported
          const kept = compatible.result.list['hv:imagelist']['hv:images'].length;
          const imagesIn = Array.isArray(doc['hv:imagelist']?.['hv:images'])
            ? doc['hv:imagelist']['hv:images']
            : [];
          if (kept < imagesIn.length) {
            expect(compatible.result.warnings.some((w) => w.message.endsWith('image dropped'))).toBe(true);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('arbitrary JSON values and texts', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        outcome(v, 'compatible');
        outcome(v, 'strict');
        outcome(JSON.stringify(v), 'compatible');
        outcome({ 'hv:imagelist': v }, 'compatible');
        outcome({ ...example()['hv:imagelist'], 'hv:images': v }, 'compatible');
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary bytes and strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 64 }), (bytes, text) => {
        outcome(bytes, 'compatible');
        outcome(text, 'compatible');
      }),
      { numRuns: 1000 },
    );
  });
});
