#!/usr/bin/env node
import { runCacheCommand } from '../cache/command.js';

process.exitCode = await runCacheCommand(process.argv.slice(2), process.env);
