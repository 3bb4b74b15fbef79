import { ImageListSerializeError, internal, pointerToken } from './errors.js';

/** Deepest nesting serializeImageList() writes; image lists are about 6 levels deep. */
const MAX_SERIALIZE_DEPTH = 256;

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
const SURROGATE = /[\ud800-\udfff]/;

function sortKeys(keys: string[]): string[] {
  // Without surrogates UTF-16 order is code point order, and the built-in sort is much faster.
  for (const k of keys) if (SURROGATE.test(k)) return keys.sort(byCodePoint);
  return keys.sort();
}

// Everything outside printable ASCII is written as \uXXXX, so the signed text is 7-bit clean whatever the
// transport; JSON.stringify has already escaped control characters and lone surrogates.
const NON_ASCII = /[^\n\x20-\x7e]/;
const NON_ASCII_ALL = /[^\n\x20-\x7e]/g;
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function quote(s: string): string {
  const json = JSON.stringify(s);
  return NON_ASCII.test(json) ? json.replace(NON_ASCII_ALL, escapeChar) : json;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

class Writer {
  text = '';
  /** Containers being written, outermost first, for cycle detection. */
  readonly stack: object[] = [];
  /** Keys and indexes leading to the current value; turned into a JSON pointer only for an error. */
  readonly keys: (string | number)[] = [];

  fail(message: string): never {
    throw new ImageListSerializeError(message, this.keys.map((k) => `/${pointerToken(k)}`).join(''));
  }

  value(value: unknown, indent: string): void {
    switch (typeof value) {
      case 'string':
        this.text += quote(value);
        return;
      case 'boolean':
        this.text += value ? 'true' : 'false';
        return;
      case 'number':
        if (!Number.isFinite(value)) this.fail(`${value} is not a JSON number`);
        this.text += JSON.stringify(value);
        return;
      case 'object':
        if (value === null) this.text += 'null';
        else this.container(value, indent);
        return;
      default:
        this.fail(`${typeof value} is not a JSON value`);
    }
  }

  container(value: object, indent: string): void {
    if (this.stack.length >= MAX_SERIALIZE_DEPTH)
      this.fail(`nesting deeper than ${MAX_SERIALIZE_DEPTH} levels`);
    if (this.stack.includes(value)) this.fail('cyclic structure');
    const inner = `${indent}    `;
    this.stack.push(value);
    if (Array.isArray(value)) {
      if (value.length === 0) this.text += '[]';
      else {
        this.text += '[\n';
        for (let i = 0; i < value.length; i++) {
          this.text += i > 0 ? `,\n${inner}` : inner;
          this.keys.push(i);
          const item: unknown = value[i];
          if (item === undefined) this.fail('undefined is not a JSON value');
          this.value(item, inner);
          this.keys.pop();
        }
        this.text += `\n${indent}]`;
      }
    } else {
      if (!isPlainObject(value))
        this.fail(`${value.constructor?.name ?? 'object'} is not a plain JSON object`);
      const rec = value as Record<string, unknown>;
      // Keys whose value is undefined are left out, as JSON.stringify does.
      const keys = sortKeys(Object.keys(rec));
      let first = true;
      for (const k of keys) {
        const v = rec[k];
        if (v === undefined) continue;
        this.text += first ? `{\n${inner}` : `,\n${inner}`;
        first = false;
        this.text += `${quote(k)}: `;
        this.keys.push(k);
        this.value(v, inner);
        this.keys.pop();
      }
      this.text += first ? '{}' : `\n${indent}}`;
    }
    this.stack.pop();
  }
}

/** Thrown inside the fast check; the caller re-walks with path tracking to report where. */
const NOT_JSON = Symbol('not JSON');

/**
 * Fast check that `value` is plain JSON (what JSON.stringify would silently change or drop is refused), collecting
 * every object key. Recursion is bounded by MAX_SERIALIZE_DEPTH. Throws NOT_JSON without saying where.
 */
function inspect(value: unknown, stack: object[], keys: Set<string>, counts: { objects: number }): void {
  const t = typeof value;
  if (t === 'string' || t === 'boolean') return;
  if (t === 'number') {
    if (!Number.isFinite(value)) throw NOT_JSON;
    return;
  }
  if (t !== 'object') throw NOT_JSON;
  if (value === null) return;
  const obj = value as object;
  if (stack.length >= MAX_SERIALIZE_DEPTH || stack.includes(obj)) throw NOT_JSON;
  stack.push(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const item: unknown = obj[i];
      if (item === undefined) throw NOT_JSON;
      if (typeof item !== 'string') inspect(item, stack, keys, counts);
    }
  } else {
    if (!isPlainObject(obj)) throw NOT_JSON;
    counts.objects++;
    const rec = obj as Record<string, unknown>;
    for (const k in rec) {
      const v = rec[k];
      if (v === undefined) continue;
      keys.add(k);
      if (typeof v !== 'string') inspect(v, stack, keys, counts);
    }
  }
  stack.pop();
}

/** The general path of serializeImageList(), exported for the test that checks both paths give the same bytes. */
export function serializeByWriter(value: unknown): string {
  const writer = new Writer();
  writer.value(value, '');
  return `${writer.text}\n`;
}

/**
 * Canonical JSON text of an image list (or any JSON value): keys sorted by code point at every level, 4-space
 * indent, `": "` after keys, no trailing spaces, everything outside printable ASCII escaped as `\uXXXX`, and a
 * final newline. The same data always gives the same bytes, so a list signed twice is byte-identical.
 * Values are written as they are (a string size stays a string). Throws ImageListSerializeError
 * (`ERR_IMAGELIST_SERIALIZE`) for cycles, nesting deeper than 256, and non-JSON values; ERR_IMAGELIST_INTERNAL
 * for an unexpected exception (a throwing getter, a bug).
 */
export function serializeImageList(list: unknown): string {
  try {
    return serialize(list);
  } catch (err) {
    internal(err, 'serialising an image list');
  }
}

function serialize(list: unknown): string {
  const keys = new Set<string>();
  const counts = { objects: 0 };
  try {
    inspect(list, [], keys, counts);
  } catch (err) {
    if (err !== NOT_JSON) throw err;
    // The slow writer tracks the path and throws ImageListSerializeError at the offending value.
    new Writer().value(list, '');
    throw err;
  }
  // Fast path: JSON.stringify with a key array writes every object's keys in that array's order (integer-like
  // keys included, unlike a sorted copy). It visits the whole array per object, so it is used only while that
  // stays small; otherwise the keys are sorted object by object.
  // "__proto__" is excluded: the key array is read with [[Get]], which finds the inherited accessor on objects
  // that lack the key.
  if (counts.objects * keys.size <= 50_000_000 && !keys.has('__proto__')) {
    const order = sortKeys([...keys]);
    const json = JSON.stringify(list, order, 4);
    return `${NON_ASCII.test(json) ? json.replace(NON_ASCII_ALL, escapeChar) : json}\n`;
  }
  return serializeByWriter(list);
}
