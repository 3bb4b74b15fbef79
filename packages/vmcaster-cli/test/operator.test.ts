// Global options before a subcommand, the manual page (rendered by man without warnings) and the bash
// completion (loaded in bash and asked through its function), all made from the tables the parsers use.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { manPage } from '../src/docs.js';
import { legacyFlags } from '../src/legacy.js';
import { GLOBAL_OPTIONS, hoistGlobalOptions, runCli } from '../src/main.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vmcaster-operator-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: { HOME: dir },
    stderrIsTTY: false,
    stdinIsTTY: false,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('global options before a subcommand', () => {
  it.each([
    [
      ['-C', 'f.cfg', 'imagelist', 'publish', 'U'],
      ['imagelist', 'publish', 'U', '-C', 'f.cfg'],
    ],
    [
      ['-vv', '--json', 'image', 'list'],
      ['image', 'list', '-vv', '--json'],
    ],
    [
      ['--database=sqlite:///x.db', 'endorser', 'list'],
      ['endorser', 'list', '--database=sqlite:///x.db'],
    ],
    [
      ['--lifetime-imagelist', '7', 'imagelist', 'publish', 'U'],
      ['imagelist', 'publish', 'U', '--lifetime', '7'],
    ],
    // Not global, or no subcommand: the flag style as it was.
    [
      ['--select-imagelist', 'U', 'imagelist'],
      ['--select-imagelist', 'U', 'imagelist'],
    ],
    [
      ['-v', '--list-imagelist'],
      ['-v', '--list-imagelist'],
    ],
    [['-d'], ['-d']],
  ])('%j → %j', (argv, expected) => {
    expect(hoistGlobalOptions(argv)).toEqual(expected);
  });

  it('vmcaster -d URL --json imagelist list reads them', async () => {
    const db = `sqlite:///${join(dir, 'g.db')}`;
    expect((await cli(['-d', db, 'imagelist', 'add', 'L1'])).code).toBe(0);
    const r = await cli(['-d', db, '--json', 'imagelist', 'list']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['L1']);
    // The other store is empty: -d was not ignored.
    const other = await cli(['-d', `sqlite:///${join(dir, 'other.db')}`, '--json', 'imagelist', 'list']);
    expect(JSON.parse(other.stdout)).toEqual([]);
  });

  it('--version prints NAME VERSION, and subcommand help has examples and exit statuses', async () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
    expect((await cli(['-V'])).stdout).toBe(`vmcaster ${pkg.version}\n`);
    for (const args of [['--help'], ['imagelist', 'publish', '--help'], ['completion', '--help']]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/\nExamples:\n {2}\S/);
      expect(r.stdout, args.join(' ')).toMatch(/\nExit statuses:\n +0 /);
    }
  });
});

describe('hints', () => {
  it('sqlite:///tmp/… that is relative and missing suggests the four-slash URL', async () => {
    const prev = process.cwd();
    process.chdir(dir);
    try {
      const r = await cli(['-d', `sqlite:///tmp/vmcaster-hint-${process.pid}.db`, 'imagelist', 'list']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^vmcaster: error: .*\n/);
      expect(r.stderr).toContain(
        `vmcaster: error: hint: 'sqlite:///tmp/vmcaster-hint-${process.pid}.db' is relative to the working directory; for the absolute path use four slashes: sqlite:////tmp/vmcaster-hint-${process.pid}.db`,
      );
    } finally {
      process.chdir(prev);
    }
  });
});

describe('manual page', () => {
  it('is built, listed in the package and renders without a warning', () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      man: string[];
      files: string[];
    };
    expect(pkg.man).toEqual(['./man/vmcaster.1']);
    expect(pkg.files).toContain('man');
    const file = join(pkgDir, 'man/vmcaster.1');
    expect(readFileSync(file, 'utf8')).toBe(manPage());
    const r = spawnSync('man', ['--warnings', '-l', file], {
      encoding: 'utf8',
      env: { ...process.env, MANWIDTH: '200', LC_ALL: 'C.UTF-8' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const text = r.stdout.replace(/.\x08/g, '');
    for (const o of GLOBAL_OPTIONS) for (const n of o.names) expect(text).toContain(n);
    expect(text).toContain('vmcaster imagelist publish ID');
    expect(text).toContain('vmcaster image upload FILE');
    expect(text).toMatch(/^EXIT STATUS$/m);
  });
});

describe('shell completion', () => {
  it('bash: subcommands, their options, the flag style and option values', async () => {
    const r = await cli(['completion', 'bash']);
    expect(r.code).toBe(0);
    const script = join(dir, 'vmcaster.bash');
    writeFileSync(script, r.stdout);
    const complete = (...words: string[]) => {
      const c = spawnSync(
        'bash',
        [
          '-c',
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _vmcaster; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'x',
          script,
          ...words,
        ],
        { encoding: 'utf8', cwd: dir },
      );
      expect(c.stderr).toBe('');
      return c.stdout.split('\n').filter(Boolean).sort();
    };
    expect(
      spawnSync('bash', ['-c', 'source "$1"; complete -p vmcaster', 'x', script], { encoding: 'utf8' })
        .stdout,
    ).toBe('complete -F _vmcaster vmcaster\n');
    expect(complete('vmcaster', 'image')).toEqual(['image', 'imagelist']);
    expect(complete('vmcaster', 'imagelist', 'pu')).toEqual(['publish']);
    expect(complete('vmcaster', '-C', 'f.cfg', 'image', 'upload', '--im')).toEqual(['--image']);
    expect(complete('vmcaster', '--upload-im')).toEqual(['--upload-image', '--upload-imagelist']);
    expect(complete('vmcaster', '--log-format', '')).toEqual(['json', 'text']);
    for (const f of legacyFlags()) expect(r.stdout).toContain(` ${f} `.trim());
    expect((await cli(['completion', 'tcsh'])).code).toBe(2);
  });
});
