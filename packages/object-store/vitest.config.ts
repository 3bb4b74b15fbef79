import { defineProject } from 'vitest/config';
import { hepixAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: hepixAliases },
  test: {
    name: 'object-store',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Hundreds of MiB go through a Python server on a shared 2-core machine.
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // The SDK warns once per process that Node 20 support ends with its 2027 releases (see the README).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
