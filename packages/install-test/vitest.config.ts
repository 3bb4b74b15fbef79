import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: {
    name: 'install-test',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // npm fetches the third-party dependencies (libsql, pg, ssh2, …) unless its cache has them.
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
