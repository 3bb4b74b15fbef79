// Build step (`pnpm build`): writes man/vmcaster.1, which the package's `man` field lists.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manPage } from './docs.js';

const dir = process.argv[2] ?? 'man';
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'vmcaster.1'), manPage());
