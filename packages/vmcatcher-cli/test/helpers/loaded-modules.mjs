// Preloaded with `node --import`: appends the URL of every module the process loads (ES modules and the CommonJS
// entries they import) to the file named by HEPIX_LOADED_MODULES, so a test can tell what a command loads.
import { register } from 'node:module';

register('./loaded-modules-hooks.mjs', import.meta.url, { data: process.env.HEPIX_LOADED_MODULES });
