import type { BackendFactory } from '../types.js';
import { localBackend } from './local.js';

/** Built-in backends by protocol name. */
export const builtinBackends: Record<string, BackendFactory> = {
  local: localBackend,
  file: localBackend,
};
