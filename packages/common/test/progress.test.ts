import { describe, expect, it } from 'vitest';
import { createProgressRenderer, formatBytes, formatDuration } from '../src/index.js';

/** A minimal terminal: the rows as text after interpreting \n, \r, ESC[nA, ESC[J and ESC[K. */
function screen(output: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i];
    if (c === '\x1b') {
      const m = /^\x1b\[(\d*)([AJK])/.exec(output.slice(i));
      if (!m) throw new Error(`unexpected escape at ${i}: ${JSON.stringify(output.slice(i, i + 8))}`);
      i += m[0].length - 1;
      if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || 1));
      else if (m[2] === 'J') {
        rows.length = row + 1;
        rows[row] = rows[row].slice(0, col);
      } else rows[row] = rows[row].slice(0, col);
      continue;
    }
    if (c === '\n') {
      row++;
      col = 0;
      if (rows.length <= row) rows.push('');
      continue;
    }
    if (c === '\r') {
      col = 0;
      continue;
    }
    rows[row] = rows[row].slice(0, col) + c + rows[row].slice(col + 1);
    col++;
  }
  return rows.filter((r, i) => r !== '' || i < rows.length - 1);
}

describe('createProgressRenderer', () => {
  it('keeps one line per active transfer, and log lines above them', () => {
    let out = '';
    let t = 0;
    const p = createProgressRenderer({
      write: (s) => (out += s),
      now: () => t,
      intervalMs: 0,
      verb: 'downloaded',
    });
    p.update('a', 0, 4 * 1048576, 'image-a');
    p.update('b', 0, 2 * 1048576, 'image-b');
    t = 1000;
    p.update('a', 1048576, 4 * 1048576);
    p.update('b', 1048576, 2 * 1048576);
    expect(screen(out)).toEqual([
      'image-a   25%  1.0 MiB of 4.0 MiB  1.0 MiB/s  ETA 0:03',
      'image-b   50%  1.0 MiB of 2.0 MiB  1.0 MiB/s  ETA 0:01',
    ]);
    p.interrupt(() => (out += 'WARNING: something\n'));
    expect(screen(out)).toEqual([
      'WARNING: something',
      'image-a   25%  1.0 MiB of 4.0 MiB  1.0 MiB/s  ETA 0:03',
      'image-b   50%  1.0 MiB of 2.0 MiB  1.0 MiB/s  ETA 0:01',
    ]);
    t = 2000;
    p.update('b', 2 * 1048576, 2 * 1048576);
    p.finish('b');
    // Redrawn at t=2 s: image-a's rate halves and its ETA doubles.
    expect(screen(out)).toEqual([
      'WARNING: something',
      'image-a   25%  1.0 MiB of 4.0 MiB  512.0 KiB/s  ETA 0:06',
    ]);
    p.finish('a', false);
    p.end();
    expect(screen(out)).toEqual(['WARNING: something', '1 downloaded, 1 failed: 3.0 MiB in 0:02, 1.5 MiB/s']);
  });

  it('redraws byte counts at most once per interval, and cuts lines to the terminal width', () => {
    const writes: string[] = [];
    let t = 0;
    const p = createProgressRenderer({
      write: (s) => writes.push(s),
      now: () => t,
      intervalMs: 100,
      columns: () => 20,
    });
    p.update('x', 0, 100, 'a-rather-long-image-identifier');
    p.update('x', 10, 100);
    p.update('x', 20, 100);
    expect(writes).toHaveLength(1);
    t = 100;
    p.update('x', 30, 100);
    expect(writes).toHaveLength(2);
    expect(screen(writes.join(''))).toEqual(['a-rather-long-image']);
  });

  it('writes nothing at the end when nothing was transferred', () => {
    let out = '';
    createProgressRenderer({ write: (s) => (out += s) }).end();
    expect(out).toBe('');
  });

  it('formats sizes and durations', () => {
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(7384)).toBe('2:03:04');
  });
});
