import type { BackendFactory } from '../types.js';
import { commandBackend } from './command.js';
import { egiAppDbBackend } from './egiappdb.js';
import { httpBackend } from './http.js';
import { localBackend } from './local.js';
import { sshBackend } from './ssh.js';

/** Built-in backends by protocol name. */
export const builtinBackends: Record<string, BackendFactory> = {
  local: localBackend,
  file: localBackend,
  scp: (o) => sshBackend({ ...o, protocol: 'scp' }),
  sftp: (o) => sshBackend({ ...o, protocol: 'sftp' }),
  http: (o) => httpBackend({ ...o, protocol: 'http' }),
  https: (o) => httpBackend({ ...o, protocol: 'http' }),
  webdav: (o) => httpBackend({ ...o, protocol: 'webdav' }),
  command: (o) => commandBackend({ ...o, protocol: 'command' }),
  gsidcap: (o) => commandBackend({ ...o, protocol: 'gsidcap' }),
  egiappdb: egiAppDbBackend,
};
