import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: {
    name: 'hepix-imagelist-schema',
    include: ['test/**/*.test.ts'],
    // The fuzz properties run thousands of validations: seconds on a busy 2-core CI machine.
    testTimeout: 60_000,
  },
});
