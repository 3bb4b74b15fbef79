// Keystone v3: exchanges the configured credentials for a token and finds the image endpoint in the catalog.
// The token is renewed shortly before it expires and once after a 401.
import type { Logger } from '@hepix/common';
import type { CloudAuth, CloudConfig, ProjectScope } from './cloud.js';
import { GlanceConnectorError } from './errors.js';
import { type HttpClient, readJson, readText } from './http.js';

export interface KeystoneToken {
  token: string;
  expiresAt?: Date;
  /** The image endpoint from the catalog (without a trailing version). */
  imageEndpoint?: string;
  project?: { id: string; name?: string };
}

interface CatalogEntry {
  type?: string;
  endpoints?: { interface?: string; region_id?: string; region?: string; url?: string }[];
}

function v3(authUrl: string): string {
  const u = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(u) ? u : `${u}/v3`;
}

function domain(id?: string, name?: string): Record<string, string> | undefined {
  if (id) return { id };
  if (name) return { name };
  return undefined;
}

function user(a: { username?: string; userId?: string; userDomainId?: string; userDomainName?: string }) {
  if (a.userId) return { id: a.userId };
  return { name: a.username, domain: domain(a.userDomainId, a.userDomainName) ?? { id: 'default' } };
}

function scope(s: ProjectScope): Record<string, unknown> | undefined {
  if (s.projectId) return { project: { id: s.projectId } };
  if (s.projectName)
    return {
      project: {
        name: s.projectName,
        domain: domain(s.projectDomainId, s.projectDomainName) ?? { id: 'default' },
      },
    };
  const d = domain(s.domainId, s.domainName);
  return d ? { domain: d } : undefined;
}

/** The body of `POST /v3/auth/tokens` for these credentials. */
export function tokenRequestBody(auth: Exclude<CloudAuth, { type: 'none' }>): Record<string, unknown> {
  let identity: Record<string, unknown>;
  let s: Record<string, unknown> | undefined;
  switch (auth.type) {
    case 'password':
      identity = { methods: ['password'], password: { user: { ...user(auth), password: auth.password } } };
      s = scope(auth);
      break;
    case 'application_credential':
      // The credential carries its own scope; a name is only unique per user.
      identity = {
        methods: ['application_credential'],
        application_credential: auth.id
          ? { id: auth.id, secret: auth.secret }
          : { name: auth.name, secret: auth.secret, user: user(auth) },
      };
      break;
    case 'token':
      identity = { methods: ['token'], token: { id: auth.token } };
      s = scope(auth);
      break;
  }
  return { auth: { identity, ...(s ? { scope: s } : {}) } };
}

/** The image endpoint of a token's catalog for an interface and (optionally) a region. */
export function imageEndpointFromCatalog(
  catalog: unknown,
  iface: string,
  region?: string,
): string | undefined {
  if (!Array.isArray(catalog)) return undefined;
  for (const entry of catalog as CatalogEntry[]) {
    if (entry?.type !== 'image' || !Array.isArray(entry.endpoints)) continue;
    for (const e of entry.endpoints) {
      if (e.interface !== iface || typeof e.url !== 'string') continue;
      if (region && e.region_id !== region && e.region !== region) continue;
      return e.url.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '');
    }
  }
  return undefined;
}

/** One `POST /v3/auth/tokens`. `ERR_GLANCE_AUTH` for a refusal, `ERR_GLANCE_CONNECT` when unreachable. */
export async function authenticate(
  http: HttpClient,
  auth: Exclude<CloudAuth, { type: 'none' }> & { authUrl: string },
  options: { interface?: string; regionName?: string } = {},
): Promise<KeystoneToken> {
  const url = `${v3(auth.authUrl)}/auth/tokens`;
  const r = await http.request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(tokenRequestBody(auth)),
    // Asking twice only makes a second token: a Keystone that closes idle connections (uwsgi's http-socket
    // does after each answer) must not fail the first request on a reused one.
    idempotent: true,
  });
  if (r.status !== 201 && r.status !== 200) {
    const text = (await readText(r).catch(() => '')).slice(0, 500);
    throw new GlanceConnectorError(
      'ERR_GLANCE_AUTH',
      `Keystone refused the ${auth.type} credentials (HTTP ${r.status}): ${text}`,
      {
        url,
        httpStatus: r.status,
      },
    );
  }
  const token = r.headers['x-subject-token'];
  const body = await readJson<{ token?: Record<string, unknown> }>(r);
  if (typeof token !== 'string' || !body.token)
    throw new GlanceConnectorError('ERR_GLANCE_AUTH', 'Keystone answered without a token', { url });
  const out: KeystoneToken = { token };
  if (typeof body.token.expires_at === 'string') out.expiresAt = new Date(body.token.expires_at);
  const endpoint = imageEndpointFromCatalog(
    body.token.catalog,
    options.interface ?? 'public',
    options.regionName,
  );
  if (endpoint) out.imageEndpoint = endpoint;
  const project = body.token.project as { id?: string; name?: string } | undefined;
  if (project?.id) out.project = { id: project.id, ...(project.name ? { name: project.name } : {}) };
  return out;
}

/** What the Glance client needs from authentication: where to go and which headers to send. */
export interface Session {
  endpoint(): Promise<string>;
  headers(): Promise<Record<string, string>>;
  /** Forget the token (after a 401); the next call authenticates again. */
  invalidate(): void;
  /** The project the token is scoped to, when Keystone said. */
  project(): Promise<{ id: string; name?: string } | undefined>;
}

/** A session for a cloud: no auth, a fixed token, or Keystone with renewal. */
export function createSession(
  http: HttpClient,
  cloud: CloudConfig,
  options: { log?: Logger; now?: () => Date } = {},
): Session {
  const now = options.now ?? (() => new Date());
  const auth = cloud.auth;
  const fixedEndpoint = cloud.imageEndpoint?.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '');
  if (auth.type === 'none' || (auth.type === 'token' && !auth.authUrl)) {
    const headers: Record<string, string> = auth.type === 'token' ? { 'x-auth-token': auth.token } : {};
    return {
      endpoint: async () => fixedEndpoint as string,
      headers: async () => headers,
      invalidate: () => {},
      project: async () => undefined,
    };
  }
  let current: Promise<KeystoneToken> | undefined;
  const get = async (): Promise<KeystoneToken> => {
    if (current) {
      const t = await current.catch(() => undefined);
      // Renewed a minute before it expires, so no request carries a token that dies on the way.
      if (t && (!t.expiresAt || t.expiresAt.getTime() - now().getTime() > 60_000)) return t;
    }
    current = authenticate(http, auth as typeof auth & { authUrl: string }, {
      interface: cloud.interface,
      ...(cloud.regionName ? { regionName: cloud.regionName } : {}),
    });
    const t = await current;
    options.log?.(
      'debug',
      `keystone: ${auth.type} token obtained${t.project ? ` for project ${t.project.id}` : ''}`,
    );
    return t;
  };
  return {
    endpoint: async () => {
      if (fixedEndpoint) return fixedEndpoint;
      const t = await get();
      if (!t.imageEndpoint)
        throw new GlanceConnectorError(
          'ERR_GLANCE_AUTH',
          `the Keystone catalog has no ${cloud.interface} image endpoint${cloud.regionName ? ` in ${cloud.regionName}` : ''}`,
        );
      return t.imageEndpoint;
    },
    headers: async () => ({ 'x-auth-token': (await get()).token }),
    invalidate: () => {
      current = undefined;
    },
    project: async () => (await get()).project,
  };
}
