import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Logger, noopLogger } from '@hepix/common';
import { SitePolicyError } from './errors.js';
import { parsePolicy } from './parse.js';
import { DEFAULT_POLICY, type SitePolicy } from './policy.js';

/** Where vmcatcher looks for the policy when neither `--policy FILE` nor `VMCATCHER_POLICY` names one. */
export const DEFAULT_POLICY_PATH = '/etc/vmcatcher/policy.cfg';

/** The environment variable that names the policy file. */
export const POLICY_ENV = 'VMCATCHER_POLICY';

/** Largest policy file read, in bytes. */
export const MAX_POLICY_BYTES = 1024 * 1024;

export interface LoadPolicyOptions {
  /** Where `VMCATCHER_POLICY` is looked up; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The default file; default {@link DEFAULT_POLICY_PATH}. */
  defaultPath?: string;
  log?: Logger;
}

/**
 * Reads the site policy. The file is `path` (`--policy FILE`) if given, else `$VMCATCHER_POLICY` if set and
 * not empty, else {@link DEFAULT_POLICY_PATH}. A missing default file means {@link DEFAULT_POLICY} (returned
 * as is, without `source`); a missing named file, an unreadable one (permissions, a directory, larger than
 * {@link MAX_POLICY_BYTES}) and a file that does not parse are a {@link SitePolicyError}. The policy's
 * `source` is the path read.
 */
export async function loadPolicy(path?: string, options: LoadPolicyOptions = {}): Promise<SitePolicy> {
  const log = options.log ?? noopLogger;
  const env = options.env ?? process.env;
  const fromEnv = env[POLICY_ENV];
  const named = path !== undefined ? path : fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  const file = named ?? options.defaultPath ?? DEFAULT_POLICY_PATH;
  if (file === '') {
    throw new SitePolicyError('ERR_POLICY_READ', 'policy file: empty path', { source: file });
  }
  let bytes: Uint8Array;
  try {
    bytes = await readSmallFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (named === undefined && code === 'ENOENT') {
      log('debug', `no policy file ${file}: the default policy (deprecated images refused, no other rule)`, {
        name: 'policy',
      });
      return DEFAULT_POLICY;
    }
    if (err instanceof SitePolicyError) throw err;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new SitePolicyError('ERR_POLICY_READ', `${file}: cannot read the policy file: ${why}`, {
      source: file,
      cause: err,
    });
  }
  const policy = parsePolicy(bytes, { source: file });
  log('debug', `site policy read from ${file}`, { name: 'policy' });
  return policy;
}

async function readSmallFile(file: string): Promise<Uint8Array> {
  // O_NONBLOCK: opening a FIFO must not hang; a non-regular file is then refused by fstat.
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new SitePolicyError('ERR_POLICY_READ', `${file}: the policy is not a regular file`, {
        source: file,
      });
    }
    if (st.size > MAX_POLICY_BYTES) {
      throw new SitePolicyError('ERR_POLICY_READ', `${file}: larger than ${MAX_POLICY_BYTES} bytes`, {
        source: file,
      });
    }
    const buf = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_POLICY_BYTES) {
        throw new SitePolicyError('ERR_POLICY_READ', `${file}: larger than ${MAX_POLICY_BYTES} bytes`, {
          source: file,
        });
      }
    }
    return buf.subarray(0, length);
  } finally {
    await handle.close();
  }
}
