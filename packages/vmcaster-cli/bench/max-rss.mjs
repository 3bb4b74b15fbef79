// Preloaded into the measured vmcaster process: reports its peak resident set size on exit.
import { writeFileSync } from 'node:fs';

const out = process.env.VMCASTER_BENCH_RSS_FILE;
process.on('exit', () => {
  if (out) writeFileSync(out, String(process.resourceUsage().maxRSS * 1024));
});
