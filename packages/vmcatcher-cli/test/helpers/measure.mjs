// Runs one of this package's bins in this process and, when it exits, records what the run cost: the bytes it
// wrote (wchar of /proc/self/io: every write(2), to files, pipes and the database) and its peak resident size
// (VmHWM of /proc/self/status, which belongs to this program; getrusage's maxrss would also count the parent's
// pages from the moment of fork).
// Usage: node measure.mjs OUT.json BIN.js [args…]
import { readFileSync, writeFileSync } from 'node:fs';

const [out, bin, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], bin, ...args];
process.on('exit', () => {
  const io = Object.fromEntries(
    readFileSync('/proc/self/io', 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(': '))
      .map(([k, v]) => [k, Number(v)]),
  );
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  writeFileSync(out, JSON.stringify({ wchar: io.wchar, maxRssKiB: Number(hwm?.[1]) }));
});
await import(bin);
