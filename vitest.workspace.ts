// The vitest projects of this monorepo: one per package, each with its own vitest.config.ts.
export default ['packages/*'];
