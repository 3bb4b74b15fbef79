import { describe, expect, it } from 'vitest';
import { parseLegacyArgs } from '../src/legacy.js';

const sh = (line: string) => {
  // A tiny shell-like splitter for the seed command lines: quotes group words.
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
};
const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';

describe('seed 000 (current flag style)', () => {
  const cases: [string, unknown][] = [
    ['--imagelist-import-smime testing.smime', { kind: 'import-smime', file: 'testing.smime' }],
    [
      '--upload-image /var/lib/libvirt/images/hudson-slave-vm06.desy.de.img --select-image 7b1aea46-8776-4447-9450-00e720fc042c',
      {
        kind: 'upload-image',
        image: '7b1aea46-8776-4447-9450-00e720fc042c',
        file: '/var/lib/libvirt/images/hudson-slave-vm06.desy.de.img',
      },
    ],
    ['--select-imagelist 9b6f --imagelist-show', { kind: 'show', entity: 'imagelist', id: '9b6f' }],
    ['--select-imagelist 9b6f --upload-imagelist', { kind: 'publish', imageList: '9b6f' }],
    ['--imagelist-list', { kind: 'list', entity: 'imagelist' }],
    ['--list-endorser', { kind: 'list', entity: 'endorser' }],
    [`--select-endorser '${DN}' --endorser-show`, { kind: 'show', entity: 'endorser', id: DN }],
    [`--add-endorser "${DN}"`, { kind: 'add', entity: 'endorser', id: DN }],
    [
      `--select-endorser "${DN}" --endorser-key-set 'hv:email' --endorser-value 'owen.synge@desy.de'`,
      { kind: 'set', entity: 'endorser', id: DN, key: 'hv:email', value: 'owen.synge@desy.de' },
    ],
    ['--imagelist-add e38a', { kind: 'add', entity: 'imagelist', id: 'e38a' }],
    [
      `--imagelist-add-endorser --select-endorser "${DN}" --select-imagelist 9b6f`,
      { kind: 'bind', imageList: '9b6f', endorser: DN },
    ],
    [
      `--imagelist-del-endorser --select-endorser "${DN}" --select-imagelist 9b6f`,
      { kind: 'unbind', imageList: '9b6f', endorser: DN },
    ],
    [
      '--select-imagelist e38a --key-set-imagelist "dc:description" --key-value-imagelist "DESY Image List SHaring service"',
      {
        kind: 'set',
        entity: 'imagelist',
        id: 'e38a',
        key: 'dc:description',
        value: 'DESY Image List SHaring service',
      },
    ],
    ['--del-imagelist --select-imagelist 9b6f', { kind: 'del', entity: 'imagelist', id: '9b6f' }],
    [
      '--upload-image sl6.cpio.bz2 --select-image aa42 --verbose --verbose --verbose',
      { kind: 'upload-image', image: 'aa42', file: 'sl6.cpio.bz2' },
    ],
  ];
  for (const [line, action] of cases) {
    it(line, () => {
      expect(parseLegacyArgs(sh(line)).action).toEqual(action);
    });
  }
  it('counts --verbose', () => {
    expect(
      parseLegacyArgs(sh('--select-imagelist x --upload-imagelist --verbose --verbose --verbose')).options
        .verbosity,
    ).toBe(3);
    expect(parseLegacyArgs(sh('--imagelist-list -vv -q')).options.verbosity).toBe(1);
  });
});

describe('seed 001 (noun-first, before 0.0.1)', () => {
  const cases: [string, unknown][] = [
    ['--image-list', { kind: 'list', entity: 'image' }],
    ['--endorser-list', { kind: 'list', entity: 'endorser' }],
    [`--endorser '${DN}' --endorser-show`, { kind: 'show', entity: 'endorser', id: DN }],
    [`--endorser-add "${DN}"`, { kind: 'add', entity: 'endorser', id: DN }],
    [
      `--endorser "${DN}" --endorser-key-set 'hv:email' --endorser-value 'o@x'`,
      { kind: 'set', entity: 'endorser', id: DN, key: 'hv:email', value: 'o@x' },
    ],
    ['--imagelist e38a --imagelist-show', { kind: 'show', entity: 'imagelist', id: 'e38a' }],
    [`--connect --endorser "${DN}" --imagelist 9b6f`, { kind: 'bind', imageList: '9b6f', endorser: DN }],
    [`--disconnect --endorser "${DN}" --imagelist 9b6f`, { kind: 'unbind', imageList: '9b6f', endorser: DN }],
    [
      '--imagelist e38a --imagelist-key-set "dc:description" --imagelist-value "DESY"',
      { kind: 'set', entity: 'imagelist', id: 'e38a', key: 'dc:description', value: 'DESY' },
    ],
    ['--imagelist-del --imagelist 9b6f', { kind: 'del', entity: 'imagelist', id: '9b6f' }],
    ['--image-upload /x.img --image 7b1a', { kind: 'upload-image', image: '7b1a', file: '/x.img' }],
    [`--endorser-show --endorser '${DN}'`, { kind: 'show', entity: 'endorser', id: DN }],
    ['--imagelist 9b6f --update', { kind: 'publish', imageList: '9b6f' }],
    ['--imagelist 9b6f --imagelist-upload', { kind: 'publish', imageList: '9b6f' }],
    [
      '--image 7b1a --image-key-add hv:format --image-value raw.gz',
      { kind: 'set', entity: 'image', id: '7b1a', key: 'hv:format', value: 'raw.gz' },
    ],
    [
      '--image 7b1a --image-key-del hv:format',
      { kind: 'unset', entity: 'image', id: '7b1a', key: 'hv:format' },
    ],
    ['--imagelist 9b6f --imagelist-keys', { kind: 'keys', entity: 'imagelist', id: '9b6f' }],
  ];
  for (const [line, action] of cases) {
    it(line, () => {
      expect(parseLegacyArgs(sh(line)).action).toEqual(action);
    });
  }
});

