import { defineConfig } from 'tsup';

// Tests import the sources (vitest alias); the build is for shell scripts and benchmarks, which run plain Node.
export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
