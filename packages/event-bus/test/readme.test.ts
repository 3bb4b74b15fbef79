// The README's usage example runs as written, against the built package (imported by its own name) and the
// RabbitMQ of the tests.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { amqpUrl, deleteQueue } from './helpers.js';

afterAll(() => deleteQueue(amqpUrl(), 'vmcatcher-readme'));

it('the README usage example works', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const usage = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .find((b) => b.includes('drainOutbox'));
  expect(usage).toBeDefined();
  const file = fileURLToPath(new URL(`../readme-example-${process.pid}.mjs`, import.meta.url));
  writeFileSync(file, usage!);
  try {
    const out = execFileSync(process.execPath, [file], {
      encoding: 'utf8',
      env: { ...process.env, AMQP_URL: amqpUrl() },
    });
    expect(out.split('\n').filter(Boolean)).toEqual([
      '{ pending: 1, published: 0 }',
      '{ published: 1, retries: 0 }',
      'EndorserAdded desy 1',
    ]);
  } finally {
    rmSync(file, { force: true });
  }
});
