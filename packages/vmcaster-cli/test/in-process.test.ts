// runCli in-process, against a real SQLite store and the real local upload backend.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/main.js';

const dir = mkdtempSync(join(tmpdir(), 'vmcaster-inproc-'));
const www = join(dir, 'www');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runCli', () => {
  function io(extra: { tty?: boolean; env?: Record<string, string> } = {}) {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: {
        stdout: (t: string) => out.push(t),
        stderr: (t: string) => err.push(t),
        env: { HOME: dir, VMCASTER_RDBMS: `sqlite:///${join(dir, 'cli.db')}`, ...(extra.env ?? {}) },
        stderrIsTTY: extra.tty ?? false,
        stdinIsTTY: false,
      },
    };
  }
  it('draws a progress bar on a terminal only', async () => {
    writeFileSync(
      join(dir, 'cli.cfg'),
      `[t]\nserver = "img.example"\nprotocol = "local"\nuriMatch = "https://img.example/"\nuriReplace = ${JSON.stringify(`${www}/`)}\n`,
    );
    const file = join(dir, 'p.img');
    writeFileSync(file, randomBytes(3 * 1024 * 1024));
    const env = { VMCASTER_CFG: join(dir, 'cli.cfg') };
    for (const args of [
      ['--add-imagelist', 'P'],
      ['image', 'add', 'I'],
      ['imagelist', 'bind-image', 'P', 'I'],
      ['image', 'set', 'I', 'hv:uri', 'https://img.example/i.img'],
    ]) {
      const c = io({ env });
      expect(await runCli(args, c.io), c.err.join('')).toBe(0);
    }
    const tty = io({ tty: true, env });
    expect(await runCli(['--upload-image', file, '--select-image', 'I'], tty.io), tty.err.join('')).toBe(0);
    expect(tty.err.join('')).toMatch(/upload +100% {2}3\.0 MiB of 3\.0 MiB/);
    expect(tty.err.join('')).toMatch(/\x1b\[1A\r\x1b\[J1 uploaded: 3\.0 MiB in \d+:\d\d/);
    writeFileSync(file, randomBytes(3 * 1024 * 1024));
    const pipe = io({ env });
    expect(await runCli(['--upload-image', file, '--select-image', 'I'], pipe.io)).toBe(0);
    expect(pipe.err.join('')).not.toMatch(/\r/);
  });
  it('help, version, usage errors', async () => {
    const h = io();
    expect(await runCli(['--help'], h.io)).toBe(0);
    expect(h.out.join('')).toMatch(/--upload-imagelist/);
    const m = io();
    expect(await runCli(['image', 'upload', '--help'], m.io)).toBe(0);
    expect(m.out.join('')).toMatch(/--image/);
    const v = io();
    expect(await runCli(['--version'], v.io)).toBe(0);
    expect(v.out.join('')).toMatch(/^vmcaster \d+\.\d+\.\d+\n$/);
    const u = io();
    expect(await runCli(['--bogus'], u.io)).toBe(2);
    expect(u.err.join('')).toMatch(/unknown option --bogus/);
    const n = io();
    expect(await runCli(['image', 'frobnicate'], n.io)).toBe(2);
  });
  it('--json on listings and shows', async () => {
    const c = io();
    expect(await runCli(['--add-endorser', '/C=DE/CN=A'], c.io)).toBe(0);
    const l = io();
    expect(await runCli(['--list-endorser', '--json'], l.io)).toBe(0);
    expect(JSON.parse(l.out.join(''))).toEqual(['/C=DE/CN=A']);
    const s = io();
    expect(await runCli(['endorser', 'show', '/C=DE/CN=A', '--json'], s.io)).toBe(0);
    expect(JSON.parse(s.out.join(''))).toMatchObject({ 'hv:dn': '/C=DE/CN=A', imageLists: [] });
    const d = io();
    expect(await runCli(['--add-endorser', '/C=DE/CN=A'], d.io)).toBe(4);
  });
  it('--log-format json: one JSON object per line, errors with their code', async () => {
    const c = io();
    expect(await runCli(['--select-image', 'nope', '--show-image', '--log-format', 'json', '-v'], c.io)).toBe(
      3,
    );
    const lines = c.err
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({
      level: 'error',
      name: 'vmcaster',
      code: 'ERR_CLI_NOT_FOUND',
      message: 'image nope does not exist',
    });
    expect(lines.some((l) => l.level === 'debug' && /database sqlite/.test(l.message))).toBe(true);
    const t = io();
    expect(await runCli(['--select-image', 'nope', '--show-image'], t.io)).toBe(3);
    expect(t.err.join('')).toBe('vmcaster: error: image nope does not exist\n');
    const bad = io();
    expect(await runCli(['--list-image', '--log-format', 'xml'], bad.io)).toBe(2);
    expect(bad.err.join('')).toMatch(/--log-format must be text or json/);
  });
});
