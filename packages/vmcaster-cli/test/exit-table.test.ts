// One exit table: every status of the table is explained in --help and in the README, with the same words,
// and nothing else is listed. (That every code is mapped is checked by the compiler: `satisfies`.)
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor, STATUS, STATUS_MEANINGS } from '../src/exit.js';
import { HELP } from '../src/main.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The rows of the README's "Exit codes" table: status → meaning (inline code marks removed). */
function readmeTable(): Record<string, string> {
  const section = readme.slice(readme.indexOf('## Exit codes'));
  const rows: Record<string, string> = {};
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const m = /^\|\s*(\d+)\s*\|\s*(.*?)\s*\|$/.exec(line);
    if (m) rows[m[1]] = m[2].replace(/`/g, '');
  }
  return rows;
}

describe('exit statuses', () => {
  it('the README table says what STATUS_MEANINGS says, row for row', () => {
    expect(readmeTable()).toEqual(
      Object.fromEntries(Object.entries(STATUS_MEANINGS).map(([k, v]) => [k, v])),
    );
  });
  it('--help lists every status with its meaning', () => {
    const section = HELP.slice(HELP.indexOf('Exit statuses:'));
    for (const [code, meaning] of Object.entries(STATUS_MEANINGS))
      expect(section).toContain(`${code.padStart(3)}  ${meaning}`);
  });
  it('the table uses exactly the named statuses, each explained', () => {
    const used = new Set<number>(Object.values(EXIT));
    const named = new Set<number>(Object.values(STATUS));
    for (const s of used) expect(named.has(s), String(s)).toBe(true);
    expect(
      Object.keys(STATUS_MEANINGS)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([...named].sort((a, b) => a - b));
    // OK and INTERRUPTED are not error codes' statuses only: success, and a signal seen by the CLI.
    for (const s of named) if (s !== STATUS.OK) expect(used.has(s), `status ${s} is reachable`).toBe(true);
  });
  it('errors without a known code are failures (1), never a misleading status', () => {
    expect(exitCodeFor(new Error('boom'))).toBe(1);
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(1);
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'toString' }))).toBe(1);
    expect(exitCodeFor(undefined)).toBe(1);
    expect(exitCodeFor({ code: 'ERR_PUBLISHER_IMAGE_TARGET' })).toBe(99);
    expect(exitCodeFor({ code: 'ERR_PUBLISHER_LIST_TARGET' })).toBe(21);
    expect(exitCodeFor({ code: 'ERR_LIST_SIGNER_MISMATCH' })).toBe(34);
  });
});
