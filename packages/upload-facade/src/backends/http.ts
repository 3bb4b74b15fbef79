import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { UploadError } from '../errors.js';
import type {
  BackendFactory,
  OpOptions,
  PutOptions,
  TargetStat,
  UploadBackend,
  UploadSource,
} from '../types.js';
import {
  abortedError,
  checkRemotePath,
  Meter,
  openSource,
  optBool,
  optString,
  tempName,
  throwIfAborted,
  wrapError,
} from '../util.js';
import {
  HttpClient,
  type HttpResponse,
  httpClientOptions,
  type RequestBody,
  statusError,
} from './http-client.js';

/** Bytes of a stream body kept to resend it after a redirect that arrives once the body was sent. */
const REPLAY_LIMIT = 8 * 1024 * 1024;

/** Turns a target (`https://`, `davs://`, `webdav://`; `http://`/`dav://` with `allowHttp`) into a URL. */
export function davUrl(target: string, protocol: string): URL {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]+)(\/[^?#]*)?([?#].*)?$/i.exec(target);
  if (!m?.[3])
    throw new UploadError(
      'ERR_UPLOAD_TARGET',
      `bad ${protocol} target ${JSON.stringify(target)}: expected https://host/path`,
      {
        target,
        protocol,
      },
    );
  if (m[4])
    throw new UploadError(
      'ERR_UPLOAD_TARGET',
      `bad ${protocol} target ${JSON.stringify(target)}: query or fragment`,
      {
        target,
        protocol,
      },
    );
  // check the raw path: the URL parser would silently fold "..".
  checkRemotePath(m[3], target, protocol);
  const scheme = m[1].toLowerCase();
  const mapped = { https: 'https', davs: 'https', webdav: 'https', http: 'http', dav: 'http' }[scheme];
  if (!mapped)
    throw new UploadError(
      'ERR_UPLOAD_TARGET',
      `bad ${protocol} target ${JSON.stringify(target)}: scheme ${scheme}`,
      {
        target,
        protocol,
      },
    );
  return new URL(`${mapped}://${m[2]}${m[3]}`);
}

/**
 * `http` and `webdav`: PUT over HTTPS (certificate verification on), MKCOL for missing collections, DELETE,
 * HEAD for stat. `webdav` (or `"atomic": "move"`) PUTs to a temp name and MOVEs it over the target; `http`
 * relies on the server replacing atomically (nginx and dCache do). Redirects are followed, never from https
 * to http (the transport's one policy); proxies come from `HTTPS_PROXY`/`NO_PROXY`.
 */
export const httpBackend: BackendFactory = ({ protocol = 'http', options, log } = {}): UploadBackend => {
  const client = new HttpClient(httpClientOptions(protocol, options), log);
  const atomic = optString(options, 'atomic', protocol) ?? (protocol === 'webdav' ? 'move' : 'server');
  if (atomic !== 'move' && atomic !== 'server')
    throw new UploadError('ERR_UPLOAD_CONFIG', `${protocol}: option "atomic" must be "move" or "server"`, {
      key: 'atomic',
      protocol,
    });
  const mkcol = optBool(options, 'mkcol', protocol) ?? true;
  const username = optString(options, 'username', protocol);
  const passwordEnv = optString(options, 'passwordEnv', protocol);
  const password =
    optString(options, 'password', protocol) ?? (passwordEnv ? process.env[passwordEnv] : undefined);
  // Basic credentials go to the target's origin only, never to another origin a redirect leads to.
  const credentials = username !== undefined ? { username, password: password ?? '' } : undefined;
  const auth = credentials ? { credentials } : {};
  const collections = new Set<string>();

  async function ensureCollections(url: URL, target: string, signal?: AbortSignal): Promise<void> {
    const segs = url.pathname.split('/').slice(1, -1);
    let path = '/';
    for (const seg of segs) {
      path += `${seg}/`;
      const key = `${url.origin}${path}`;
      if (collections.has(key)) continue;
      const res = await client.request('MKCOL', new URL(path, url), { ...auth, signal, target });
      // 201 created; 405 exists; 301/403 on a parent outside our reach: the PUT will tell
      if (res.status === 401 || (res.status >= 500 && res.status !== 501))
        throw statusError(protocol, 'MKCOL', res, target);
      if (res.status === 201 || res.status === 405) collections.add(key);
    }
  }

  async function send(
    method: string,
    url: URL,
    target: string,
    extra: Record<string, string>,
    signal?: AbortSignal,
  ) {
    return client.request(method, url, { headers: extra, ...auth, signal, target });
  }

  async function put(target: string, source: UploadSource, opts: PutOptions = {}): Promise<void> {
    const url = davUrl(target, protocol);
    client.checkScheme(url, target);
    const { signal } = opts;
    throwIfAborted(signal, target, protocol);
    if (mkcol) await ensureCollections(url, target, signal);
    const src = await openSource(source, opts);
    const length = src.size;
    // A stream can be resent after a late redirect only if it was small enough to keep (a signed list is).
    const replay: Buffer[] | undefined = src.path === undefined ? [] : undefined;
    let kept = 0;
    let overflow = false;
    let first = true;
    const body: RequestBody = {
      canRestart: () => src.path !== undefined || (!overflow && src.stream.readableEnded),
      length,
      open: () => {
        let stream: Readable;
        if (first) {
          stream = src.stream;
          if (replay)
            stream.on('data', (c: Buffer) => {
              if (overflow) return;
              kept += c.length;
              if (kept > REPLAY_LIMIT) {
                overflow = true;
                replay.length = 0;
              } else replay.push(c);
            });
        } else if (src.path !== undefined) stream = createReadStream(src.path, { highWaterMark: 1 << 20 });
        else stream = Readable.from(replay ?? []);
        first = false;
        const meter = new Meter(length, opts.onProgress);
        stream.on('error', (err: Error) => meter.destroy(err));
        return stream.pipe(meter);
      },
    };
    const dest = atomic === 'move' ? new URL(tempName(posix.basename(url.pathname)), url) : url;
    let res: HttpResponse;
    try {
      res = await client.request('PUT', dest, { ...auth, body, signal, target });
    } catch (err) {
      if (signal?.aborted) throw abortedError(target, protocol, signal.reason);
      throw wrapError(err, 'ERR_UPLOAD_FAILED', `${protocol}: PUT ${dest.href} failed`, { target, protocol });
    } finally {
      // a server may answer before reading the body: never leave the source open
      src.stream.destroy();
    }
    if (res.status < 200 || res.status > 299) {
      if (res.status === 409 || res.status === 404) collections.clear();
      throw statusError(protocol, 'PUT', res, target);
    }
    if (atomic === 'move') {
      let moved: HttpResponse | undefined;
      try {
        moved = await send('MOVE', dest, target, { destination: url.href, overwrite: 'T' });
      } catch (err) {
        await send('DELETE', dest, target, {}).catch(() => undefined);
        throw err;
      }
      if (moved.status < 200 || moved.status > 299) {
        await send('DELETE', dest, target, {}).catch(() => undefined);
        throw statusError(protocol, 'MOVE', moved, target);
      }
    }
  }

  return {
    name: protocol,
    capabilities: { delete: true, stat: true, atomicReplace: true },
    put,
    async delete(target: string, opts?: OpOptions) {
      const url = davUrl(target, protocol);
      const res = await send('DELETE', url, target, {}, opts?.signal);
      if (res.status === 404 || (res.status >= 200 && res.status <= 299)) return;
      throw statusError(protocol, 'DELETE', res, target);
    },
    async stat(target: string, opts?: OpOptions): Promise<TargetStat | undefined> {
      const url = davUrl(target, protocol);
      const res = await send('HEAD', url, target, {}, opts?.signal);
      if (res.status === 404 || res.status === 410) return undefined;
      if (res.status < 200 || res.status > 299) throw statusError(protocol, 'HEAD', res, target);
      const size = Number(res.headers['content-length']);
      const lm = res.headers['last-modified'];
      return { size: Number.isFinite(size) ? size : 0, mtime: lm ? new Date(lm) : undefined };
    },
    async dispose() {
      await client.dispose();
    },
  };
};
