// The TypeScript types in src/types.ts are written by hand; this test parses them with the TypeScript compiler
// and fails when a key, its optionality or its value type drifts from src/schema.json.
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { imageListSchema } from '../src/index.js';

type Schema = {
  type?: unknown;
  $ref?: string;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
};
const root = imageListSchema as Schema & { $defs: Record<string, Schema> };
const defs = root.$defs;

const source = ts.createSourceFile(
  'types.ts',
  readFileSync(new URL('../src/types.ts', import.meta.url), 'utf8'),
  ts.ScriptTarget.Latest,
  true,
);

interface Member {
  optional: boolean;
  type: string;
}
function members(name: string): { props: Map<string, Member>; indexSignature: string | undefined } {
  const props = new Map<string, Member>();
  let indexSignature: string | undefined;
  let found = false;
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== name) return;
    found = true;
    for (const m of node.members) {
      if (ts.isPropertySignature(m) && m.type) {
        const key = ts.isStringLiteral(m.name) ? m.name.text : m.name.getText(source);
        props.set(key, { optional: m.questionToken !== undefined, type: m.type.getText(source) });
      } else if (ts.isIndexSignatureDeclaration(m)) indexSignature = m.type.getText(source);
    }
  });
  if (!found) throw new Error(`interface ${name} not found in src/types.ts`);
  return { props, indexSignature };
}

/** The TypeScript type that a (compatible-mode) property schema stands for. */
function expectedType(s: Schema): string {
  if (s.$ref) {
    const def = s.$ref.replace('#/$defs/', '');
    return (
      {
        compatibleEndorserX509: 'EndorserX509',
        compatibleImage: 'Image',
        compatibleImageListBody: 'ImageListBody',
      } as Record<string, string>
    )[def]!;
  }
  if (s.type === undefined) return 'unknown';
  const type = Array.isArray(s.type) ? s.type.join(',') : String(s.type);
  switch (type) {
    case 'string':
      return 'string';
    case 'integer,string':
      return 'IntegerLike';
    case 'object,array':
      return 'Endorser | Endorser[]';
    case 'array':
      if (s.items?.$ref === '#/$defs/compatibleImageEntry') return 'ImageEntry[]';
      break;
  }
  throw new Error(`no TypeScript mapping for ${JSON.stringify(s)}`);
}

const PAIRS: [string, Schema][] = [
  ['ImageList', defs.compatibleImageList!],
  ['ImageListBody', defs.compatibleImageListBody!],
  ['Endorser', defs.compatibleEndorser!],
  ['EndorserX509', defs.compatibleEndorserX509!],
  ['ImageEntry', defs.compatibleImageEntry!],
  ['Image', defs.compatibleImage!],
];

describe('src/types.ts is in sync with src/schema.json', () => {
  for (const [name, schema] of PAIRS) {
    it(`${name}: same keys, optionality and value types`, () => {
      const { props, indexSignature } = members(name);
      expect([...props.keys()].sort()).toEqual(Object.keys(schema.properties!).sort());
      for (const [key, sub] of Object.entries(schema.properties!)) {
        const m = props.get(key)!;
        expect(m.optional, `${name}['${key}'] optional`).toBe(!schema.required!.includes(key));
        expect(m.type, `${name}['${key}'] type`).toBe(expectedType(sub));
      }
      // unknown keys are kept, so every interface must allow them
      expect(indexSignature).toBe('unknown');
    });
  }

  it('the compatible and strict schemas describe the same shape for the types', () => {
    expect(Object.keys(root.properties!)).toEqual(Object.keys(defs.compatibleImageList!.properties!));
    expect(members('Endorser').props.get('hv:x509')!.type).toBe(
      expectedType(defs.compatibleEndorser!.properties!['hv:x509']!),
    );
  });
});
