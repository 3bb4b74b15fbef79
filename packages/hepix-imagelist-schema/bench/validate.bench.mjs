#!/usr/bin/env node
// Validation cost of a big image list, against plain JSON.parse of the same text measured in the same run.
// Runs against dist/ (`pnpm bench` builds first). Sizes: BENCH_IMAGES (default 10000), BENCH_RUNS (default 20).
import { readFileSync } from 'node:fs';
import { serializeImageList, validateImageList, validateImageListDetailed } from '../dist/index.js';

const images = Number(process.env.BENCH_IMAGES ?? 10_000);
const runs = Number(process.env.BENCH_RUNS ?? 20);

const base = JSON.parse(readFileSync(new URL('../test/fixtures/example-1.6.json', import.meta.url), 'utf8'));
const template = base['hv:imagelist']['hv:images'][0]['hv:image'];
base['hv:imagelist']['hv:images'] = Array.from({ length: images }, (_, i) => ({
  'hv:image': {
    ...template,
    'dc:identifier': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    'dc:title': `Image ${i}`,
    'hv:size': i % 2 ? template['hv:size'] + i : String(template['hv:size'] + i), // AppDB-style strings too
    'hv:version': `1.${i}`,
  },
}));
const text = JSON.stringify(base);

/** Median wall time in ms of `runs` calls after 3 warm-up calls. */
function measure(fn) {
  for (let i = 0; i < 3; i++) fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const parsed = JSON.parse(text);
const check = validateImageListDetailed(parsed);
if (check.list['hv:imagelist']['hv:images'].length !== images || check.warnings.length !== 0) {
  throw new Error('benchmark list did not validate cleanly');
}

const parse = measure(() => JSON.parse(text));
const objCompat = measure(() => validateImageList(parsed));
const textCompat = measure(() => validateImageList(text));
const strictList = JSON.parse(text);
for (const e of strictList['hv:imagelist']['hv:images'])
  e['hv:image']['hv:size'] = Number(e['hv:image']['hv:size']);
const objStrict = measure(() => validateImageList(strictList, { mode: 'strict' }));
const serialize = measure(() => serializeImageList(parsed));

const f = (ms) => `${ms.toFixed(1).padStart(7)} ms`;
const r = (ms) => `${(ms / parse).toFixed(2)}x JSON.parse`;
console.log(
  `hepix-imagelist-schema bench: ${images} images, ${(text.length / 1048576).toFixed(1)} MiB of JSON, median of ${runs} warm runs (node ${process.version})`,
);
console.log(`  JSON.parse(text)                        ${f(parse)}   (reference)`);
console.log(
  `  validateImageList(object) compatible    ${f(objCompat)}   ${r(objCompat)}   target < 50 ms: ${objCompat < 50 ? 'met' : 'MISSED'}`,
);
console.log(`  validateImageList(object) strict        ${f(objStrict)}   ${r(objStrict)}`);
console.log(
  `  validateImageList(text)   compatible    ${f(textCompat)}   ${r(textCompat)}   (parse included)`,
);
console.log(`  serializeImageList(object)              ${f(serialize)}   ${r(serialize)}`);
