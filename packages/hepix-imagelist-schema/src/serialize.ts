import { ImageListSerializeError, pointerToken } from './errors.js';

/** Deepest nesting serializeImageList() writes; image lists are about 6 levels deep. */
export const MAX_SERIALIZE_DEPTH = 256;

/** Sorts keys by Unicode code point, as Python's sort_keys does (JS sort compares UTF-16 code units). */
function byCodePoint(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (astral code points) sort after every BMP character in code point order.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}

// Everything outside printable ASCII is written as \uXXXX, so the signed text is 7-bit clean whatever the
// transport; JSON.stringify has already escaped control characters and lone surrogates.
const NON_ASCII = /[^\x20-\x7e]/g;
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function quote(s: string): string {
  const json = JSON.stringify(s);
  NON_ASCII.lastIndex = 0;
  return NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeChar) : json;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function write(value: unknown, indent: string, path: string, stack: object[], out: string[]): void {
  switch (typeof value) {
    case 'string':
      out.push(quote(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new ImageListSerializeError(`${value} is not a JSON number`, path);
      out.push(JSON.stringify(value));
      return;
    case 'object': {
      if (value === null) {
        out.push('null');
        return;
      }
      if (stack.length >= MAX_SERIALIZE_DEPTH) {
        throw new ImageListSerializeError(`nesting deeper than ${MAX_SERIALIZE_DEPTH} levels`, path);
      }
      if (stack.includes(value)) throw new ImageListSerializeError('cyclic structure', path);
      const inner = `${indent}    `;
      stack.push(value);
      if (Array.isArray(value)) {
        if (value.length === 0) out.push('[]');
        else {
          out.push('[\n');
          for (let i = 0; i < value.length; i++) {
            if (i > 0) out.push(',\n');
            out.push(inner);
            const item = value[i];
            if (item === undefined)
              throw new ImageListSerializeError('undefined is not a JSON value', `${path}/${i}`);
            write(item, inner, `${path}/${i}`, stack, out);
          }
          out.push(`\n${indent}]`);
        }
      } else {
        if (!isPlainObject(value)) {
          throw new ImageListSerializeError(
            `${value.constructor?.name ?? 'object'} is not a plain JSON object`,
            path,
          );
        }
        const rec = value as Record<string, unknown>;
        // Keys whose value is undefined are left out, as JSON.stringify does.
        const keys = Object.keys(rec)
          .filter((k) => rec[k] !== undefined)
          .sort(byCodePoint);
        if (keys.length === 0) out.push('{}');
        else {
          out.push('{\n');
          for (let i = 0; i < keys.length; i++) {
            const k = keys[i]!;
            if (i > 0) out.push(',\n');
            out.push(inner, quote(k), ': ');
            write(rec[k], inner, `${path}/${pointerToken(k)}`, stack, out);
          }
          out.push(`\n${indent}}`);
        }
      }
      stack.pop();
      return;
    }
    default:
      throw new ImageListSerializeError(`${typeof value} is not a JSON value`, path);
  }
}

/**
 * Canonical JSON text of an image list (or any JSON value): keys sorted by code point at every level, 4-space
 * indent, `": "` after keys, no trailing spaces, everything outside printable ASCII escaped as `\uXXXX`, and a
 * final newline. The same data always gives the same bytes, so a list signed twice is byte-identical.
 * Values are written as they are (a string size stays a string). Throws ImageListSerializeError
 * (`ERR_IMAGELIST_SERIALIZE`) for cycles, nesting deeper than 256, and non-JSON values.
 */
export function serializeImageList(list: unknown): string {
  const out: string[] = [];
  write(list, '', '', [], out);
  out.push('\n');
  return out.join('');
}
