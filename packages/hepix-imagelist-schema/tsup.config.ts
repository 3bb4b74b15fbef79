import { copyFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // The schema is also published as a plain JSON file (subpath export "./schema.json").
  async onSuccess() {
    await copyFile('src/schema.json', 'dist/schema.json');
  },
});
