// Reading a passphrase from the terminal without echoing it.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export async function promptPassphrase(prompt: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    process.stderr.write(prompt);
    muted = true;
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    muted = false;
    process.stderr.write('\n');
    rl.close();
  }
}
