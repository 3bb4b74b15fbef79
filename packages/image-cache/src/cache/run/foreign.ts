// Step 2: what is in the areas that the cache did not put there. The originals deleted every file their indexes
// did not name (reference §6.12); such files, links, FIFOs and devices are left alone and reported, and their
// names are never used for an image. A link or other non-regular file is also a failure of the run
// (`ERR_CACHE_UNSAFE_FILE`): someone planted it where the cache writes.
import { entryFilename } from '../entries.js';
import { ImageCacheError } from '../errors.js';
import { CACHE_AREAS } from '../storage.js';
import type { RunContext } from './context.js';
import { recordFailure } from './expire.js';

export async function scanAreas(ctx: RunContext): Promise<void> {
  const { storage, indexes } = ctx;
  for (const area of CACHE_AREAS) {
    const known = new Set(
      indexes
        .area(area)
        .list()
        .map(([k, e]) => entryFilename(k, e)),
    );
    for (const f of await storage.list(area)) {
      ctx.found[area].set(f.name, f);
      if (f.kind === 'directory') continue; // sub-directories are the site's own (lost+found, …)
      if (known.has(f.name) && f.kind === 'file') continue;
      const path = storage.path(area, f.name);
      ctx.log(
        'warn',
        known.has(f.name)
          ? `${path} is a ${f.kind}, not the file the cache made; leaving it alone`
          : `${path} ${f.kind === 'file' ? '' : `(a ${f.kind}) `}was not created by vmcatcher; leaving it alone`,
        { name: 'cache' },
      );
      ctx.summary.foreign.push(path);
      if (f.kind !== 'file') {
        const err = new ImageCacheError(
          'ERR_CACHE_UNSAFE_FILE',
          `${path} is a ${f.kind}; left alone, never followed`,
          {
            path,
            found: f.kind,
          },
        );
        recordFailure(ctx, f.name, undefined, err);
      }
    }
  }
}
