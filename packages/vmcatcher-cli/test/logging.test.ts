// Logging through the real bins: a Python logging configuration's formatter (`%(asctime)s`, in UTC) and
// FileHandler are honoured, `--log-format json` writes one object per line, and the exit table maps codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STORE_ERROR_CODES } from '@hepix/imagelist-store';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_ERROR_CODES, EXIT, exitCodeFor } from '../src/common/exit.js';
import { parseLogConfig } from '../src/common/logging.js';

const bin = (name: string) => fileURLToPath(new URL(`../dist/bin/${name}.js`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vmcatcher-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin(name), ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

const CONFIG = `[loggers]
keys=root

[handlers]
keys=file

[formatters]
keys=stamped

[logger_root]
level=INFO
handlers=file

[handler_file]
class=FileHandler
level=INFO
formatter=stamped
args=('${join(dir, 'vmcatcher.log')}', 'a')

[formatter_stamped]
format=%(asctime)s %(levelname)-8s [%(name)s] %(message)s
datefmt=%Y-%m-%dT%H:%M:%SZ
`;

describe('logging', () => {
  it('honours the formatter and FileHandler of VMCATCHER_LOG_CONF', () => {
    const conf = join(dir, 'logging.conf');
    writeFileSync(conf, CONFIG);
    const before = Date.now();
    const r = run('vmcatcher_subscribe', ['-l'], { VMCATCHER_LOG_CONF: conf });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = readFileSync(join(dir, 'vmcatcher.log'), 'utf8').trimEnd().split('\n');
    expect(lines).toContain(
      lines.find((l) => l.includes("Defaulting DB connection to 'sqlite:///vmcatcher.db'")),
    );
    for (const line of lines) {
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\w+)\s+\[(\w+)\] /.exec(line);
      expect(m, line).not.toBeNull();
      const at = Date.parse(m![1]);
      expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(at).toBeLessThanOrEqual(Date.now());
    }
    expect(lines.some((l) => / INFO +\[main\] Defaulting DB connection/.test(l))).toBe(true);
  });

  it('writes one JSON object per line with --log-format json, and the error code of a failure', () => {
    const r = run('vmcatcher_subscribe', [
      '-v',
      '--log-format',
      'json',
      '-d',
      'sqlite:////nonexistent-dir/x.db',
      '-l',
    ]);
    expect(r.status).toBe(EXIT.ERR_STORE_OPEN);
    const records = r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const error = records.find((x) => x.level === 'error');
    expect(error).toMatchObject({ name: 'main', code: 'ERR_STORE_OPEN' });
    expect(String(error?.message)).toContain('/nonexistent-dir');
    for (const x of records) expect(Number.isNaN(Date.parse(String(x.time)))).toBe(false);
    expect(run('vmcatcher_subscribe', ['--log-format', 'xml', '-l']).status).toBe(2);
  });

  it('reports a missing logging configuration with its own code', () => {
    const r = run('vmcatcher_image', ['-l', '--log-config', join(dir, 'absent.conf')]);
    expect(r.status).toBe(EXIT.ERR_CLI_LOG_CONFIG);
    expect(r.stderr).toMatch(
      /^\S+ \S+ ERROR:main:Logfile configuration file '.*absent\.conf' was not found\.\n\S+ \S+ ERROR:hint:point --log-config or VMCATCHER_LOG_CONF at a Python logging\.config file.*\n$/,
    );
  });

  it('reads level, handler and formatter from a fileConfig file', () => {
    expect(parseLogConfig(CONFIG)).toEqual({
      level: 20,
      handlerLevel: 20,
      file: join(dir, 'vmcatcher.log'),
      format: '%(asctime)s %(levelname)-8s [%(name)s] %(message)s',
      datefmt: '%Y-%m-%dT%H:%M:%SZ',
    });
    expect(parseLogConfig('[logger_root]\nlevel=DEBUG\nhandlers=\n')).toEqual({ level: 10 });
  });
});

describe('exit table', () => {
  it('maps every code of the CLI and the store, and anything unknown to the internal status', () => {
    for (const code of [...CLI_ERROR_CODES, ...STORE_ERROR_CODES]) expect(typeof EXIT[code]).toBe('number');
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'ERR_STORE_CONFLICT' })).exitCode).toBe(15);
    expect(exitCodeFor(new TypeError('boom'))).toEqual({
      exitCode: 70,
      message: 'internal error: boom',
      code: 'ERR_CLI_INTERNAL',
    });
    expect(exitCodeFor(Object.assign(new Error('y'), { code: 'toString' })).exitCode).toBe(70);
  });
});
