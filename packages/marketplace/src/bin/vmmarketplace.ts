#!/usr/bin/env node
import { runMarketplaceCli } from '../cli/main.js';

const stop = new AbortController();
for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => stop.abort());
process.exitCode = await runMarketplaceCli(process.argv.slice(2), process.env, {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  signal: stop.signal,
});
