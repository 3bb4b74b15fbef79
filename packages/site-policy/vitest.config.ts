import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: { name: 'site-policy', include: ['test/**/*.test.ts'] },
});
