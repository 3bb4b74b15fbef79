// Shared by every package's vitest config: tests import sibling packages from source, so a change in one
// package is seen by the tests of another without a build.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export const hepixAliases = [
  {
    find: /^@hepix\/hepix-imagelist-schema\/schema\.json$/,
    replacement: `${root}packages/hepix-imagelist-schema/src/schema.json`,
  },
  { find: /^@hepix\/([^/]+)$/, replacement: `${root}packages/$1/src/index.ts` },
  { find: /^@hepix\/([^/]+)\/(.+)$/, replacement: `${root}packages/$1/src/$2.ts` },
];
