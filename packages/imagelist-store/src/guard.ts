// Every public repository method rejects with a StoreError: its own codes, or ERR_STORE_INTERNAL (with the
// original error as `cause`) for what it did not expect: a failing disk, a lost server, a bug. Text holding a
// NUL character is refused before anything is written: SQLite's driver cuts a string at its first NUL (an
// identifier `a\0b` would be stored as `a`, and could collide with another) and PostgreSQL refuses it.
import { internal, invalid } from './errors.js';

/** The path of the first string (value or key) holding U+0000 in what a caller passed, or undefined. */
function nulAt(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > 32) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = nulAt(value[i], `${path}[${i}]`, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined; // bytes, dates, …
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\0')) return `${path}.${JSON.stringify(k)}`;
    const p = nulAt(v, `${path}.${k}`, depth + 1);
    if (p) return p;
  }
  return undefined;
}

export function guard<T extends object>(prefix: string, methods: T, url?: string): T {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(methods)) {
    if (typeof fn !== 'function') continue;
    out[name] = async (...args: unknown[]) => {
      try {
        const at = nulAt(args, 'arguments', 0);
        if (at) throw invalid(`${prefix}.${name}: ${at} holds a NUL character, which cannot be stored`);
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        throw internal(err, `${prefix}.${name}`, url);
      }
    };
  }
  return out as T;
}
