import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  // Vitest's 5 s default is too short on a loaded 2-core CI machine for tests that start processes and servers.
  test: {
    name: 'imagelist-client',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
