// The pure pieces of the legacy migration: which original schema a database holds, what opening it does, the
// copy's name, and the originals' time values.
import { describe, expect, it } from 'vitest';
import type { TableInfo } from '../src/dialect.js';
import {
  backupSuffix,
  describeLegacySchema,
  type LegacyPlanInput,
  planLegacyMigration,
} from '../src/legacy/schema.js';
import { decodeStoredList, legacyTime } from '../src/legacy/values.js';

const t = (name: string, ...columns: string[]): TableInfo => ({ name, columns });

const VMCATCHER_06: TableInfo[] = [
  t('endorser', 'id', 'identifier'),
  t('endorserPrincible', 'id', 'hv_dn', 'hv_ca', 'endorser'),
  t(
    'subscription',
    'id',
    'identifier',
    'description',
    'uri',
    'authorised',
    'imagelist_latest',
    'updated',
    'trustanchor',
    'username',
    'password',
    'updatemode',
  ),
  t('subscriptionAuth', 'id', 'subscription', 'endorser', 'authorised'),
  t('ImageDefinition', 'id', 'identifier', 'latest', 'cache', 'subscription'),
  t(
    'imageListInstance',
    'id',
    'data',
    'data_hash',
    'expired',
    'sub_auth',
    'imported',
    'created',
    'expires',
    'version',
  ),
  t('ImageInstance', 'id', 'sha512', 'uri', 'size', 'fkidentifier', 'fkimagelistinstance'),
];
const VMCASTER_00: TableInfo[] = [
  t('endorser', 'id', 'subject'),
  t('endorserMetadata', 'id', 'fkendorser', 'key', 'value'),
  t('imagelist', 'id', 'identifier', 'updated'),
  t('ImagelistMetadata', 'id', 'fkimagelist', 'key', 'value'),
  t('Image', 'id', 'identifier'),
  t('ImageMetadata', 'id', 'fkimage', 'key', 'value'),
  t('Endorsement', 'id', 'fkimagelist', 'fkendorser'),
  t('ImageListImage', 'id', 'fkimagelist', 'fkimage'),
];
const OURS: TableInfo[] = [
  t('store_meta', 'key', 'value'),
  t('sub_subscription', 'id'),
  t('pub_image', 'id'),
];

describe('describeLegacySchema', () => {
  const summary = (tables: TableInfo[]) =>
    Object.fromEntries(Object.entries(describeLegacySchema(tables)).map(([tool, s]) => [tool, s!.problems]));
  it.each([
    ['an empty database', [], {}],
    ["only this version's tables", OURS, {}],
    ['vmcatcher 0.6', VMCATCHER_06, { vmcatcher: [] }],
    [
      'an older vmcatcher (no trust anchor, credentials, update mode; no lists yet)',
      [
        t('endorser', 'id', 'identifier'),
        t('endorserPrincible', 'id', 'hv_dn', 'hv_ca', 'endorser'),
        t('subscription', 'id', 'identifier', 'uri', 'authorised', 'imagelist_latest', 'updated'),
      ],
      { vmcatcher: [] },
    ],
    [
      'vmcatcher with a column the importer needs missing',
      VMCATCHER_06.map((x) => (x.name === 'subscription' ? t('subscription', 'id', 'identifier') : x)),
      { vmcatcher: ["table 'subscription' has no column 'uri'"] },
    ],
    [
      'vmcatcher without its endorser table',
      VMCATCHER_06.filter((x) => x.name !== 'endorser'),
      { vmcatcher: ["table 'endorser' is missing"] },
    ],
    ['vmcaster 0.0.x', VMCASTER_00, { vmcaster: [] }],
    [
      'table names in another case (PostgreSQL folds unquoted names)',
      VMCASTER_00.map((x) => t(x.name.toLowerCase(), ...x.columns)),
      { vmcaster: [] },
    ],
    [
      'generic names alone are not an original database',
      [t('subscription', 'id'), t('image', 'id'), t('endorser', 'id')],
      {},
    ],
    [
      'both tools in one database (they clash on endorser)',
      [...VMCATCHER_06, ...VMCASTER_00.filter((x) => x.name !== 'endorser')],
      { vmcatcher: [], vmcaster: ["table 'endorser' has no column 'subject'"] },
    ],
  ])('%s', (_name, tables, expected) => {
    expect(summary(tables)).toEqual(expected);
  });
});

