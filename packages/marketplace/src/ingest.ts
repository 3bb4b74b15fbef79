// Accepting a signed list: size cap, signature with CRLs, signer == hv:endorser, the endorser allow list,
// dates, and "newer than the stored list", then one transaction. Nothing is stored unless every check passes.
import { type Logger, noopLogger, sha512Hex } from '@hepix/common';
import type { TrustStore } from '@hepix/smime-x509';
import { decideIngest } from './decide.js';
import { listRecord } from './entries.js';
import { MarketplaceError } from './errors.js';
import type { MarketplaceRepository } from './store.js';
import { type CrlPolicy, openMarketplaceList } from './verify.js';

/** Largest signed list accepted by default (64 MiB). */
export const DEFAULT_MAX_LIST_BYTES = 64 * 1024 * 1024;

export interface IngestResult {
  identifier: string;
  version: string;
  /** Number of image entries stored. */
  images: number;
  warnings: string[];
}

export interface IngestOptions {
  repository: MarketplaceRepository;
  /** The trust directory's contents; called for every list, so a cached store can be refreshed (new CRLs). */
  trust: () => Promise<TrustStore> | TrustStore;
  /** When not empty, the signer's DN must match one of these (whole DN; see compileEndorserPatterns). */
  allowEndorsers?: readonly RegExp[];
  maxListBytes?: number;
  /** Default `require`. */
  crl?: CrlPolicy;
  now?: () => Date;
  log?: Logger;
}

export interface Ingester {
  ingest(data: Uint8Array, context?: { source?: string }): Promise<IngestResult>;
}

/**
 * `--allow-endorser` patterns compiled once: each must match the whole canonical DN of the signer. An invalid
 * regular expression is ERR_MARKET_CONFIG (at start, never at the first upload).
 */
export function compileEndorserPatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    try {
      return new RegExp(`^(?:${p})$`, 'u');
    } catch (cause) {
      throw new MarketplaceError(
        'ERR_MARKET_CONFIG',
        `--allow-endorser '${p}' is not a valid regular expression`,
        {
          cause,
        },
      );
    }
  });
}

export function createIngester(options: IngestOptions): Ingester {
  const maxBytes = options.maxListBytes ?? DEFAULT_MAX_LIST_BYTES;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? noopLogger;
  const allow = options.allowEndorsers ?? [];
  return {
    async ingest(data, context = {}) {
      if (data.byteLength > maxBytes) {
        throw new MarketplaceError('ERR_MARKET_TOO_LARGE', `the list is larger than ${maxBytes} bytes`);
      }
      if (data.byteLength === 0) throw new MarketplaceError('ERR_MARKET_BAD_REQUEST', 'empty list');
      const at = now();
      const opened = await openMarketplaceList(data, { trust: await options.trust(), at, crl: options.crl });
      const signer = opened.signer.subject;
      if (allow.length && !allow.some((re) => re.test(signer))) {
        throw new MarketplaceError(
          'ERR_MARKET_ENDORSER_NOT_ALLOWED',
          `the signer '${signer}' is not an endorser this marketplace accepts`,
          { list: opened.identifier },
        );
      }
      const record = listRecord(opened);
      const sha512 = sha512Hex(data);
      let warnings: string[] = [];
      await options.repository.saveList({
        record,
        data,
        sha512,
        decide: (stored) => {
          const decision = decideIngest(
            stored,
            {
              identifier: record.identifier,
              version: record.version,
              created: record.created,
              expires: record.expires,
              dataHash: sha512,
              endorser: record.endorser.dn,
            },
            { referenceTime: at },
          );
          if (decision.kind === 'accept') warnings = decision.warnings;
          return decision;
        },
      });
      log(
        'info',
        `stored list ${record.identifier} version ${record.version} (${record.images.length} images)`,
        {
          subscription: record.identifier,
          ...(context.source ? { source: context.source } : {}),
        },
      );
      return {
        identifier: record.identifier,
        version: record.version,
        images: record.images.length,
        warnings: [...opened.warnings, ...warnings],
      };
    },
  };
}
