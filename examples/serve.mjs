#!/usr/bin/env node
// A small static file server for the examples: serves DIR on 127.0.0.1 (a free port unless PORT is set),
// with Range support so that vmcatcher can resume downloads, and writes the chosen URL to URL_FILE.
// Usage: serve.mjs DIR URL_FILE
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize, sep } from 'node:path';

const [dir, urlFile] = process.argv.slice(2);
if (!dir || !urlFile) {
  console.error('usage: serve.mjs DIR URL_FILE');
  process.exit(2);
}
const root = normalize(dir) + sep;

const server = createServer((req, res) => {
  const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
  let size;
  try {
    if (!path.startsWith(root)) throw new Error('outside');
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    res.writeHead(404).end('not found\n');
    return;
  }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  if (start > size) {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  res.writeHead(range ? 206 : 200, {
    'content-length': size - start,
    'accept-ranges': 'bytes',
    ...(range ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(path, { start }).pipe(res);
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  writeFileSync(urlFile, `http://127.0.0.1:${port}`);
  console.error(`serving ${dir} at http://127.0.0.1:${port}`);
});
