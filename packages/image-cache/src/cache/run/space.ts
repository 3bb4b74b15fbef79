// Free space across the downloads of one run: each download reserves what it still has to write, so two parallel
// downloads that would each fit alone, but not together, never both start (and both fill the disk).
import { ImageCacheError } from '../errors.js';
import type { CacheArea, CacheStorage } from '../storage.js';

export interface Reservation {
  /** Bytes written since the reservation was made (they are now counted by the file system itself). */
  wrote(bytes: number): void;
  release(): void;
}

export class SpaceLedger {
  readonly #open = new Set<{ left: number }>();

  constructor(
    private readonly storage: CacheStorage,
    private readonly area: CacheArea,
  ) {}

  /** Bytes promised to downloads in flight and not written yet. */
  outstanding(): number {
    let n = 0;
    for (const r of this.#open) n += r.left;
    return n;
  }

  /**
   * Reserves `bytes` in the area, or throws `ERR_CACHE_NO_SPACE` (nothing reserved) when the free space less
   * what other downloads still need is too small. Must not be called concurrently (the run serialises it).
   */
  async reserve(bytes: number, about: { image: string; subscription: string }): Promise<Reservation> {
    const free = await this.storage.freeSpace(this.area);
    const others = this.outstanding();
    if (free !== undefined && free - others < bytes) {
      const path = this.storage.locations[this.area];
      throw new ImageCacheError(
        'ERR_CACHE_NO_SPACE',
        `${bytes} bytes needed in ${path}, ${free} free${others ? ` of which ${others} are promised to downloads in progress` : ''}`,
        { ...about, path, needed: bytes, free: Math.max(0, free - others) },
      );
    }
    const r = { left: bytes };
    this.#open.add(r);
    return {
      wrote: (n) => {
        r.left = Math.max(0, r.left - n);
      },
      release: () => {
        this.#open.delete(r);
      },
    };
  }
}
