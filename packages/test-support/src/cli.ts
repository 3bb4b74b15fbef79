// `node dist/cli.js grid OUT [ENDORSER_CN]`: the grid PKI for shell scripts (scripts/make-test-pki.sh).
import { makePki } from './grid.js';

const [command, out, cn] = process.argv.slice(2);
if (command !== 'grid' || !out) {
  process.stderr.write('usage: test-support grid OUT [ENDORSER_CN]\n');
  process.exit(2);
}
try {
  process.stdout.write(`${makePki(out, cn ?? 'Owen Synge').dir}\n`);
} catch (err) {
  process.stderr.write(`test-support: ${(err as Error).message}\n`);
  process.exit(1);
}
