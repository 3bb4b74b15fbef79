// Serves the files of a directory over HTTPS on 127.0.0.1 (a separate process, so the server does not
// compete with the measured code for the event loop). Prints the port on stdout.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const [dir, cert, key] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const name = (req.url ?? '/').split('?')[0].replace(/^\/+/, '');
  if (!/^[\w.-]+$/.test(name)) {
    res.statusCode = 404;
    res.end();
    return;
  }
  let body;
  try {
    body = readFileSync(join(dir, name));
  } catch {
    res.statusCode = 404;
    res.end();
    return;
  }
  res.end(body);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
