// A plain Node HTTP file server for the cache benchmark, run as its own process so that serving does not
// share the cache's event loop. Usage: node serve-images.mjs DIR  → prints the port on stdout.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const dir = process.argv[2];
const server = createServer((req, res) => {
  const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
  if (!/^[\w.-]+$/.test(name)) {
    res.statusCode = 404;
    res.end();
    return;
  }
  const path = join(dir, name);
  let size;
  try {
    size = statSync(path).size;
  } catch {
    res.statusCode = 404;
    res.end();
    return;
  }
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  res.setHeader('accept-ranges', 'bytes');
  if (m && Number(m[1]) < size) {
    start = Number(m[1]);
    res.statusCode = 206;
    res.setHeader('content-range', `bytes ${start}-${size - 1}/${size}`);
  }
  res.setHeader('content-length', size - start);
  createReadStream(path, { start, highWaterMark: 1024 * 1024 }).pipe(res);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
