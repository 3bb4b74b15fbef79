// The one table from error codes to exit statuses of `vmmarketplace`. A new code in either package fails the
// build until it is mapped here.
import type { StoreErrorCode } from '@hepix/imagelist-store';
import type { MarketplaceErrorCode } from '../errors.js';

export const EXIT = {
  ERR_MARKET_INTERNAL: 1,
  ERR_MARKET_USAGE: 2,
  ERR_MARKET_CONFIG: 3,
  ERR_MARKET_BAD_REQUEST: 10,
  ERR_MARKET_TOO_LARGE: 11,
  ERR_MARKET_NO_SIGNATURE: 12,
  ERR_MARKET_SIGNATURE: 13,
  ERR_MARKET_NOT_IMAGELIST: 14,
  ERR_MARKET_SIGNER_MISMATCH: 15,
  ERR_MARKET_EXPIRED: 16,
  ERR_MARKET_CREATED_IN_FUTURE: 17,
  ERR_MARKET_ENDORSER_NOT_ALLOWED: 18,
  ERR_MARKET_LIST_OWNER: 19,
  ERR_MARKET_READ_ONLY: 20,
  ERR_MARKET_NOT_NEWER: 21,
  ERR_MARKET_NOT_FOUND: 22,
  ERR_MARKET_HTTP: 30,
  ERR_STORE_URL: 40,
  ERR_STORE_OPEN: 41,
  ERR_STORE_MIGRATION: 42,
  ERR_STORE_NOT_FOUND: 43,
  ERR_STORE_CONFLICT: 44,
  ERR_STORE_INVALID: 45,
  ERR_STORE_LOCKED: 46,
  ERR_STORE_LEGACY: 47,
  ERR_STORE_INTERNAL: 48,
} as const satisfies Record<MarketplaceErrorCode | StoreErrorCode, number>;

type CliErrorCode = keyof typeof EXIT;

/** The exit status of an error: its code's, or ERR_MARKET_INTERNAL's for anything unexpected. */
export function exitStatusOf(err: unknown): number {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code in EXIT ? EXIT[code as CliErrorCode] : EXIT.ERR_MARKET_INTERNAL;
}