describe('planLegacyMigration', () => {
  const URL = 'sqlite:///vmcatcher.db';
  const counts06 = { endorser: 1, endorserPrincible: 1, subscription: 2 };
  const input = (over: Partial<LegacyPlanInput>): LegacyPlanInput => ({
    url: URL,
    schema: describeLegacySchema(VMCATCHER_06),
    counts: counts06,
    storeHasData: { subscriber: false, publisher: false },
    ...over,
  });
  it.each<[string, Partial<LegacyPlanInput>, Record<string, unknown>]>([
    ['no original tables: nothing', { schema: {} }, { action: 'none' }],
    ['original tables without rows: nothing', { counts: {} }, { action: 'none' }],
    ['original data, ours empty: migrate', {}, { action: 'migrate', tools: ['vmcatcher'] }],
    [
      'original data and publisher data of ours: still migrate (other side)',
      { storeHasData: { subscriber: false, publisher: true } },
      { action: 'migrate', tools: ['vmcatcher'] },
    ],
    [
      'already migrated: nothing',
      { marker: { at: '2026-01-01T00:00:00.000Z', tools: ['vmcatcher'], counts: counts06 } },
      { action: 'none' },
    ],
  ])('%s', (_name, over, expected) => {
    expect(planLegacyMigration(input(over))).toEqual(expected);
  });

  it('refuses original data beside data of ours, naming the command with --force', () => {
    const plan = planLegacyMigration(input({ storeHasData: { subscriber: true, publisher: false } }));
    expect(plan.action).toBe('refuse');
    const message = (plan as { message: string }).message;
    expect(message).toContain('nothing was changed');
    expect(message).toContain(`vmcatcher import-legacy -d '${URL}' --from '${URL}' --force`);
  });

  it('refuses an original schema it cannot read, naming what is missing and the command', () => {
    const tables = VMCATCHER_06.map((x) =>
      x.name === 'endorserPrincible' ? t('endorserPrincible', 'id', 'endorser') : x,
    );
    const plan = planLegacyMigration(input({ schema: describeLegacySchema(tables) }));
    expect(plan.action).toBe('refuse');
    const message = (plan as { message: string }).message;
    expect(message).toContain("table 'endorserPrincible' has no column 'hv_dn'");
    expect(message).toContain(`vmcatcher import-legacy -d '${URL}' --from '${URL}'`);
    // An unreadable schema without rows does not stop anyone.
    expect(planLegacyMigration(input({ schema: describeLegacySchema(tables), counts: {} }))).toEqual({
      action: 'none',
    });
  });

  it('says when the original tables changed after the migration', () => {
    const plan = planLegacyMigration(
      input({
        marker: {
          at: '2026-01-01T00:00:00.000Z',
          tools: ['vmcatcher'],
          counts: { ...counts06, subscription: 1 },
        },
      }),
    );
    expect(plan).toMatchObject({ action: 'none' });
    expect((plan as { note: string }).note).toContain(
      "'subscription' changed after they were migrated on 2026-01-01",
    );
    expect((plan as { note: string }).note).toContain('--force');
  });

  it('migrates both tools when both have data', () => {
    const schema = describeLegacySchema(VMCASTER_00);
    expect(
      planLegacyMigration(
        input({
          schema: { ...describeLegacySchema(VMCATCHER_06), ...schema },
          counts: { ...counts06, Image: 3 },
        }),
      ),
    ).toEqual({ action: 'migrate', tools: ['vmcatcher', 'vmcaster'] });
  });
});

describe('backupSuffix', () => {
  it.each([
    ['2026-01-02T03:04:05.678Z', '.orig-20260102T030405Z'],
    ['1999-12-31T23:59:59.999Z', '.orig-19991231T235959Z'],
  ])('%s → %s', (at, suffix) => {
    expect(backupSuffix(new Date(at))).toBe(suffix);
  });
});

describe('legacyTime', () => {
  it.each<[unknown, string | null]>([
    ['2018-10-09 12:34:56.123456', '2018-10-09T12:34:56.123Z'],
    ['2018-10-09 12:34:56', '2018-10-09T12:34:56.000Z'],
    ['2018-10-09 12:34', '2018-10-09T12:34:00.000Z'],
    ['2018-10-09T12:34:56Z', '2018-10-09T12:34:56.000Z'],
    ['2018-10-09 12:34:56.5+01:00', '2018-10-09T11:34:56.500Z'],
    ['2018-10-09 12:34:56+02', '2018-10-09T10:34:56.000Z'],
    ['2018-10-09 12:34:56-0130', '2018-10-09T14:04:56.000Z'],
    [new Date('2020-01-01T00:00:00Z'), '2020-01-01T00:00:00.000Z'],
    ['', null],
    [null, null],
    ['not a date', null],
  ])('%s → %s', (value, iso) => {
    expect(legacyTime(value)).toBe(iso);
  });
});

describe('decodeStoredList', () => {
  it.each<[string, string, unknown]>([
    ['plain JSON', '{"hv:imagelist":{"dc:identifier":"x"}}', { 'hv:imagelist': { 'dc:identifier': 'x' } }],
    [
      'a multipart/signed message',
      'Content-Type: multipart/signed; boundary="----B"\r\n\r\n------B\r\n{"a":1}\r\n------B\r\nsig\r\n------B--\r\n',
      { a: 1 },
    ],
    ['no JSON at all', 'MIME-Version: 1.0\r\n\r\nbinary', undefined],
  ])('%s', (_name, text, expected) => {
    expect(decodeStoredList(new TextEncoder().encode(text))).toEqual(expected);
  });
});
