import { describe, expect, it } from 'vitest';
import { type OptionSpec, parseOptions, UsageError } from '../src/common/options.js';

const specs: OptionSpec[] = [
  { dest: 'verbose', short: 'v', long: ['verbose'], kind: 'count', help: '' },
  { dest: 'list', short: 'l', long: ['list'], kind: 'flag', help: '' },
  { dest: 'uuid', short: 'u', long: ['uuid', 'uid'], kind: 'append', help: '' },
  { dest: 'uri', short: 'r', long: ['uri'], kind: 'append', help: '' },
  { dest: 'format', short: 'f', long: ['format'], kind: 'value', help: '' },
  { dest: 'endorser', short: 'e', long: ['endorser_uuid'], kind: 'append', help: '' },
  { dest: 'update', short: 'U', long: ['update'], kind: 'flag', help: '' },
  { dest: 'updateMode', long: ['update-mode'], kind: 'value', help: '' },
];

describe('parseOptions (optparse conventions)', () => {
  it('handles clustered counters, attached and separate values, = forms and appends', () => {
    const { options, positionals } = parseOptions(
      [
        '-vv',
        '-lufirst',
        '--uuid',
        'second',
        '--uid=third',
        '-f',
        'json',
        '--endorser_uuid=Predrag Buncic',
        'rest',
      ],
      specs,
    );
    expect(options).toEqual({
      verbose: 2,
      list: true,
      uuid: ['first', 'second', 'third'],
      format: 'json',
      endorser: ['Predrag Buncic'],
    });
    expect(positionals).toEqual(['rest']);
  });

  it('accepts unambiguous abbreviations of long options and rejects ambiguous ones', () => {
    expect(parseOptions(['--endorser=x'], specs).options.endorser).toEqual(['x']);
    expect(() => parseOptions(['--upd'], specs)).toThrow(/ambiguous option: --upd/);
    expect(() => parseOptions(['--nope'], specs)).toThrow(UsageError);
    expect(() => parseOptions(['-Z'], specs)).toThrow(/no such option: -Z/);
    expect(() => parseOptions(['-f'], specs)).toThrow(/requires an argument/);
    expect(() => parseOptions(['--list=1'], specs)).toThrow(/does not take a value/);
  });

  it('stops at --', () => {
    expect(parseOptions(['-l', '--', '-v'], specs)).toEqual({ options: { list: true }, positionals: ['-v'] });
  });
});
