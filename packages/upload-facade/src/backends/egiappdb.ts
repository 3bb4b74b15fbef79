import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UploadError } from '../errors.js';
import type { BackendFactory, PutOptions, UploadBackend, UploadLogger, UploadSource } from '../types.js';
import { abortedError, Meter, openSource, optNumber, optString, throwIfAborted, wrapError } from '../util.js';
import { HttpClient, httpClientOptions, statusError } from './http-client.js';

/** What AppDB answers: `{"egiappdb": {status, details, submission_id, errors}}`. */
export interface AppDbResult {
  status: string;
  details?: unknown;
  submission_id?: number;
  errors?: unknown;
}

/** `egiappdb://USER@host/path` → the POST URL (`https://host/path/x509/` or `/sso/`) and the AppDB user. */
export function appDbEndpoint(target: string, authn: 'x509' | 'sso'): { url: URL; user: string } {
  const m = /^egiappdb:\/\/([^@/]+)@([^/?#]+)(\/[^?#]*)?$/i.exec(target);
  if (!m)
    throw new UploadError(
      'ERR_UPLOAD_TARGET',
      `bad egiappdb target ${JSON.stringify(target)}: expected egiappdb://USER@host/path`,
      {
        target,
        protocol: 'egiappdb',
      },
    );
  const path = (m[3] ?? '').replace(/\/+$/, '');
  return { url: new URL(`https://${m[2]}${path}/${authn}/`), user: decodeURIComponent(m[1]) };
}

/** The AppDB actions from `--flag egiappdb:<action>=true|false`; default `insert`, `enable`. */
export function appDbActions(flags: Record<string, string> | undefined): string[] {
  const actions = ['insert', 'enable'];
  for (const [k, v] of Object.entries(flags ?? {})) {
    const m = /^egiappdb:(.+)$/i.exec(k);
    if (!m) continue;
    const action = m[1];
    const on = /^(true|yes|1|on)$/i.test(v);
    const i = actions.indexOf(action);
    if (on && i < 0) actions.push(action);
    if (!on && i >= 0) actions.splice(i, 1);
  }
  return actions;
}

const cdata = (s: string) => `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

/**
 * `egiappdb`: publishes a signed image list to the EGI AppDB by the form POST of the original vmcaster
 * (x509 client certificate, or Basic auth with `authn: "sso"`), and checks AppDB's JSON answer.
 * The list (small) is read into memory, base64-encoded into the form; sizes above `maxSize` are refused.
 * AppDB has no delete: `delete` is a logged no-op, as in the original.
 */
export const egiAppDbBackend: BackendFactory = ({ options, flags, log: logOpt } = {}): UploadBackend => {
  const protocol = 'egiappdb';
  const log: UploadLogger = logOpt ?? (() => {});
  const authnText = optString(options, 'authn', protocol) ?? process.env.VMCASTER_EGIAPPDB_AUTHN ?? 'x509';
  const authn = authnText === '' || authnText === 'x509' ? 'x509' : 'sso';
  const maxSize = optNumber(options, 'maxSize', protocol) ?? 64 * 1024 * 1024;
  const globus = join(homedir(), '.globus');
  const httpOpts = httpClientOptions(protocol, options);
  if (authn === 'x509') {
    httpOpts.cert ??= process.env.VMCASTER_X509_CERT ?? join(globus, 'usercert.pem');
    httpOpts.key ??= process.env.VMCASTER_X509_KEY ?? join(globus, 'userkey.pem');
  }
  const passwordEnv = optString(options, 'passwordEnv', protocol) ?? 'VMCASTER_EGIAPPDB_PASSWORD';
  const password = optString(options, 'password', protocol) ?? process.env[passwordEnv];
  let client: HttpClient | undefined;
  const getClient = () => {
    client ??= new HttpClient(httpOpts, log);
    return client;
  };

  async function put(target: string, source: UploadSource, opts: PutOptions = {}): Promise<void> {
    const { url, user } = appDbEndpoint(target, authn);
    const { signal } = opts;
    throwIfAborted(signal, target, protocol);
    if (authn === 'sso' && password === undefined)
      throw new UploadError(
        'ERR_UPLOAD_AUTH',
        `egiappdb: sso authentication needs a password (option "password" or env ${passwordEnv})`,
        { target, protocol },
      );
    const src = await openSource(source, opts);
    if (src.size !== undefined && src.size > maxSize)
      throw new UploadError(
        'ERR_UPLOAD_FAILED',
        `egiappdb: ${src.size} bytes is more than maxSize ${maxSize}`,
        { target, protocol },
      );
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      const meter = new Meter(src.size, opts.onProgress);
      src.stream.on('error', (err) => meter.destroy(err));
      const onAbort = () => meter.destroy(abortedError(target, protocol, signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const c of src.stream.pipe(meter) as AsyncIterable<Buffer>) {
          total += c.length;
          if (total > maxSize)
            throw new UploadError('ERR_UPLOAD_FAILED', `egiappdb: list larger than maxSize ${maxSize}`);
          chunks.push(c);
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    } catch (err) {
      src.stream.destroy();
      if (signal?.aborted) throw abortedError(target, protocol, signal.reason);
      throw wrapError(err, 'ERR_UPLOAD_FAILED', 'egiappdb: cannot read the list', { target, protocol });
    }
    const xml =
      '<?xml version="1.0" encoding="utf-8"?><appdbvmc>' +
      appDbActions(flags)
        .map((a) => `<action>${cdata(a)}</action>`)
        .join('') +
      `<entity>${cdata('imagelist')}</entity><response>${cdata('json')}</response><user>${cdata(user)}</user>` +
      `<imagelist>${cdata(Buffer.concat(chunks).toString('base64'))}</imagelist></appdbvmc>`;
    const form = Buffer.from(new URLSearchParams({ data: xml }).toString());
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const res = await getClient().request('POST', url, {
      headers,
      ...(authn === 'sso' ? { credentials: { username: user, password } } : {}),
      body: { open: () => Readable.from([form]), canRestart: () => true, length: form.length },
      signal,
      target,
    });
    if (res.status < 200 || res.status > 299) throw statusError(protocol, 'POST', res, target);
    let result: AppDbResult | undefined;
    try {
      result = (JSON.parse(res.text) as { egiappdb?: AppDbResult }).egiappdb;
    } catch {
      // handled below
    }
    if (!result || typeof result.status !== 'string')
      throw new UploadError(
        'ERR_UPLOAD_FAILED',
        `egiappdb: unexpected answer from ${url.href}: ${res.text.slice(0, 200)}`,
        {
          target,
          protocol,
          status: res.status,
        },
      );
    if (result.status !== 'success') {
      const errs = Array.isArray(result.errors) ? result.errors : result.errors ? [result.errors] : [];
      const messages = errs
        .map((e) =>
          e && typeof e === 'object' && 'message' in e
            ? String((e as { message: unknown }).message)
            : JSON.stringify(e),
        )
        .filter(Boolean);
      throw new UploadError(
        'ERR_UPLOAD_FAILED',
        `egiappdb: AppDB answered status ${JSON.stringify(result.status)}${messages.length ? `: ${messages.join('; ')}` : ''}`,
        { target, protocol, status: res.status },
      );
    }
    log('info', `egiappdb: accepted, submission_id ${result.submission_id ?? '?'}`);
  }

  return {
    name: protocol,
    capabilities: { delete: false, stat: false, atomicReplace: true },
    put,
    async delete(target: string) {
      appDbEndpoint(target, authn);
      log('info', 'egiappdb: delete is a no-op (AppDB replaces the list on insert)');
    },
    async dispose() {
      await client?.dispose();
    },
  };
};
