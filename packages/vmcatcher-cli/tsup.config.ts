import { defineConfig } from 'tsup';

export default defineConfig({
  entry: [
    'src/index.ts',
    'src/bin/vmcatcher.ts',
    'src/bin/vmcatcher_endorser.ts',
    'src/bin/vmcatcher_subscribe.ts',
    'src/bin/vmcatcher_image.ts',
    'src/bin/vmcatcher_cache.ts',
    'src/bin/vmcatcher_eventHndlExpl.ts',
    'src/docs/write-man.ts',
  ],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
