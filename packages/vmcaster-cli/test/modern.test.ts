import { describe, expect, it } from 'vitest';
import { parseModernArgs } from '../src/modern.js';

const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';

describe('subcommands translate to the same actions as the flag style', () => {
  const cases: [string[], unknown][] = [
    [['image', 'upload', 'f.img', '--image', 'U'], { kind: 'upload-image', image: 'U', file: 'f.img' }],
    [['imagelist', 'publish', '--imagelist', 'L'], { kind: 'publish', imageList: 'L' }],
    [['imagelist', 'publish', 'L'], { kind: 'publish', imageList: 'L' }],
    [['imagelist', 'show', 'L'], { kind: 'show', entity: 'imagelist', id: 'L' }],
    [['imagelist', 'show', 'L', '--stored'], { kind: 'show', entity: 'imagelist', id: 'L', stored: true }],
    [['endorser', 'show', DN], { kind: 'show', entity: 'endorser', id: DN }],
    [
      ['endorser', 'set', DN, 'hv:email', 'o@x'],
      { kind: 'set', entity: 'endorser', id: DN, key: 'hv:email', value: 'o@x' },
    ],
    [
      ['image', 'set', 'U', 'dc:description', '--value-file', 'd.txt'],
      { kind: 'set-from-file', entity: 'image', id: 'U', key: 'dc:description', file: 'd.txt' },
    ],
    [['image', 'unset', 'U', 'hv:format'], { kind: 'unset', entity: 'image', id: 'U', key: 'hv:format' }],
    [['imagelist', 'bind-endorser', 'L', DN], { kind: 'bind', imageList: 'L', endorser: DN }],
    [
      ['imagelist', 'unbind-image', 'L', '--image', 'U'],
      { kind: 'unbind-image', imageList: 'L', image: 'U' },
    ],
    [['imagelist', 'import-smime', 'x.smime'], { kind: 'import-smime', file: 'x.smime' }],
    [['imagelist', 'download', 'L'], { kind: 'download', imageList: 'L' }],
    [['image', 'list'], { kind: 'list', entity: 'image' }],
    [['image', 'deprecate', 'U', '--reason', 'use V'], { kind: 'deprecate', image: 'U', reason: 'use V' }],
    [['image', 'undeprecate', 'U'], { kind: 'undeprecate', image: 'U' }],
    [['image', 'add-location', 'U', 'https://m/x'], { kind: 'add-location', image: 'U', url: 'https://m/x' }],
    [
      ['image', 'remove-location', 'U', 'https://m/x'],
      { kind: 'remove-location', image: 'U', url: 'https://m/x' },
    ],
  ];
  for (const [argv, action] of cases) {
    it(argv.join(' '), async () => {
      const r = await parseModernArgs(argv);
      expect('action' in r && r.action).toEqual(action);
    });
  }
  it('global options, repeated -v, --flag, --no-verify', async () => {
    const r = await parseModernArgs([
      'imagelist',
      'import-smime',
      'x',
      '-d',
      'sqlite:///a.db',
      '-vv',
      '--verbose',
      '-q',
      '--flag',
      'egiappdb:insert=true',
      '--no-verify',
      '--ca-dir',
      '/ca',
      '--json',
    ]);
    expect('options' in r && r.options).toMatchObject({
      database: 'sqlite:///a.db',
      verbosity: 2,
      flags: ['egiappdb:insert=true'],
      noVerify: true,
      caDir: '/ca',
      json: true,
    });
  });
  it('--p12-cert and --log-format', async () => {
    const r = await parseModernArgs([
      'imagelist',
      'publish',
      'L',
      '--p12-cert',
      'me.p12',
      '--log-format',
      'json',
    ]);
    expect('options' in r && r.options).toMatchObject({ p12Cert: 'me.p12', logFormat: 'json' });
  });
  it('help renders the usage of the named command', async () => {
    const r = await parseModernArgs(['image', 'upload', '--help']);
    expect('usage' in r && r.usage).toMatch(/USAGE vmcaster image upload/);
  });
  it('usage errors', async () => {
    await expect(parseModernArgs(['image', 'upload', 'f'])).rejects.toMatchObject({
      code: 'ERR_CLI_USAGE',
    });
    await expect(parseModernArgs(['image', 'nope'])).rejects.toMatchObject({ code: 'ERR_CLI_USAGE' });
    await expect(parseModernArgs(['image', 'deprecate', 'U'])).rejects.toMatchObject({
      code: 'ERR_CLI_USAGE',
    });
    await expect(parseModernArgs(['image', 'add-location', 'U'])).rejects.toMatchObject({
      code: 'ERR_CLI_USAGE',
    });
  });
});
