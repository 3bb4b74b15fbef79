import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: { name: 'test-support', include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 },
});
