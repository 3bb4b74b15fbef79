// The one error class of the marketplace. Each code has the HTTP status the API answers with; the CLI maps
// the same codes to exit statuses in its own table (src/cli/exit.ts).
import { assignDefined, HepixError } from '@hepix/common';

export const MARKETPLACE_ERROR_CODES = [
  'ERR_MARKET_USAGE',
  'ERR_MARKET_CONFIG',
  'ERR_MARKET_BAD_REQUEST',
  'ERR_MARKET_TOO_LARGE',
  'ERR_MARKET_NO_SIGNATURE',
  'ERR_MARKET_SIGNATURE',
  'ERR_MARKET_NOT_IMAGELIST',
  'ERR_MARKET_SIGNER_MISMATCH',
  'ERR_MARKET_EXPIRED',
  'ERR_MARKET_CREATED_IN_FUTURE',
  'ERR_MARKET_ENDORSER_NOT_ALLOWED',
  'ERR_MARKET_LIST_OWNER',
  'ERR_MARKET_READ_ONLY',
  'ERR_MARKET_NOT_NEWER',
  'ERR_MARKET_NOT_FOUND',
  'ERR_MARKET_HTTP',
  'ERR_MARKET_INTERNAL',
] as const;

export type MarketplaceErrorCode = (typeof MARKETPLACE_ERROR_CODES)[number];

/** The HTTP status the API answers each code with. */
export const MARKETPLACE_HTTP_STATUS = {
  ERR_MARKET_USAGE: 400,
  ERR_MARKET_CONFIG: 500,
  ERR_MARKET_BAD_REQUEST: 400,
  ERR_MARKET_TOO_LARGE: 413,
  ERR_MARKET_NO_SIGNATURE: 422,
  ERR_MARKET_SIGNATURE: 422,
  ERR_MARKET_NOT_IMAGELIST: 422,
  ERR_MARKET_SIGNER_MISMATCH: 422,
  ERR_MARKET_EXPIRED: 422,
  ERR_MARKET_CREATED_IN_FUTURE: 422,
  ERR_MARKET_ENDORSER_NOT_ALLOWED: 403,
  ERR_MARKET_LIST_OWNER: 403,
  ERR_MARKET_READ_ONLY: 403,
  ERR_MARKET_NOT_NEWER: 409,
  ERR_MARKET_NOT_FOUND: 404,
  ERR_MARKET_HTTP: 502,
  ERR_MARKET_INTERNAL: 500,
} as const satisfies Record<MarketplaceErrorCode, number>;

export interface MarketplaceErrorContext {
  /** The list `dc:identifier` concerned. */
  list?: string;
  /** The image `dc:identifier` concerned. */
  image?: string;
  /** The URL concerned (client side: the marketplace or primary asked). */
  url?: string;
  /** Client side: the HTTP status the server answered. */
  httpStatus?: number;
  /** The code of the underlying library error (`ERR_SMIME_REVOKED`, …), so callers need not walk `cause`. */
  reason?: string;
  /** The file concerned (CLI). */
  path?: string;
  cause?: unknown;
}

export class MarketplaceError extends HepixError<MarketplaceErrorCode> {
  override readonly name = 'MarketplaceError';
  readonly list?: string;
  readonly image?: string;
  readonly url?: string;
  readonly httpStatus?: number;
  readonly reason?: string;
  readonly path?: string;

  constructor(code: MarketplaceErrorCode, message: string, context: MarketplaceErrorContext = {}) {
    const { cause, ...fields } = context;
    super(code, message, { cause });
    assignDefined<MarketplaceError>(this, fields);
  }
}

export function isMarketplaceErrorCode(code: unknown): code is MarketplaceErrorCode {
  return typeof code === 'string' && (MARKETPLACE_ERROR_CODES as readonly string[]).includes(code);
}

/** `err` as a MarketplaceError: itself, or ERR_MARKET_INTERNAL wrapping it (never a misleading code). */
export function toMarketplaceError(err: unknown): MarketplaceError {
  if (err instanceof MarketplaceError) return err;
  return new MarketplaceError(
    'ERR_MARKET_INTERNAL',
    `internal error: ${(err as Error)?.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}
