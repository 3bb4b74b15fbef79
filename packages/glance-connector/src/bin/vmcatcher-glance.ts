#!/usr/bin/env node
import { text } from 'node:stream/consumers';
import { main } from '../cli.js';

process.exitCode = await main(process.argv.slice(2), process.env, {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  // A terminal is not an event; under vmcatcher_cache standard input is the event JSON.
  readStdin: () => (process.stdin.isTTY ? Promise.resolve('') : text(process.stdin)),
});
