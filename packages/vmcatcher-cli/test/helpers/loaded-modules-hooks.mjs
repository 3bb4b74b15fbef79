// The module hooks of loaded-modules.mjs (they run on the loader thread).
import { appendFileSync } from 'node:fs';

let out;
export function initialize(file) {
  out = file;
}
export async function load(url, context, next) {
  const result = await next(url, context);
  appendFileSync(out, `${url}\n`);
  return result;
}
