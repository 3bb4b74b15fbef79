#!/usr/bin/env node
import { runEndorserCommand } from '../commands/endorser.js';

process.exitCode = await runEndorserCommand(process.argv.slice(2), process.env);
