// decideIngest: the marketplace's thin layer on decideUpdate, as a table over plain facts.
import { describe, expect, it } from 'vitest';
import { decideIngest, type MarketListFacts } from '../src/index.js';

const NOW = new Date('2030-06-01T00:00:00Z');
const DAY = 86_400_000;
const OWEN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
const JANE = '/C=DE/O=GermanGrid/OU=CERN/CN=Jane Doe';

function facts(over: Partial<MarketListFacts> = {}): MarketListFacts {
  return {
    identifier: 'list-1',
    version: '2',
    created: new Date(NOW.getTime() - 2 * DAY),
    expires: new Date(NOW.getTime() + 30 * DAY),
    dataHash: 'aa',
    endorser: OWEN,
    ...over,
  };
}

const stored = facts();
const rows: [string, MarketListFacts | undefined, MarketListFacts, string][] = [
  ['a new identifier', undefined, facts(), 'accept'],
  ['a higher version', stored, facts({ version: '3', dataHash: 'bb', created: NOW }), 'accept'],
  [
    'a higher version by the same endorser in the OpenSSL 3 DN spelling',
    stored,
    facts({
      version: '3',
      dataHash: 'bb',
      created: NOW,
      endorser: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge',
    }),
    'accept',
  ],
  ['the same bytes again', stored, facts(), 'ERR_MARKET_NOT_NEWER'],
  ['the same version, other bytes', stored, facts({ dataHash: 'bb', created: NOW }), 'ERR_MARKET_NOT_NEWER'],
  [
    'a lower version',
    stored,
    facts({ version: '1.9', dataHash: 'bb', created: NOW }),
    'ERR_MARKET_NOT_NEWER',
  ],
  [
    'a higher version created before the stored one (rollback)',
    stored,
    facts({ version: '3', dataHash: 'bb', created: new Date(NOW.getTime() - 3 * DAY) }),
    'ERR_MARKET_NOT_NEWER',
  ],
  [
    "another endorser's higher version",
    stored,
    facts({ version: '9', dataHash: 'bb', endorser: JANE }),
    'ERR_MARKET_LIST_OWNER',
  ],
  [
    "another endorser's lower version",
    stored,
    facts({ version: '1', dataHash: 'bb', endorser: JANE }),
    'ERR_MARKET_LIST_OWNER',
  ],
  ['an expired list', undefined, facts({ expires: new Date(NOW.getTime() - DAY) }), 'ERR_MARKET_EXPIRED'],
  [
    'an expired list of another endorser (dates first)',
    stored,
    facts({ version: '9', endorser: JANE, expires: new Date(NOW.getTime() - 1) }),
    'ERR_MARKET_EXPIRED',
  ],
  [
    'a list created in the future',
    undefined,
    facts({ created: new Date(NOW.getTime() + DAY) }),
    'ERR_MARKET_CREATED_IN_FUTURE',
  ],
  ['an empty identifier', undefined, facts({ identifier: '' }), 'ERR_MARKET_NOT_IMAGELIST'],
];

describe('decideIngest', () => {
  it.each(rows)('%s', (_name, before, candidate, expected) => {
    const d = decideIngest(before, candidate, { referenceTime: NOW });
    expect(d.kind === 'accept' ? 'accept' : d.code).toBe(expected);
    if (d.kind === 'refuse') expect(d.message).toContain(candidate.identifier);
  });
});
