// The http/webdav backend honours HTTPS_PROXY / NO_PROXY (through @hepix/transport): MKCOL, the 100-continue
// PUT and MOVE go through the proxy's CONNECT tunnel to the real nginx, TLS verified end to end.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpBackend, UploadError } from '../src/index.js';
import { env } from './env.js';
import { exists } from './helpers.js';
import { type ConnectProxy, connectProxy } from './proxy.js';

const davUrl = env('TEST_DAV_URL');
const davCa = env('TEST_DAV_CA');
const dir = `proxy-${process.pid}`;
const root = join(env('TEST_DAV_ROOT'), dir);
const nginx = `127.0.0.1:${new URL(davUrl).port}`;
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];
const saved = Object.fromEntries(PROXY_VARIABLES.map((k) => [k, process.env[k]]));

let proxy: ConnectProxy;
beforeAll(async () => {
  await mkdir(root, { recursive: true });
  proxy = await connectProxy();
});
afterEach(() => {
  for (const k of PROXY_VARIABLES) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
afterAll(async () => {
  await proxy?.close();
  await rm(root, { recursive: true, force: true });
});

function useProxy(url: string, noProxy = ''): void {
  for (const k of PROXY_VARIABLES) delete process.env[k];
  process.env.HTTPS_PROXY = url;
  process.env.NO_PROXY = noProxy;
}

describe('http backend behind a proxy', () => {
  it('uploads through the CONNECT tunnel (MKCOL, PUT with 100-continue, MOVE)', async () => {
    useProxy(proxy.url);
    const b = httpBackend({ protocol: 'webdav', options: { ca: davCa } });
    try {
      const before = proxy.tunnels.length;
      await b.put(`${davUrl}${dir}/sub/image.img`, Readable.from([Buffer.from('through the proxy')]), {
        size: 17,
      });
      expect(await readFile(join(root, 'sub/image.img'), 'utf8')).toBe('through the proxy');
      expect(await readdir(join(root, 'sub'))).toEqual(['image.img']); // the temp name was moved
      const tunnels = proxy.tunnels.slice(before);
      expect(tunnels.length).toBeGreaterThanOrEqual(2); // the pooled requests and the PUT's own connection
      expect(new Set(tunnels)).toEqual(new Set([nginx]));
    } finally {
      await b.dispose?.();
    }
  });

  it('goes direct for NO_PROXY hosts', async () => {
    useProxy(proxy.url, '127.0.0.0/8');
    const b = httpBackend({ protocol: 'http', options: { ca: davCa } });
    try {
      const before = proxy.tunnels.length;
      await b.put(`${davUrl}${dir}/direct.img`, Readable.from([Buffer.from('direct')]), { size: 6 });
      expect(await readFile(join(root, 'direct.img'), 'utf8')).toBe('direct');
      expect(proxy.tunnels.length).toBe(before);
    } finally {
      await b.dispose?.();
    }
  });

  it('fails with ERR_UPLOAD_FAILED when the proxy refuses the tunnel, writing nothing', async () => {
    const refusing = await connectProxy(403);
    useProxy(refusing.url);
    const b = httpBackend({ protocol: 'http', options: { ca: davCa, mkcol: false } });
    try {
      let err: unknown;
      try {
        await b.put(`${davUrl}${dir}/refused.img`, Readable.from([Buffer.from('no')]), { size: 2 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UploadError);
      expect((err as UploadError).code).toBe('ERR_UPLOAD_FAILED');
      expect(refusing.tunnels).toEqual([nginx]);
      expect(await exists(join(root, 'refused.img'))).toBe(false);
    } finally {
      await b.dispose?.();
      await refusing.close();
    }
  });
});
