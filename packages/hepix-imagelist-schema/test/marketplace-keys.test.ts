// sl:deprecated and sl:locations (the marketplace's StratusLab keys): typed in strict mode, kept untouched in
// compatible mode, where old subscribers must go on accepting lists that carry them.
import { describe, expect, it } from 'vitest';
import { validateImageList, validateImageListDetailed } from '../src/index.js';
import { example, invalid, paths } from './helpers.js';

const I0 = '/hv:imagelist/hv:images/0/hv:image';

function withKeys(keys: Record<string, unknown>) {
  const doc = example();
  Object.assign(doc['hv:imagelist']['hv:images'][0]['hv:image'], keys);
  return doc;
}

describe('sl:deprecated and sl:locations', () => {
  it('strict mode accepts a reason and http/https URLs', () => {
    const doc = withKeys({
      'sl:deprecated': 'superseded by 2.0',
      'sl:locations': ['https://mirror.example.org/a.img', 'HTTP://mirror2.example.org/a.img'],
    });
    expect(validateImageListDetailed(doc, { mode: 'strict' }).warnings).toEqual([]);
  });

  it('strict mode refuses an empty reason, a non-array, and URLs other than http/https', () => {
    for (const [keys, path] of [
      [{ 'sl:deprecated': '' }, `${I0}/sl:deprecated`],
      [{ 'sl:deprecated': true }, `${I0}/sl:deprecated`],
      [{ 'sl:locations': 'https://example.org/a.img' }, `${I0}/sl:locations`],
      [{ 'sl:locations': ['javascript:alert(1)'] }, `${I0}/sl:locations/0`],
      [{ 'sl:locations': ['https://ok.example.org/a', 'ftp://example.org/a'] }, `${I0}/sl:locations/1`],
      [{ 'sl:locations': ['https://example.org/a b'] }, `${I0}/sl:locations/0`],
    ] as const) {
      const err = invalid(() => validateImageList(withKeys(keys), { mode: 'strict' }));
      expect(paths(err.issues), JSON.stringify(keys)).toEqual([path]);
    }
  });

  it('compatible mode keeps any value untouched and drops nothing', () => {
    const doc = withKeys({ 'sl:deprecated': true, 'sl:locations': ['javascript:alert(1)', 7] });
    const { list, warnings } = validateImageListDetailed(doc);
    expect(warnings).toEqual([]);
    expect(list).toEqual(doc);
  });
});
