// Measures peak memory of one verification in a fresh process (see verify.mjs).
import { readFileSync } from 'node:fs';
import { resourceUsage } from 'node:process';

const [msgPath, trustDir] = process.argv.slice(2);
const lib = await import('../dist/index.js');
const trust = await lib.TrustStore.fromDirectory(trustDir);
// Baseline: current RSS (not the start-up peak), so the figure is an upper bound of what verifying adds.
const baseline = process.memoryUsage().rss;
const v = await lib.verifySmime(readFileSync(msgPath), { trust });
const peak = resourceUsage().maxRSS * 1024;
process.stdout.write(
  JSON.stringify({ baseline, peak, peakAboveBaseline: peak - baseline, content: v.content.length }),
);
