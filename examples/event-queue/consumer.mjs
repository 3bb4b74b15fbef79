#!/usr/bin/env node
// A consumer of vmcatcher's events on RabbitMQ that runs a command per event, the way vmcatcher_cache runs its
// event command: the event JSON on standard input, its type in VMCATCHER_EVENT_TYPE. With the Glance connector
// as the command, a cloud imports each image once it is cached, on its own host and at its own pace:
//
//   node examples/event-queue/consumer.mjs --url amqp://user:pass@broker/ --exchange vmcatcher \
//     --queue glance-site-a -- vmcatcher-glance --config /etc/vmcatcher-glance.yaml
//
// An event is acknowledged once the command exits 0; a failure puts it back on the queue (tried again after
// --retry-delay ms), so the command must be safe to run twice (the Glance connector is). A second delivery
// of an event id already handled is dropped. SIGTERM or SIGINT stops after the event in progress.
//
// In this repository it imports the built package (pnpm build); a site installs @hepix/event-bus and imports
// it by name.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { consume } from '../../packages/event-bus/dist/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: process.env.AMQP_URL },
    exchange: { type: 'string', default: 'vmcatcher' },
    queue: { type: 'string' },
    binding: { type: 'string', default: '#' },
    'retry-delay': { type: 'string', default: '5000' },
  },
});
if (!values.url || !values.queue || positionals.length === 0) {
  process.stderr.write(
    'usage: consumer.mjs --url amqp://… [--exchange vmcatcher] --queue NAME [--binding KEY] [--retry-delay MS] -- COMMAND [ARGS…]\n',
  );
  process.exit(64);
}
const [command, ...args] = positionals;
const log = (level, message) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);

function runCommand(event) {
  return new Promise((resolve, reject) => {
    // argv, no shell: the event's values reach the command only through its environment and standard input.
    const child = spawn(command, args, {
      stdio: ['pipe', 'inherit', 'inherit'],
      env: { ...process.env, VMCATCHER_EVENT_TYPE: event.type, VMCATCHER_EVENT_ID: event.id },
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${signal ?? code}`)),
    );
    child.stdin.on('error', () => {}); // a command that does not read its input
    child.stdin.end(`${JSON.stringify(event.payload)}\n`);
  });
}

const consumer = await consume({
  url: values.url,
  exchange: values.exchange,
  queue: values.queue,
  bindingKey: values.binding,
  retryDelayMs: Number(values['retry-delay']),
  log,
  handler: async (event) => {
    log('info', `event ${event.id} (${event.type})`);
    await runCommand(event);
  },
});
log('info', `waiting for events on ${values.queue}`);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    log('info', `stopping (${sig})`);
    consumer.close().then(() => process.exit(0));
  });
}
