// Every public repository method rejects with a StoreError: its own codes, or ERR_STORE_INTERNAL (with the
// original error as `cause`) for what it did not expect: a failing disk, a lost server, a bug.
import { internal } from './errors.js';

export function guard<T extends object>(prefix: string, methods: T, url?: string): T {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(methods)) {
    if (typeof fn !== 'function') continue;
    out[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (err) {
        throw internal(err, `${prefix}.${name}`, url);
      }
    };
  }
  return out as T;
}
