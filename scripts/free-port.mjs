#!/usr/bin/env node
// Prints a free TCP port on 127.0.0.1 (asked from the kernel, then released).
import { createServer } from 'node:net';

const s = createServer();
s.listen(0, '127.0.0.1', () => {
  const { port } = s.address();
  s.close(() => console.log(port));
});
