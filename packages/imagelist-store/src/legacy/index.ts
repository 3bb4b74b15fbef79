// Importing an original database (vmcatcher 0.6, vmcaster 0.0.x; reference §3.9 and §4.4) into a store by hand:
// from another database, or from the store's own database (what `vmcatcher import-legacy` does when opening
// refused). Everything is one transaction: a conflict or any failure leaves the store as it was. The source
// is only read.
import type { Store } from '../api.js';
import { StoreError } from '../errors.js';
import { writeMeta } from '../meta.js';
import { storeInternals } from '../store.js';
import { databaseIdentity, parseStoreUrl, type ParsedStoreUrl } from '../url.js';
import { legacyCounts } from './in-place.js';
import { describeLegacySchema, LEGACY_MARKER_KEY, type LegacyMarker, type LegacyTool } from './schema.js';
import { type LegacySource, openLegacySource, sourceOver } from './source.js';
import { importVmcaster, type LegacyVmcasterImportResult } from './vmcaster.js';
import { importVmcatcher, type LegacyVmcatcherImportResult } from './vmcatcher.js';

export type { LegacyVmcasterImportResult, LegacyVmcatcherImportResult };
export type { LegacyTool };

export interface LegacyImportOptions {
  /**
   * Replace what the store holds on the imported side (its endorsers and subscriptions for vmcatcher; endorsers,
   * lists and images for vmcaster) instead of adding to it. Without it, a conflict with existing rows is
   * `ERR_STORE_CONFLICT` and nothing is imported.
   */
  replace?: boolean;
}

export interface LegacyImportResult {
  /** The original tools whose tables were imported. */
  tools: LegacyTool[];
  vmcatcher?: LegacyVmcatcherImportResult;
  vmcaster?: LegacyVmcasterImportResult;
  /** True when the source was the store's own database (the migration is then recorded, and not repeated). */
  inPlace: boolean;
}

type Which = LegacyTool | 'detect';

async function run(
  fromUrl: string,
  store: Store,
  which: Which,
  options: LegacyImportOptions,
): Promise<LegacyImportResult> {
  const internals = storeInternals(store);
  let parsed: ParsedStoreUrl;
  try {
    parsed = parseStoreUrl(fromUrl);
  } catch (cause) {
    throw new StoreError(
      'ERR_STORE_LEGACY',
      (cause as Error).message,
      { url: (cause as StoreError).url },
      { cause },
    );
  }
  const inPlace = databaseIdentity(parsed) === internals.dialect.identity;
  const opened = inPlace ? undefined : await openLegacySource(fromUrl);
  const url = parsed.url;
  try {
    return await internals.run(async ({ ctx, subscriber, publisher }) => {
      const src: LegacySource = opened?.source ?? (await sourceOver(ctx.q, ctx.dialect, url));
      const detected = Object.keys(describeLegacySchema(src.tables)) as LegacyTool[];
      const tools = which === 'detect' ? detected : [which];
      if (!tools.length) {
        throw new StoreError(
          'ERR_STORE_LEGACY',
          `${url} holds no tables of the original vmcatcher or vmcaster`,
          { url },
        );
      }
      const result: LegacyImportResult = { tools, inPlace };
      if (tools.includes('vmcatcher')) result.vmcatcher = await importVmcatcher(src, subscriber, options);
      if (tools.includes('vmcaster')) result.vmcaster = await importVmcaster(src, publisher, options);
      if (inPlace) {
        const marker: LegacyMarker = {
          at: internals.now().toISOString(),
          tools,
          counts: await legacyCounts(src, tools),
        };
        await writeMeta(ctx.q, LEGACY_MARKER_KEY, JSON.stringify(marker));
      }
      return result;
    });
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(
      'ERR_STORE_LEGACY',
      `importing ${url} failed: ${(err as Error).message}`,
      { url },
      { cause: err },
    );
  } finally {
    await opened?.close();
  }
}

/**
 * Reads a database made by vmcatcher 0.6 (or older, with fewer columns) and adds its endorsers, principals,
 * subscriptions (credentials kept apart), links, stored lists, image definitions and instances to `toStore`.
 */
export async function importLegacyVmcatcherDb(
  fromUrl: string,
  toStore: Store,
  options: LegacyImportOptions = {},
): Promise<LegacyVmcatcherImportResult> {
  return (await run(fromUrl, toStore, 'vmcatcher', options)).vmcatcher!;
}

/** Reads a database made by vmcaster 0.0.x and adds its endorsers, image lists and images to `toStore`. */
export async function importLegacyVmcasterDb(
  fromUrl: string,
  toStore: Store,
  options: LegacyImportOptions = {},
): Promise<LegacyVmcasterImportResult> {
  return (await run(fromUrl, toStore, 'vmcaster', options)).vmcaster!;
}

/** Imports whichever original tools' tables `fromUrl` holds (`ERR_STORE_LEGACY` when it holds none). */
export async function importLegacyDb(
  fromUrl: string,
  toStore: Store,
  options: LegacyImportOptions = {},
): Promise<LegacyImportResult> {
  return run(fromUrl, toStore, 'detect', options);
}
