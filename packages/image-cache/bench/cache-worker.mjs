// One cache run in its own process, so its peak memory (maxRSS) is measured alone.
// Usage: node cache-worker.mjs DB_URL CACHE_DIR CONCURRENCY → prints {"ms", "maxRssKb", "downloaded"}.
import { createImageCache } from '@hepix/image-cache';
import { openStore } from '@hepix/imagelist-store';

const [url, dir, concurrency] = process.argv.slice(2);
const store = await openStore(url);
const cache = createImageCache({ store, dirs: { cache: dir }, concurrency: Number(concurrency) });
const started = performance.now();
const summary = await cache.run({ download: true });
const ms = performance.now() - started;
await store.close();
if (summary.failed.length) {
  console.error(JSON.stringify(summary.failed));
  process.exit(1);
}
process.stdout.write(
  `${JSON.stringify({ ms, maxRssKb: process.resourceUsage().maxRSS, downloaded: summary.downloaded.length })}\n`,
);
