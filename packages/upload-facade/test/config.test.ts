import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BackendFactory,
  createUploadFacade,
  loadUploadConfig,
  parseUploadConfig,
  pythonSub,
  UPLOAD_DIAGNOSTICS_CHANNEL,
  type UploadDiagnostic,
  UploadError,
} from '../src/index.js';

function codeOf(fn: () => unknown): UploadError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UploadError);
    return err as UploadError;
  }
  throw new Error('expected an UploadError');
}

describe('parseUploadConfig', () => {
  it('reads the sections of the vmcaster README, legacy keys included, with deprecation warnings', () => {
    // verbatim from the vmcaster README (indented as there)
    const text = `
   [dish.desy.de]
   server = "dish.desy.de"
   writeprotocol = "gsidcap"
   uriMatch = "https://dish.desy.de:2880/"
   uriReplace = "gsidcap://dcache-desy-gsidcap.desy.de:22128/pnfs/desy.de/desy/vmimages/"

   [foo]
   server = "gridvirt.desy.de"
   writeprotocol = "scp"
   readprefix = "https://gridvirt.desy.de/"
   writeprefix = "root@vmic-virt-grid:/tmp/"
`;
    const cfg = parseUploadConfig(text, '/etc/vmcaster/vmcaster.cfg');
    expect(cfg.file).toBe('/etc/vmcaster/vmcaster.cfg');
    expect(cfg.sections).toEqual([
      {
        name: 'dish.desy.de',
        server: 'dish.desy.de',
        protocol: 'gsidcap',
        uriMatch: 'https://dish.desy.de:2880/',
        uriReplace: 'gsidcap://dcache-desy-gsidcap.desy.de:22128/pnfs/desy.de/desy/vmimages/',
        options: {},
      },
      {
        name: 'foo',
        server: 'gridvirt.desy.de',
        protocol: 'scp',
        uriMatch: 'https://gridvirt.desy.de/',
        uriReplace: 'root@vmic-virt-grid:/tmp/',
        options: {},
      },
    ]);
    expect(cfg.warnings).toHaveLength(4);
    expect(cfg.warnings?.join('\n')).toMatch(/\[foo\]: key "readprefix" is deprecated, use "uriMatch"/);
  });

  it('keeps other keys as JSON options, applies [DEFAULT], accepts comments, ":" and continuation lines', () => {
    const cfg = parseUploadConfig(
      [
        '; comment',
        '[DEFAULT]',
        'timeout = 30',
        '[web]',
        '# another comment',
        'server: "WWW.Example.org"',
        'protocol = "sftp"',
        'uriMatch = "https://www.example.org/(.*)"',
        'uriReplace = "sftp://up@files:2222/srv/\\\\1"',
        'knownHosts = "/etc/ssh/ssh_known_hosts"',
        'argv = ["a",',
        '  "b"]',
        'allowUnknownHost = false',
        'concurrency = 8 ; inline comment',
      ].join('\n'),
      'x.cfg',
    );
    const s = cfg.sections[0];
    expect(s.server).toBe('www.example.org');
    expect(s.uriReplace).toBe('sftp://up@files:2222/srv/\\1');
    expect(s.options).toEqual({
      timeout: 30,
      knownHosts: '/etc/ssh/ssh_known_hosts',
      argv: ['a', 'b'],
      allowUnknownHost: false,
      concurrency: 8,
    });
  });

  it('lets the last section for a server win', () => {
    const sec = (n: string, proto: string) =>
      `[${n}]\nserver = "h"\nprotocol = "${proto}"\nuriMatch = "x"\nuriReplace = "/y"\n`;
    const cfg = parseUploadConfig(sec('a', 'scp') + sec('b', 'local'));
    expect(cfg.sections.map((s) => s.name)).toEqual(['b']);
    expect(cfg.warnings?.[0]).toMatch(/\[b\] replaces section \[a\]/);
  });

  it('names file, section and key in every error', () => {
    const cases: [string, RegExp, string | undefined, string | undefined][] = [
      ['[s]\nserver = www.example.org\n', /key "server": value "www.example.org" is not JSON/, 's', 'server'],
      [
        '[s]\nserver = "h"\nprotocol = "scp"\nuriMatch = "x"\n',
        /section \[s\], key "uriReplace": required key is missing/,
        's',
        'uriReplace',
      ],
      [
        '[s]\nserver = "h"\nprotocol = 3\nuriMatch = "x"\nuriReplace = "y"\n',
        /key "protocol": must be a non-empty JSON string/,
        's',
        'protocol',
      ],
      [
        '[s]\nserver = "h"\nprotocol = "scp"\nuriMatch = "(unclosed"\nuriReplace = "y"\n',
        /key "uriMatch": invalid regular expression/,
        's',
        'uriMatch',
      ],
      ['server = "h"\n', /key "server": key before the first \[section\]/, undefined, 'server'],
      ['[s]\nthis line has no equals\n', /line 2, section \[s\]: cannot parse line/, 's', undefined],
    ];
    for (const [text, re, section, key] of cases) {
      const err = codeOf(() => parseUploadConfig(text, '/etc/vmcaster/vmcaster.cfg'));
      expect(err.code).toBe('ERR_UPLOAD_CONFIG');
      expect(err.message).toMatch(/^\/etc\/vmcaster\/vmcaster\.cfg/);
      expect(err.message).toMatch(re);
      expect(err.file).toBe('/etc/vmcaster/vmcaster.cfg');
      expect(err.section).toBe(section);
      expect(err.key).toBe(key);
    }
  });

  it('loadUploadConfig reads a file and reports a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hepix-cfg-'));
    try {
      const f = join(dir, 'vmcaster.cfg');
      await writeFile(
        f,
        '[a]\nserver = "h"\nprotocol = "local"\nuriMatch = "^https://h/"\nuriReplace = "/srv/"\n',
      );
      expect((await loadUploadConfig(f)).sections[0].protocol).toBe('local');
      await expect(loadUploadConfig(join(dir, 'nope.cfg'))).rejects.toMatchObject({
        code: 'ERR_UPLOAD_CONFIG',
        file: join(dir, 'nope.cfg'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pythonSub', () => {
  it('substitutes like Python 2 re.sub', () => {
    expect(pythonSub('https://h/', '/srv/', 'https://h/a/b.img').result).toBe('/srv/a/b.img');
    expect(pythonSub('.*', 'egiappdb://u@appdb/x', 'https://h/list').result).toBe('egiappdb://u@appdb/x');
    expect(pythonSub('^https://h/(\\w+)/(.*)$', '/srv/\\2/\\1', 'https://h/a/b.img').result).toBe(
      '/srv/b.img/a',
    );
    expect(pythonSub('^https://h/(?P<rest>.*)$', '/srv/\\g<rest>', 'https://h/x').result).toBe('/srv/x');
    expect(pythonSub('a', 'b', 'aXa')).toEqual({ result: 'bXb', count: 2 });
    expect(pythonSub('q', '$1$&', 'q').result).toBe('$1$&');
    expect(pythonSub('nomatch', 'x', 'abc').count).toBe(0);
  });
});

describe('createUploadFacade', () => {
  const cfg = parseUploadConfig(
    [
      '[www]',
      'server = "www.example.org"',
      'protocol = "local"',
      'uriMatch = "^https://www.example.org/"',
      'uriReplace = "/srv/www/"',
      '[regex]',
      'server = "re.example.org"',
      'protocol = "local"',
      'uriMatch = "^https://re.example.org/images/(.*)$"',
      'uriReplace = "/data/\\\\1"',
      '[bad]',
      'server = "bad.example.org"',
      'protocol = "nosuch"',
      'uriMatch = "^https://bad.example.org/"',
      'uriReplace = "/x/"',
      '[appdb]',
      'server = "appdb.example.org"',
      'protocol = "egiappdb"',
      'uriMatch = ".*"',
      'uriReplace = "egiappdb://user@appdb-pi.egi.eu/vmcaster"',
    ].join('\n'),
    '/home/u/.vmcaster.cfg',
  );
  const facade = createUploadFacade({ config: cfg });
  afterAll(() => facade.dispose());

  it('maps public URIs to targets by hostname', () => {
    expect(facade.resolve('https://www.example.org/images/a.img')).toMatchObject({
      protocol: 'local',
      target: '/srv/www/images/a.img',
      section: { name: 'www' },
    });
    expect(facade.resolve('https://re.example.org/images/x/y.img').target).toBe('/data/x/y.img');
    expect(facade.resolve('https://appdb.example.org/whatever').target).toBe(
      'egiappdb://user@appdb-pi.egi.eu/vmcaster',
    );
  });

  it('names host and config file when no section serves a host', () => {
    const err = codeOf(() => facade.resolve('https://other.example.org/x'));
    expect(err.code).toBe('ERR_UPLOAD_NO_SECTION');
    expect(err.host).toBe('other.example.org');
    expect(err.message).toContain('other.example.org');
    expect(err.message).toContain('/home/u/.vmcaster.cfg');
  });

  it('refuses targets that escape the prefix, and URIs uriMatch does not match', () => {
    for (const uri of [
      'https://www.example.org/../etc/passwd',
      'https://www.example.org/images/%2e%2e/%2E%2E/etc/passwd',
      'https://re.example.org/images/a/../../../etc/shadow',
      'https://re.example.org/images/..%2f..%2fetc',
    ]) {
      // URL parsing would fold "..": the facade maps the text as given
      const err = codeOf(() => facade.resolve(uri));
      expect(err.code, uri).toBe('ERR_UPLOAD_TARGET');
    }
    expect(codeOf(() => facade.resolve('https://re.example.org/other/x')).code).toBe('ERR_UPLOAD_TARGET');
    expect(codeOf(() => facade.resolve('not a uri')).code).toBe('ERR_UPLOAD_TARGET');
  });

  it('reports an unknown protocol with file, section and key', async () => {
    await expect(facade.put('https://bad.example.org/x', Readable.from([]))).rejects.toMatchObject({
      code: 'ERR_UPLOAD_CONFIG',
      file: '/home/u/.vmcaster.cfg',
      section: 'bad',
      key: 'protocol',
    });
  });

  it('names file, section and key for a bad backend option', async () => {
    const f = createUploadFacade({
      config: parseUploadConfig(
        '[cmd]\nserver = "h"\nprotocol = "command"\nuriMatch = "^https://h/"\nuriReplace = "/x/"\nargv = "cp {local} {remote}"\n',
        '/etc/vmcaster/vmcaster.cfg',
      ),
    });
    const err = await f.put('https://h/a', Readable.from([])).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_UPLOAD_CONFIG',
      file: '/etc/vmcaster/vmcaster.cfg',
      section: 'cmd',
      key: 'argv',
    });
    expect((err as Error).message).toMatch(
      /^\/etc\/vmcaster\/vmcaster\.cfg: section \[cmd\]: command: option "argv" must be an array of strings/,
    );
    await f.dispose();
  });

  it('uses injected backends with merged options and flags, and disposes them', async () => {
    const calls: string[] = [];
    let seen: Record<string, unknown> | undefined;
    const fake: BackendFactory = ({ options, flags, protocol }) => {
      seen = { options, flags, protocol };
      return {
        name: 'recorder',
        capabilities: { delete: false, stat: false, atomicReplace: true },
        async put(target) {
          calls.push(`put ${target}`);
        },
        async dispose() {
          calls.push('dispose');
        },
      };
    };
    const f = createUploadFacade({
      config: parseUploadConfig(
        '[r]\nserver = "h"\nprotocol = "Rec"\nuriMatch = "^https://h/"\nuriReplace = "rec:/"\nk = 2\n',
      ),
      backends: { rec: fake },
      backendOptions: { k: 1, cert: '/c.pem' },
      flags: { 'egiappdb:insert': 'true' },
    });
    await f.put('https://h/a', Readable.from([]));
    await expect(f.delete('https://h/a')).rejects.toMatchObject({ code: 'ERR_UPLOAD_UNSUPPORTED' });
    await expect(f.stat('https://h/a')).rejects.toMatchObject({ code: 'ERR_UPLOAD_UNSUPPORTED' });
    await f.dispose();
    expect(calls).toEqual(['put rec:/a', 'dispose']);
    expect(seen).toEqual({
      options: { k: 2, cert: '/c.pem' },
      flags: { 'egiappdb:insert': 'true' },
      protocol: 'rec',
    });
  });

  it('publishes start/end/error on the diagnostics channel', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hepix-diag-'));
    const seen: UploadDiagnostic[] = [];
    const listener = (m: unknown) => seen.push(m as UploadDiagnostic);
    subscribe(UPLOAD_DIAGNOSTICS_CHANNEL, listener);
    const f = createUploadFacade({
      config: parseUploadConfig(
        `[l]\nserver = "h"\nprotocol = "local"\nuriMatch = "^https://h/"\nuriReplace = ${JSON.stringify(`${dir}/`)}\n`,
      ),
    });
    try {
      await f.put('https://h/a.bin', Readable.from([Buffer.alloc(10)]));
      await expect(f.put('https://h/b.bin', Readable.from([Buffer.alloc(1)]), { size: 5 })).rejects.toThrow();
      expect(seen.map((m) => [m.event, m.op, m.target, m.transferred])).toEqual([
        ['start', 'put', `${dir}/a.bin`, undefined],
        ['end', 'put', `${dir}/a.bin`, 10],
        ['start', 'put', `${dir}/b.bin`, undefined],
        ['error', 'put', `${dir}/b.bin`, undefined],
      ]);
      expect(seen[3].error).toMatchObject({ code: 'ERR_UPLOAD_FAILED' });
    } finally {
      unsubscribe(UPLOAD_DIAGNOSTICS_CHANNEL, listener);
      await f.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('puts, stats and deletes through the local backend', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hepix-facade-'));
    const f = createUploadFacade({
      config: parseUploadConfig(
        `[l]\nserver = "h"\nprotocol = "local"\nuriMatch = "^https://h/"\nuriReplace = ${JSON.stringify(`${dir}/`)}\n`,
      ),
    });
    try {
      await f.put('https://h/lists/image.list', Readable.from([Buffer.from('signed')]));
      expect(await readFile(join(dir, 'lists/image.list'), 'utf8')).toBe('signed');
      expect((await f.stat('https://h/lists/image.list'))?.size).toBe(6);
      await f.delete('https://h/lists/image.list');
      expect(await f.stat('https://h/lists/image.list')).toBeUndefined();
    } finally {
      await f.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
