import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLevel } from '@hepix/common';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_PATH,
  loadPolicy,
  MAX_POLICY_BYTES,
  POLICY_ENV,
} from '../src/index.js';
import { expectPolicyRejection } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'site-policy-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const missing = join(dir, 'no-such-dir', 'policy.cfg');

describe('which file', () => {
  it('the default path is /etc/vmcatcher/policy.cfg and the variable VMCATCHER_POLICY', () => {
    expect(DEFAULT_POLICY_PATH).toBe('/etc/vmcatcher/policy.cfg');
    expect(POLICY_ENV).toBe('VMCATCHER_POLICY');
  });

  it('a missing default file means the default policy', async () => {
    const lines: [LogLevel, string][] = [];
    const policy = await loadPolicy(undefined, {
      env: {},
      defaultPath: missing,
      log: (level, message) => lines.push([level, message]),
    });
    expect(policy).toBe(DEFAULT_POLICY);
    expect(lines).toEqual([['debug', expect.stringContaining(`no policy file ${missing}`)]]);
  });

  it('an existing default file is read, and is the source', async () => {
    const p = file('default.cfg', '[limits]\nformats = raw\n');
    const policy = await loadPolicy(undefined, { env: {}, defaultPath: p });
    expect(policy.source).toBe(p);
    expect(policy.limits.formats).toEqual(['raw']);
  });

  it('VMCATCHER_POLICY names the file; an empty value is ignored; a path argument wins', async () => {
    const fromEnv = file('env.cfg', '[limits]\nformats = ova\n');
    const fromArg = file('arg.cfg', '[limits]\nformats = vmdk\n');
    const defaultPath = file('default2.cfg', '[limits]\nformats = raw\n');
    expect(
      (await loadPolicy(undefined, { env: { [POLICY_ENV]: fromEnv }, defaultPath })).limits.formats,
    ).toEqual(['ova']);
    expect((await loadPolicy(undefined, { env: { [POLICY_ENV]: '' }, defaultPath })).limits.formats).toEqual([
      'raw',
    ]);
    expect(
      (await loadPolicy(fromArg, { env: { [POLICY_ENV]: fromEnv }, defaultPath })).limits.formats,
    ).toEqual(['vmdk']);
  });

  it('process.env is the default environment', async () => {
    const p = file('process-env.cfg', '[limits]\ndeprecated = warn\n');
    const saved = process.env[POLICY_ENV];
    process.env[POLICY_ENV] = p;
    try {
      expect((await loadPolicy()).limits.deprecated).toBe('warn');
    } finally {
      if (saved === undefined) delete process.env[POLICY_ENV];
      else process.env[POLICY_ENV] = saved;
    }
  });
});

describe('read errors', () => {
  it('a missing named file is an error (path argument or VMCATCHER_POLICY)', async () => {
    const err = await expectPolicyRejection(loadPolicy(missing, { env: {} }), 'ERR_POLICY_READ');
    expect(err.source).toBe(missing);
    expect(err.message).toBe(`${missing}: cannot read the policy file: no such file`);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    await expectPolicyRejection(
      loadPolicy(undefined, { env: { [POLICY_ENV]: missing }, defaultPath: file('unused.cfg', '') }),
      'ERR_POLICY_READ',
    );
  });

  it('an empty path is an error', async () => {
    await expectPolicyRejection(loadPolicy('', { env: {} }), 'ERR_POLICY_READ');
  });

  it('a directory is an error, also at the default path (never taken as "no policy")', async () => {
    const d = join(dir, 'a-directory');
    mkdirSync(d);
    const err = await expectPolicyRejection(loadPolicy(d, { env: {} }), 'ERR_POLICY_READ');
    expect(err.message).toMatch(/not a regular file/);
    await expectPolicyRejection(loadPolicy(undefined, { env: {}, defaultPath: d }), 'ERR_POLICY_READ');
  });

  it('a FIFO is refused without waiting for a writer', async () => {
    const fifo = join(dir, 'fifo');
    const r = spawnSync('mkfifo', [fifo]);
    expect(r.status).toBe(0);
    const err = await expectPolicyRejection(loadPolicy(fifo, { env: {} }), 'ERR_POLICY_READ');
    expect(err.message).toMatch(/not a regular file/);
  });

  it('a file larger than MAX_POLICY_BYTES is refused', async () => {
    const big = file('big.cfg', `; ${'x'.repeat(MAX_POLICY_BYTES)}\n`);
    const err = await expectPolicyRejection(loadPolicy(big, { env: {} }), 'ERR_POLICY_READ');
    expect(err.message).toMatch(/larger than 1048576 bytes/);
  });

  it('a file of exactly MAX_POLICY_BYTES is read', async () => {
    const text = `[limits]\n; ${'x'.repeat(MAX_POLICY_BYTES - 12)}\n`;
    expect(Buffer.byteLength(text)).toBe(MAX_POLICY_BYTES);
    expect(await loadPolicy(file('exact.cfg', text), { env: {} })).toMatchObject({ limits: { formats: [] } });
  });
});

describe('a file that does not parse', () => {
  it('is an error naming the file and line, and the file is left as it was', async () => {
    const text = '[images]\nallow = a\n\n[limits]\nmax-size = 20GB\n';
    const p = file('bad.cfg', text);
    const err = await expectPolicyRejection(loadPolicy(p, { env: {} }), 'ERR_POLICY_VALUE');
    expect(err.source).toBe(p);
    expect(err.line).toBe(5);
    expect(err.message).toBe(
      `${p}:5: [limits] max-size "20GB": ambiguous unit GB: write G or GiB (powers of 1024)`,
    );
    expect(readFileSync(p, 'utf8')).toBe(text);
  });

  it('at the default path too: never silently replaced by the default policy', async () => {
    const p = file('bad-default.cfg', '[limits]\nmax-size = lots\n');
    await expectPolicyRejection(loadPolicy(undefined, { env: {}, defaultPath: p }), 'ERR_POLICY_VALUE');
  });

  it('invalid UTF-8 in the file', async () => {
    const p = file('latin1.cfg', new Uint8Array([...Buffer.from('[endorsers]\ndeny = .*CN=J'), 0xe9, 0x0a]));
    const err = await expectPolicyRejection(loadPolicy(p, { env: {} }), 'ERR_POLICY_SYNTAX');
    expect(err.line).toBe(2);
  });
});
