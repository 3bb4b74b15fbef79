// examples/event-queue/consumer.mjs runs its command once per event, with the event JSON on standard input and
// the type in VMCATCHER_EVENT_TYPE, acknowledges on success and retries a failed command.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { connectPublisher } from '../src/index.js';
import { amqpUrl, deleteQueue, takeAll, uniqueName, until } from './helpers.js';

const example = fileURLToPath(new URL('../../../examples/event-queue/consumer.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hepix-event-queue-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('examples/event-queue/consumer.mjs feeds a command one event at a time', async () => {
  const exchange = uniqueName('ex');
  const queue = uniqueName('q');
  const out = join(dir, 'events.txt');
  // The command: records the type and standard input; fails the first time it sees "fail" (a flaky cloud).
  const handler = join(dir, 'handler.mjs');
  writeFileSync(
    handler,
    `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
let input = '';
process.stdin.on('data', (d) => (input += d)).on('end', () => {
  const flag = ${JSON.stringify(join(dir, 'failed-once'))};
  if (input.includes('"fail"') && !existsSync(flag)) { writeFileSync(flag, ''); process.exit(3); }
  appendFileSync(${JSON.stringify(out)}, process.env.VMCATCHER_EVENT_TYPE + ' ' + input);
});
`,
  );
  const proc = spawn(
    process.execPath,
    [
      example,
      '--url',
      amqpUrl(),
      '--exchange',
      exchange,
      '--queue',
      queue,
      '--retry-delay',
      '50',
      '--',
      process.execPath,
      handler,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  try {
    await until(() => stderr.includes('waiting for events'));
    const p = await connectPublisher({ url: amqpUrl(), exchange });
    await p.publishBatch([
      { message: { id: 'e1', type: 'AvailablePostfix', payload: { type: 'AvailablePostfix', image: 'a' } } },
      { message: { id: 'e2', type: 'ExpirePostfix', payload: { type: 'ExpirePostfix', image: 'fail' } } },
      { message: { id: 'e1', type: 'AvailablePostfix', payload: { type: 'AvailablePostfix', image: 'a' } } },
      { message: { id: 'e3', type: 'AvailablePostfix', payload: { type: 'AvailablePostfix', image: 'c' } } },
    ]);
    await p.close();
    await until(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 3);
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean)).toEqual([
      'AvailablePostfix {"type":"AvailablePostfix","image":"a"}',
      'ExpirePostfix {"type":"ExpirePostfix","image":"fail"}',
      'AvailablePostfix {"type":"AvailablePostfix","image":"c"}',
    ]);
    expect(stderr).toContain('exited with 3');
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  expect(proc.exitCode).toBe(0);
  expect(await takeAll(amqpUrl(), queue)).toEqual([]);
  await deleteQueue(amqpUrl(), queue);
});
