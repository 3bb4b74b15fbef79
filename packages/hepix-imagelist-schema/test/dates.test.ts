import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatImageListDate, ImageListDateError, ImageListError, parseImageListDate } from '../src/index.js';

function dateError(fn: () => unknown): ImageListDateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ImageListDateError);
    expect(err).toBeInstanceOf(ImageListError);
    expect((err as ImageListDateError).code).toBe('ERR_IMAGELIST_DATE');
    return err as ImageListDateError;
  }
  throw new Error('expected ImageListDateError');
}

describe('parseImageListDate', () => {
  it('parses UTC YYYY-MM-DDTHH:MM:SSZ', () => {
    expect(parseImageListDate('2024-01-29T00:00:00Z').toISOString()).toBe('2024-01-29T00:00:00.000Z');
    expect(parseImageListDate('2499-12-31T22:00:00Z').getTime()).toBe(Date.UTC(2499, 11, 31, 22));
    expect(parseImageListDate('2024-02-29T23:59:59Z').toISOString()).toBe('2024-02-29T23:59:59.000Z');
    expect(parseImageListDate('2000-02-29T00:00:00Z').getUTCDate()).toBe(29);
  });

  it('keeps years below 100 (Date.UTC would map them to 19xx)', () => {
    expect(parseImageListDate('0042-03-04T05:06:07Z').getUTCFullYear()).toBe(42);
    expect(formatImageListDate(parseImageListDate('0001-01-01T00:00:00Z'))).toBe('0001-01-01T00:00:00Z');
  });

  const bad = [
    '2024-01-01T00:00:00.000Z',
    '2024-01-01T00:00:00+00:00',
    '2024-01-01T00:00:00-05:00',
    '2024-01-01',
    '2024-01-01T00:00',
    '2024-01-01T00:00:00',
    '20240101T000000Z',
    '2024-02-30T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-00-10T00:00:00Z',
    '2024-01-00T00:00:00Z',
    '2024-01-01T25:00:00Z',
    '2024-01-01T00:60:00Z',
    '2024-01-01T00:00:61Z',
    '0000-01-01T00:00:00Z',
    '+02024-01-01T00:00:00Z',
    ' 2024-01-01T00:00:00Z',
    '2024-01-01T00:00:00Z\n',
    '２０２４-01-01T00:00:00Z',
    '',
  ];
  for (const value of bad) {
    it(`rejects ${JSON.stringify(value)} naming the field`, () => {
      const err = dateError(() => parseImageListDate(value, 'dc:date:expires'));
      expect(err.field).toBe('dc:date:expires');
      expect(err.message).toMatch(/^dc:date:expires: /);
    });
  }

  it('rejects non-strings and shortens huge values in the message', () => {
    dateError(() => parseImageListDate(20240101 as never, 'dc:date:created'));
    dateError(() => parseImageListDate(undefined as never));
    const err = dateError(() => parseImageListDate('x'.repeat(1_000_000), 'dc:date:created'));
    expect(err.message.length).toBeLessThan(300);
    expect(err.value.length).toBeLessThan(100);
  });
});

describe('formatImageListDate', () => {
  it('formats in UTC and truncates milliseconds', () => {
    expect(formatImageListDate(new Date('2024-01-01T00:00:00Z'))).toBe('2024-01-01T00:00:00Z');
    expect(formatImageListDate(new Date('2024-06-30T23:59:59.999Z'))).toBe('2024-06-30T23:59:59Z');
    expect(formatImageListDate(new Date('2024-06-30T23:59:59.999+02:00'))).toBe('2024-06-30T21:59:59Z');
  });

  it('rejects invalid dates and years outside 0001-9999', () => {
    dateError(() => formatImageListDate(new Date(Number.NaN)));
    dateError(() => formatImageListDate(new Date('+010000-01-01T00:00:00Z')));
    dateError(() => formatImageListDate(new Date('-000001-01-01T00:00:00Z')));
    dateError(() => formatImageListDate('2024-01-01' as never));
  });

  it('round-trips every second of years 1-9999', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (d) => {
          const whole = new Date(Math.floor(d.getTime() / 1000) * 1000);
          const text = formatImageListDate(whole);
          expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          expect(parseImageListDate(text).getTime()).toBe(whole.getTime());
        },
      ),
      { numRuns: 2000 },
    );
  });
});
