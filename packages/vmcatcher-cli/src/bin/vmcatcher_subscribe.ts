#!/usr/bin/env node
import { runSubscribeCommand } from '../commands/subscribe.js';

process.exitCode = await runSubscribeCommand(process.argv.slice(2), process.env);
