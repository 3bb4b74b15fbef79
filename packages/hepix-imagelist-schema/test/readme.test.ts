// The README's examples, run as written (the file name and `text` are the only substitutions).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ImageListValidationError,
  imageSize,
  listEndorsers,
  parseImageListDate,
  validateImageList,
  validateImageListDetailed,
} from '@hepix/hepix-imagelist-schema';
import schema from '@hepix/hepix-imagelist-schema/schema.json' with { type: 'json' };
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { example, exampleText } from './helpers.js';

describe('README examples', () => {
  it('validate a list from a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hepix-readme-'));
    writeFileSync(join(dir, 'imagelist.json'), exampleText);
    const bytes = await readFile(join(dir, 'imagelist.json'));
    const { list, warnings } = validateImageListDetailed(bytes);
    expect(warnings).toEqual([]);
    const body = list['hv:imagelist'];
    const expires = parseImageListDate(body['dc:date:expires'], 'dc:date:expires');
    const rows = body['hv:images'].map(({ 'hv:image': image }) => [
      image['dc:identifier'],
      image['hv:version'],
      imageSize(image),
      image['hv:uri'],
    ]);
    expect(rows).toEqual([
      [
        '488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d',
        '0.0.2',
        2147483648,
        'http://example.org/488dcdc4-9ab1-4fc8-a7ba-b7a5428ecb3d_2024-01-01_00-00-00.raw.gz',
      ],
    ]);
    const [endorser] = listEndorsers(list);
    expect(endorser?.['hv:x509']['hv:dn']).toBe('/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge');
    expect(expires.toISOString()).toBe('2024-01-29T00:00:00.000Z');
  });

  it('limits options', () => {
    expect(
      validateImageList(exampleText, { mode: 'compatible', maxBytes: 64 * 1024 * 1024, maxDepth: 64 }),
    ).toEqual(example());
  });

  it('the schema used with ajv directly', () => {
    const ajv = new Ajv2020({ allowUnionTypes: true });
    const isStrictList = ajv.compile(schema);
    expect(isStrictList(example())).toBe(true);
    expect(isStrictList(example()['hv:imagelist'])).toBe(false);
  });

  it('error handling', () => {
    const doc = example();
    delete doc['hv:imagelist']['hv:images'][0]['hv:image']['hv:size'];
    const text = JSON.stringify(doc);
    const lines: string[] = [];
    try {
      validateImageList(text, { mode: 'strict' });
    } catch (err) {
      if (!(err instanceof ImageListValidationError)) throw err;
      expect(err.code).toBe('ERR_IMAGELIST_INVALID');
      for (const issue of err.issues) lines.push(`${issue.path}: ${issue.message}`);
    }
    expect(lines).toEqual(['/hv:imagelist/hv:images/0/hv:image/hv:size: missing required key "hv:size"']);
  });
});
