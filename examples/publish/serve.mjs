#!/usr/bin/env node
// A minimal static file server for the example: serves DIR on 127.0.0.1:PORT (GET only).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [dir, port] = process.argv.slice(2);
createServer((req, res) => {
  const rel = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
    /^(\.\.[/\\])+/,
    '',
  );
  const file = join(dir, rel);
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    res.writeHead(200, { 'content-length': st.size });
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404).end('not found\n');
  }
}).listen(Number(port), '127.0.0.1', () => console.error(`serving ${dir} on http://127.0.0.1:${port}/`));
