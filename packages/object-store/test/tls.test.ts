// An https endpoint: the test S3 server behind a TLS terminator with a certificate of a private test CA. The CA
// comes from AWS_CA_BUNDLE or the `tls.ca` option; without it the endpoint is not trusted (ERR_OBJECT_NETWORK).
import { readFileSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { OpensslPki, removeDir } from '@hepix/test-support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createObjectStore } from '../src/index.js';
import { awsEnv, bucketName, dropBucket, expectCode, s3Env, testStore, textOf } from './helpers.js';

const bucket = bucketName();
let pki: OpensslPki;
let server: Server;
let endpoint = '';
let caFile = '';

beforeAll(async () => {
  pki = new OpensslPki();
  const ca = pki.rootCa('s3-ca', { subject: '/O=HEPiX test/CN=S3 test CA' });
  const host = ca.issue('s3-host', { subject: '/O=HEPiX test/CN=127.0.0.1', profile: 'host' });
  caFile = ca.cert;
  const upstream = new URL(s3Env().endpoint);
  // Bytes pass through unchanged, so the SigV4 signature (over the Host header the client sent) still holds.
  server = createTlsServer({ cert: host.pem, key: host.keyPem }, (tls) => {
    const plain = connect(Number(upstream.port), upstream.hostname);
    tls.pipe(plain).pipe(tls);
    const end = () => {
      tls.destroy();
      plain.destroy();
    };
    tls.on('error', end);
    plain.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  (await testStore(bucket)).close();
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await dropBucket(bucket);
  removeDir(pki.dir);
});

it('trusts an https endpoint through AWS_CA_BUNDLE or tls.ca, and refuses it otherwise', async () => {
  const env = { ...awsEnv(), AWS_ENDPOINT_URL_S3: endpoint };
  const viaEnv = createObjectStore({ url: `s3://${bucket}/tls`, env: { ...env, AWS_CA_BUNDLE: caFile } });
  try {
    await viaEnv.putStream('hello', Readable.from([Buffer.from('over TLS')]));
    expect(await textOf(await viaEnv.get('hello'))).toBe('over TLS');
  } finally {
    viaEnv.close();
  }
  const viaOption = createObjectStore({
    url: `s3://${bucket}/tls`,
    env,
    tls: { ca: [readFileSync(caFile)] },
  });
  try {
    expect((await viaOption.head('hello'))?.size).toBe(8);
  } finally {
    viaOption.close();
  }
  const untrusted = createObjectStore({ url: `s3://${bucket}/tls`, env, maxAttempts: 1 });
  try {
    const e = await expectCode(untrusted.head('hello'), 'ERR_OBJECT_NETWORK');
    expect(e.message).toMatch(/TLS/);
  } finally {
    untrusted.close();
  }
});
