// The S3 server of the tests: OpenStack Swift's s3api from scripts/start-swift.sh (started when TEST_S3_ENDPOINT
// is not set, reused when it runs; never skipped), a fresh bucket per test, and a client of @hepix/object-store
// to look at the bucket behind the cache's back.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createObjectStore, type ObjectStore } from '@hepix/object-store';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const NAMES = ['TEST_S3_ENDPOINT', 'TEST_S3_ACCESS_KEY', 'TEST_S3_SECRET_KEY', 'TEST_S3_REGION'] as const;

/** The `AWS_*` variables a site would set for the S3 server of the tests. */
export function s3Env(): Record<string, string> {
  if (!process.env.TEST_S3_ENDPOINT) {
    const out = execFileSync('bash', [`${root}scripts/start-swift.sh`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    for (const name of NAMES) {
      const value = new RegExp(`^${name}=(.+)$`, 'm').exec(out)?.[1]?.trim();
      if (!value) throw new Error(`scripts/start-swift.sh did not print ${name}`);
      process.env[name] = value;
    }
  }
  return {
    AWS_ENDPOINT_URL_S3: process.env.TEST_S3_ENDPOINT as string,
    AWS_ACCESS_KEY_ID: process.env.TEST_S3_ACCESS_KEY as string,
    AWS_SECRET_ACCESS_KEY: process.env.TEST_S3_SECRET_KEY as string,
    AWS_REGION: process.env.TEST_S3_REGION as string,
  };
}

/** A new bucket name (S3 rules: lower case, 3–63). */
export function bucketName(): string {
  return `vmc-${randomUUID().slice(0, 18)}`;
}

/** An object store on `url` for the tests' own look at the bucket. */
export function inspect(url: string): ObjectStore {
  return createObjectStore({ url, env: s3Env() });
}

/** Every key under the store's prefix, sorted. */
export async function keys(objects: ObjectStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of objects.list(prefix)) out.push(o.key);
  return out.sort();
}

/** The object's bytes. */
export async function bytes(objects: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await objects.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
