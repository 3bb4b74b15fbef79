import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: { name: 'imagelist-client', include: ['test/**/*.test.ts'] },
});
