import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/policy.ts', 'src/cache.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
