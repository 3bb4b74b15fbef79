import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: {
    name: 'event-bus',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The restart test stops and starts a broker of its own (an Erlang VM boot on a shared 2-core machine).
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