describe('reference §4.1 options', () => {
  it('global options', () => {
    const r = parseLegacyArgs(
      sh(
        '-d sqlite:////tmp/x.db -C /tmp/c.cfg --x509-dir /d --x509-cert /c --x509-key /k --flag a=b --flag c=d --lifetime-imagelist 7 --select-imagelist L --upload-imagelist',
      ),
    );
    expect(r.options).toMatchObject({
      database: 'sqlite:////tmp/x.db',
      configFile: '/tmp/c.cfg',
      x509Dir: '/d',
      x509Cert: '/c',
      x509Key: '/k',
      flags: ['a=b', 'c=d'],
      lifetimeDays: '7',
    });
    expect(
      parseLegacyArgs(sh('--p12-cert /me.p12 --log-format json --select-imagelist L --upload-imagelist'))
        .options,
    ).toMatchObject({ p12Cert: '/me.p12', logFormat: 'json' });
  });
  it('value files, key deletion, bindings of images', () => {
    expect(
      parseLegacyArgs(sh('--select-image I --key-set-image dc:description --key-value-image-file /f')).action,
    ).toEqual({
      kind: 'set-from-file',
      entity: 'image',
      id: 'I',
      key: 'dc:description',
      file: '/f',
    });
    expect(parseLegacyArgs(sh('--select-imagelist L --key-del-imagelist dc:title')).action).toEqual({
      kind: 'unset',
      entity: 'imagelist',
      id: 'L',
      key: 'dc:title',
    });
    expect(parseLegacyArgs(sh('--select-imagelist L --select-image I --imagelist-add-image')).action).toEqual(
      { kind: 'bind-image', imageList: 'L', image: 'I' },
    );
    expect(parseLegacyArgs(sh('--select-imagelist L --select-image I --imagelist-del-image')).action).toEqual(
      { kind: 'unbind-image', imageList: 'L', image: 'I' },
    );
    expect(parseLegacyArgs(sh('--select-imagelist L --imagelist-list-image')).action).toEqual({
      kind: 'list-images',
      imageList: 'L',
    });
    expect(parseLegacyArgs(sh('--select-imagelist L --imagelist-list-endorser')).action).toEqual({
      kind: 'list-endorsers',
      imageList: 'L',
    });
    expect(parseLegacyArgs(sh(`--del-endorser "${DN}"`)).action).toEqual({
      kind: 'del',
      entity: 'endorser',
      id: DN,
    });
    expect(parseLegacyArgs(sh('--select-image I --add-image')).action).toEqual({
      kind: 'add',
      entity: 'image',
      id: 'I',
    });
    expect(
      parseLegacyArgs(sh('--select-imagelist L --download-imagelist --download-imagelist-flags a,b')).action,
    ).toEqual({ kind: 'download', imageList: 'L' });
    expect(parseLegacyArgs(sh('--import-imagelist-json l.json')).action).toEqual({
      kind: 'import-json',
      file: 'l.json',
    });
    expect(parseLegacyArgs(sh('--show-image --select-image I')).action).toEqual({
      kind: 'show',
      entity: 'image',
      id: 'I',
    });
  });
  it('--option=value works', () => {
    expect(parseLegacyArgs(['--select-imagelist=L', '--upload-imagelist']).action).toEqual({
      kind: 'publish',
      imageList: 'L',
    });
  });
  it('-L is accepted and noted', () => {
    const r = parseLegacyArgs(sh('-L /etc/log.cfg --imagelist-list'));
    expect(r.notes.length).toBe(1);
  });
});

describe('usage errors', () => {
  const bad: [string, RegExp][] = [
    ['--imagelist-list --list-image', /To many actions/],
    ['', /no action/],
    ['--upload-imagelist', /--select-imagelist/],
    ['--frobnicate', /unknown option/],
    ['--select-imagelist', /needs a value/],
    ['--select-image I --key-set-image k', /--key-value-image/],
    ['stray', /unexpected argument/],
  ];
  for (const [line, re] of bad) {
    it(line || '(nothing)', () => {
      let caught: unknown;
      try {
        parseLegacyArgs(sh(line));
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ code: 'ERR_CLI_USAGE' });
      expect((caught as Error).message).toMatch(re);
    });
  }
});
