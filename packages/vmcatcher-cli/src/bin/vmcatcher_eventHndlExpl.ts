#!/usr/bin/env node
import { runEventHandlerExample } from '../cache/event-handler-example.js';

process.exitCode = await runEventHandlerExample(process.argv.slice(2), process.env);
