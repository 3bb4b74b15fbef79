// Build step (`pnpm build`): writes man/*.1 from the tool definitions, the package's `man` field lists them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manPages } from './docs.js';

const dir = process.argv[2] ?? 'man';
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(manPages())) writeFileSync(join(dir, name), text);
