import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: {
    name: 'vmcatcher-cli',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/build-bins.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
