#!/usr/bin/env node
import { runCli } from './main.js';

runCli(process.argv.slice(2), { handleSignals: true }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `vmcaster: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
