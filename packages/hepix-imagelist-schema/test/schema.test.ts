import { readFileSync } from 'node:fs';
import schemaFile from '@hepix/hepix-imagelist-schema/schema.json' with { type: 'json' };
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import {
  IMAGE_LIST_SCHEMA_ID,
  imageListSchema,
  REQUIRED_ENDORSER_KEYS,
  REQUIRED_IMAGE_KEYS,
  REQUIRED_IMAGELIST_KEYS,
} from '../src/index.js';
import { example } from './helpers.js';

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  required?: string[];
  $defs?: Record<string, Schema>;
};
const schema = imageListSchema as Schema;
const defs = schema.$defs!;

/** Every subschema that sits under a `properties` keyword, with its JSON pointer. */
function allProperties(s: unknown, path = ''): [string, Schema][] {
  if (s === null || typeof s !== 'object') return [];
  const out: [string, Schema][] = [];
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties') {
      for (const [name, sub] of Object.entries(v as Record<string, Schema>)) {
        out.push([`${path}/properties/${name}`, sub]);
        out.push(...allProperties(sub, `${path}/properties/${name}`));
      }
    } else out.push(...allProperties(v, `${path}/${k}`));
  }
  return out;
}

describe('imageListSchema', () => {
  it('is a draft 2020-12 schema that ajv compiles in strict mode, every definition included', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toBe(IMAGE_LIST_SCHEMA_ID);
    const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
    ajv.addSchema(schema);
    for (const name of Object.keys(defs)) {
      expect(ajv.getSchema(`${IMAGE_LIST_SCHEMA_ID}#/$defs/${name}`), name).toBeTypeOf('function');
    }
    const root = ajv.getSchema(IMAGE_LIST_SCHEMA_ID)!;
    expect(root(example())).toBe(true);
  });

  it('gives every property a description, and every definition too', () => {
    const props = allProperties(schema);
    expect(props.length).toBeGreaterThan(60);
    for (const [path, sub] of props) {
      expect(typeof sub.description === 'string' && sub.description.length > 10, path).toBe(true);
    }
    for (const [name, def] of Object.entries(defs)) expect(def.description, name).toBeTypeOf('string');
  });

  it('is the same document as the subpath export schema.json and the shipped file', () => {
    expect(schemaFile).toEqual(schema);
    const onDisk = JSON.parse(readFileSync(new URL('../src/schema.json', import.meta.url), 'utf8'));
    expect(onDisk).toEqual(schema);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(schema)).toBe(true);
    expect(Object.isFrozen(defs.image!.properties!['hv:size'])).toBe(true);
  });

  it('declares the required keys that REQUIRED_*_KEYS export, in both modes', () => {
    for (const prefix of ['', 'compatible']) {
      const name = (n: string) => (prefix ? prefix + n[0]!.toUpperCase() + n.slice(1) : n);
      expect(defs[name('imageListBody')]!.required).toEqual([...REQUIRED_IMAGELIST_KEYS]);
      expect(defs[name('image')]!.required).toEqual([...REQUIRED_IMAGE_KEYS]);
      expect(defs[name('endorserX509')]!.required).toEqual([...REQUIRED_ENDORSER_KEYS]);
      expect(defs[name('endorser')]!.required).toEqual(['hv:x509']);
      expect(defs[name('imageEntry')]!.required).toEqual(['hv:image']);
    }
    expect(schema.required).toEqual(['hv:imagelist']);
  });

  it('allows unknown keys everywhere (they are kept untouched)', () => {
    const all = JSON.stringify(schema);
    expect(all).not.toContain('additionalProperties');
    expect(all).not.toContain('unevaluatedProperties');
  });

  it('strict and compatible definitions know the same keys', () => {
    for (const n of ['imageListBody', 'image', 'endorserX509', 'endorser', 'imageEntry']) {
      const compat = `compatible${n[0]!.toUpperCase()}${n.slice(1)}`;
      expect(Object.keys(defs[compat]!.properties!).sort(), n).toEqual(
        Object.keys(defs[n]!.properties!).sort(),
      );
    }
  });

  it('used on its own, the root rejects what a publisher must not produce and compatibleImageList accepts it', () => {
    const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
    ajv.addSchema(schema);
    const strict = ajv.getSchema(IMAGE_LIST_SCHEMA_ID)!;
    const compatible = ajv.getSchema(`${IMAGE_LIST_SCHEMA_ID}#/$defs/compatibleImageList`)!;
    const doc = example();
    doc['hv:imagelist']['hv:images'][0]['hv:image']['hv:size'] = '121243136';
    doc['hv:imagelist']['hv:images'][0]['hv:image']['sl:comments'] = '';
    expect(strict(doc)).toBe(false);
    expect(compatible(doc)).toBe(true);
  });
});
