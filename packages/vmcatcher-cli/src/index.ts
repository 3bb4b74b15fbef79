// Not yet implemented: see README.md.
export {};
