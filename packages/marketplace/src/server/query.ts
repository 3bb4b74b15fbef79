// Request parameters → repository queries, with every value checked (unknown sort keys, negative offsets and
// the like are ERR_MARKET_BAD_REQUEST, never passed on).
import { MarketplaceError } from '../errors.js';
import { DEFAULT_PAGE_SIZE, type ImageQuery, MAX_PAGE_SIZE } from '../store.js';

const TEXT_FILTERS = [
  'os',
  'osversion',
  'arch',
  'endorser',
  'vo',
  'format',
  'hypervisor',
  'sha512',
  'q',
] as const;
const STATUSES = ['valid', 'expired', 'deprecated', 'all'] as const;
const SORTS = ['created', 'title', 'os'] as const;
const ORDERS = ['asc', 'desc'] as const;
/** Longest filter value accepted (a DN is the longest thing anyone types). */
const MAX_FILTER_LENGTH = 1024;

function bad(message: string): MarketplaceError {
  return new MarketplaceError('ERR_MARKET_BAD_REQUEST', message);
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw bad(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function integer(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < min) throw bad(`${name} must be an integer ≥ ${min}`);
  return Number(value);
}

/** Paging parameters; `limit` above MAX_PAGE_SIZE is clamped, not refused. */
export function parsePage(get: (name: string) => string | undefined): { limit: number; offset: number } {
  const limit = integer('limit', get('limit'), 1) ?? DEFAULT_PAGE_SIZE;
  return { limit: Math.min(limit, MAX_PAGE_SIZE), offset: integer('offset', get('offset'), 0) ?? 0 };
}

export function parseImageQuery(get: (name: string) => string | undefined): ImageQuery {
  const query: ImageQuery = { ...parsePage(get) };
  for (const name of TEXT_FILTERS) {
    const v = get(name)?.trim();
    if (v === undefined || v === '') continue;
    if (v.length > MAX_FILTER_LENGTH) throw bad(`${name} is longer than ${MAX_FILTER_LENGTH} characters`);
    query[name] = v;
  }
  query.status = oneOf('status', get('status'), STATUSES) ?? 'valid';
  query.sort = oneOf('sort', get('sort'), SORTS) ?? 'created';
  query.order = oneOf('order', get('order'), ORDERS) ?? (query.sort === 'created' ? 'desc' : 'asc');
  return query;
}
