import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expiryTimestamp, imageFileName } from '../src/index.js';

describe('imageFileName', () => {
  it('keeps ordinary identifiers (UUIDs) as they are, as the originals did', () => {
    expect(imageFileName('858a817e-0ca2-473f-89d3-d5bdfc51968e')).toBe(
      '858a817e-0ca2-473f-89d3-d5bdfc51968e',
    );
    expect(imageFileName('image_1.2')).toBe('image_1.2');
  });

  it('encodes what could escape or collide', () => {
    expect(imageFileName('../../etc/passwd')).toBe('%2E%2E%2F%2E%2E%2Fetc%2Fpasswd');
    expect(imageFileName('..')).toBe('%2E%2E');
    expect(imageFileName('.')).toBe('%2E');
    expect(imageFileName('')).toBe('%');
    expect(imageFileName('cache.index')).toBe('cache%2Eindex');
    expect(imageFileName('.hidden')).toBe('%2Ehidden');
    expect(imageFileName('a b/ü')).toBe('a%20b%2F%C3%BC');
    // The cache's own names: the default sub-directories and anything starting with the index's name.
    expect(imageFileName('partial')).toBe('%70artial');
    expect(imageFileName('expired')).toBe('%65xpired');
    expect(imageFileName('cache.index.messages')).toBe('cache%2Eindex%2Emessages');
    expect(imageFileName('__proto__')).toBe('__proto__');
  });

  it('always gives one safe path component, distinct for distinct identifiers', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.string({ unit: 'binary', maxLength: 80 }),
        (a, b) => {
          for (const name of [imageFileName(a), imageFileName(b)]) {
            expect(name).toMatch(/^[A-Za-z0-9_%-][A-Za-z0-9._%-]*$/);
            expect(name.startsWith('cache.index')).toBe(false);
            expect(['partial', 'expired']).not.toContain(name);
            expect(name).not.toContain('+'); // kept for the second copy of an identifier (`<name>+1`)
            expect(name.length).toBeLessThanOrEqual(200);
          }
          if (a !== b) expect(imageFileName(a)).not.toBe(imageFileName(b));
        },
      ),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('replaces over-long names by a digest', () => {
    const name = imageFileName('x'.repeat(300));
    expect(name).toMatch(/^sha256-[0-9a-f]{64}$/);
  });
});

describe('expiryTimestamp', () => {
  it('is YYYY-mm-dd_HH-MM-SS in UTC', () => {
    expect(expiryTimestamp(new Date('2026-03-04T05:06:07.890Z'))).toBe('2026-03-04_05-06-07');
  });
});
