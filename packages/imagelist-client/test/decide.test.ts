// The update decision, one row per rule: stored facts, candidate facts, options → decision.
import { describe, expect, it } from 'vitest';
import { decideUpdate, type ListFacts, notOlder, type UpdateDecision } from '../src/index.js';

const T = (s: string) => new Date(`${s}T00:00:00Z`);
const NOW = T('2030-06-15');
const facts = (over: Partial<ListFacts> = {}): ListFacts => ({
  identifier: 'L',
  version: '2.0',
  created: T('2030-06-01'),
  expires: T('2030-07-01'),
  dataHash: 'h2',
  ...over,
});
const stored = facts({ version: '2.0', created: T('2030-06-01'), dataHash: 'h2' });

type Row = [
  name: string,
  stored: ListFacts | undefined,
  candidate: ListFacts,
  options: { expectedIdentifier?: string; authorised?: boolean; force?: boolean },
  expected: Partial<UpdateDecision> & { kind: UpdateDecision['kind'] },
];

const rows: Row[] = [
  ['first list', undefined, facts(), {}, { kind: 'accept', warnings: [] }],
  [
    'newer version',
    stored,
    facts({ version: '2.1', dataHash: 'h3', created: T('2030-06-10') }),
    {},
    { kind: 'accept', warnings: [] },
  ],
  ['identical bytes', stored, facts(), {}, { kind: 'unchanged', retireStored: false }],
  ['identical bytes, forced', stored, facts(), { force: true }, { kind: 'accept', warnings: [] }],
  [
    'same version, other bytes, not older: accepted with a warning',
    stored,
    facts({ dataHash: 'h2b', created: T('2030-06-02') }),
    {},
    { kind: 'accept', warnings: ["Image list 'L' changed without a new version (2.0)"] },
  ],
  [
    'lower version',
    stored,
    facts({ version: '1.9', dataHash: 'h1' }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_LOWER_VERSION', retireStored: false },
  ],
  [
    'numeric version order (2.10 > 2.9)',
    facts({ version: '2.10' }),
    facts({ version: '2.9', dataHash: 'h9' }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_LOWER_VERSION' },
  ],
  [
    'higher version but created before the stored one: rollback',
    stored,
    facts({ version: '3.0', dataHash: 'h3', created: T('2030-05-01') }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_ROLLBACK', retireStored: false },
  ],
  [
    'empty identifier',
    undefined,
    facts({ identifier: '' }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_IDENTIFIER' },
  ],
  [
    'wrong identifier',
    stored,
    facts({ identifier: 'M', dataHash: 'x' }),
    { expectedIdentifier: 'L' },
    { kind: 'refuse', code: 'ERR_LIST_IDENTIFIER', retireStored: false },
  ],
  [
    'created in the future',
    stored,
    facts({ version: '2.1', dataHash: 'h3', created: T('2030-06-16') }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_CREATED_IN_FUTURE', retireStored: false },
  ],
  [
    'not authorised',
    stored,
    facts({ version: '2.1', dataHash: 'h3', created: T('2030-06-10') }),
    { authorised: false },
    { kind: 'refuse', code: 'ERR_LIST_NOT_AUTHORISED', retireStored: false },
  ],
  [
    'expired, newer than stored: the endorser retires the stored list',
    stored,
    facts({ version: '2.1', dataHash: 'h3', created: T('2030-06-10'), expires: T('2030-06-14') }),
    {},
    {
      kind: 'refuse',
      code: 'ERR_LIST_EXPIRED',
      retireStored: true,
      reason: 'the endorser published that the list has expired',
    },
  ],
  [
    'expired, same bytes as stored',
    facts({ expires: T('2030-06-14') }),
    facts({ expires: T('2030-06-14') }),
    {},
    {
      kind: 'refuse',
      code: 'ERR_LIST_EXPIRED',
      retireStored: true,
      reason: 'stored list past its dc:date:expires',
    },
  ],
  [
    'an old expired list replayed with the same version changes nothing',
    stored,
    facts({ dataHash: 'old', created: T('2029-01-01'), expires: T('2029-02-01') }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_EXPIRED', retireStored: false },
  ],
  [
    'an old expired list with a lower version changes nothing',
    stored,
    facts({ version: '1.0', dataHash: 'old', created: T('2029-01-01'), expires: T('2029-02-01') }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_EXPIRED', retireStored: false },
  ],
  [
    'an expired list from an unauthorised signer retires nothing',
    stored,
    facts({ version: '2.1', dataHash: 'h3', created: T('2030-06-10'), expires: T('2030-06-14') }),
    { authorised: false },
    { kind: 'refuse', code: 'ERR_LIST_EXPIRED', retireStored: false },
  ],
  [
    'stored list past its expiry, fetched list unchanged',
    facts({ expires: T('2030-06-10') }),
    facts({ expires: T('2030-06-10') }),
    {},
    { kind: 'refuse', code: 'ERR_LIST_EXPIRED', retireStored: true },
  ],
  [
    'stored list past its expiry, fetched list refused for another reason',
    facts({ expires: T('2030-06-10') }),
    facts({ version: '1.0', dataHash: 'h1', expires: T('2030-07-10') }),
    {},
    {
      kind: 'refuse',
      code: 'ERR_LIST_LOWER_VERSION',
      retireStored: true,
      reason: 'stored list past its dc:date:expires',
    },
  ],
  [
    'stored list past its expiry replaced by a newer one',
    facts({ expires: T('2030-06-10') }),
    facts({ version: '2.1', dataHash: 'h3', created: T('2030-06-12') }),
    {},
    { kind: 'accept', warnings: [] },
  ],
];

describe('decideUpdate', () => {
  it.each(rows)('%s', (_name, s, c, options, expected) => {
    const d = decideUpdate(s, c, { referenceTime: NOW, ...options });
    expect(d).toMatchObject(expected);
    if (d.kind === 'refuse') expect(d.message).toContain(c.identifier || 'dc:identifier');
  });

  it('checks in the original order: identifier, future, expiry, authorisation, versions', () => {
    const code = (c: ListFacts, authorised = false) => {
      const d = decideUpdate(stored, c, { referenceTime: NOW, expectedIdentifier: 'L', authorised });
      return d.kind === 'refuse' ? d.code : d.kind;
    };
    let c = facts({
      identifier: 'M',
      version: '0.1',
      dataHash: 'x',
      created: T('2031-01-01'),
      expires: T('2030-01-01'),
    });
    expect(code(c)).toBe('ERR_LIST_IDENTIFIER');
    c = { ...c, identifier: 'L' };
    expect(code(c)).toBe('ERR_LIST_CREATED_IN_FUTURE');
    c = { ...c, created: T('2029-01-01') };
    expect(code(c)).toBe('ERR_LIST_EXPIRED');
    c = { ...c, expires: T('2031-01-01') };
    expect(code(c)).toBe('ERR_LIST_NOT_AUTHORISED');
    expect(code(c, true)).toBe('ERR_LIST_LOWER_VERSION');
  });

  it('notOlder: version first, then bytes or creation date', () => {
    expect(notOlder(facts({ version: '2.1' }), stored)).toBe(true);
    expect(notOlder(facts({ version: '1.9' }), stored)).toBe(false);
    expect(notOlder(facts(), stored)).toBe(true);
    expect(notOlder(facts({ dataHash: 'z', created: T('2030-05-31') }), stored)).toBe(false);
    expect(notOlder(facts({ dataHash: 'z', created: T('2030-06-01') }), stored)).toBe(true);
  });
});
