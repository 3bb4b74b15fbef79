#!/usr/bin/env node
import { runVmcatcher } from '../commands/dispatch.js';

process.exitCode = await runVmcatcher(process.argv.slice(2), process.env);
