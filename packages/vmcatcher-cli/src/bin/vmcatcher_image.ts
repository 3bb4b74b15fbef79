#!/usr/bin/env node
import { runImageCommand } from '../commands/image.js';

process.exitCode = await runImageCommand(process.argv.slice(2), process.env);
