// A cloud connector written against the hooks API of @hepix/image-cache, instead of a shell event handler.
//
// The "cloud" here is a catalogue directory: every image the cache makes available is copied into it and
// registered in catalogue.json; an expired image is removed again, unless a running VM still uses it (then the
// expiry is vetoed and retried on the next run). Replace `publishImage`/`withdrawImage` with calls to your
// cloud's API (Glance, OpenNebula, …).
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CacheHooks,
  type CacheRunSummary,
  createImageCache,
  type ImageCacheOptions,
  type ImageHookEvent,
} from '@hepix/image-cache';

export interface CatalogueEntry {
  identifier: string;
  title: string;
  format: string;
  sha512: string;
  file: string;
  vo?: string;
}

export interface ConnectorOptions {
  /** Where published images and catalogue.json live. */
  catalogue: string;
  /** Images that must not be withdrawn yet (for example, used by running VMs). */
  inUse?: (identifier: string) => boolean | Promise<boolean>;
  log?: (message: string) => void;
}

async function readCatalogue(dir: string): Promise<Record<string, CatalogueEntry>> {
  try {
    return JSON.parse(await readFile(join(dir, 'catalogue.json'), 'utf8')) as Record<string, CatalogueEntry>;
  } catch {
    return {};
  }
}

/** The hooks of the connector; pass them to `createImageCache({ hooks })`. */
export function connectorHooks(options: ConnectorOptions): CacheHooks {
  const log = options.log ?? (() => {});
  const publishImage = async (e: ImageHookEvent) => {
    await mkdir(options.catalogue, { recursive: true });
    const file = join(options.catalogue, `${e.filename}.img`);
    await copyFile(e.path, file);
    const catalogue = await readCatalogue(options.catalogue);
    catalogue[e.identifier] = {
      identifier: e.identifier,
      title: String(e.metadata['dc:title'] ?? ''),
      format: String(e.metadata['hv:image.hv:format'] ?? 'raw'),
      sha512: String(e.metadata['sl:checksum:sha512']),
      file,
      ...(e.metadata['hv:imagelist.ad:vo'] ? { vo: String(e.metadata['hv:imagelist.ad:vo']) } : {}),
    };
    await writeFile(join(options.catalogue, 'catalogue.json'), JSON.stringify(catalogue, null, 2));
    log(`published ${e.identifier}`);
  };
  return {
    'image:available:after': publishImage,
    // Throwing here vetoes the expiry: the cached file stays and the next run asks again.
    'image:expire:before': async (e) => {
      if (await options.inUse?.(e.identifier)) throw new Error(`${e.identifier} is still in use`);
    },
    'image:expire:after': async (e) => {
      const catalogue = await readCatalogue(options.catalogue);
      const entry = catalogue[e.identifier];
      if (!entry) return;
      await rm(entry.file, { force: true });
      delete catalogue[e.identifier];
      await writeFile(join(options.catalogue, 'catalogue.json'), JSON.stringify(catalogue, null, 2));
      log(`withdrew ${e.identifier} (${e.reason})`);
    },
    'image:verify:failed': (e) => log(`${e.identifier}: ${e.reason} mismatch during ${e.stage}`),
    progress: (p) => log(`${p.identifier}: ${p.bytes}/${p.total}`),
  };
}

/** One connector run: the cache with the connector's hooks. */
export async function runConnector(
  cache: Omit<ImageCacheOptions, 'hooks'>,
  options: ConnectorOptions,
): Promise<CacheRunSummary> {
  return createImageCache({ ...cache, hooks: connectorHooks(options) }).run();
}
