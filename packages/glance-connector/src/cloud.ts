// Where the connector finds its cloud: a clouds.yaml entry (named by the configuration or OS_CLOUD, with
// secure.yaml merged in) or the OS_* variables, as the OpenStack client tools read them.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GlanceConnectorError } from './errors.js';

export type CloudAuth =
  /** No authentication at all (a Glance with the noauth pipeline; tests). */
  | { type: 'none' }
  /**
   * A Keystone token. With `authUrl` it is exchanged for a scoped token with a catalog (Keystone `token`
   * method); without, it is sent to the image endpoint as it is.
   */
  | ({ type: 'token'; token: string; authUrl?: string } & ProjectScope)
  /** Keystone v3 password authentication. */
  | ({
      type: 'password';
      authUrl: string;
      password: string;
      username?: string;
      userId?: string;
      userDomainId?: string;
      userDomainName?: string;
    } & ProjectScope)
  /** Keystone v3 application credential (scoped by the credential itself). */
  | {
      type: 'application_credential';
      authUrl: string;
      secret: string;
      id?: string;
      name?: string;
      username?: string;
      userId?: string;
      userDomainId?: string;
      userDomainName?: string;
    };

export interface ProjectScope {
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  projectDomainName?: string;
  /** Domain scope, when no project is given. */
  domainId?: string;
  domainName?: string;
}

export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface CloudConfig {
  auth: CloudAuth;
  /** The Glance endpoint, instead of the catalog's (`image_endpoint_override`, `OS_IMAGE_URL`). */
  imageEndpoint?: string;
  regionName?: string;
  interface: EndpointInterface;
  /** Authenticate https servers (default true). */
  verify: boolean;
  /** A CA bundle file (PEM). */
  cacert?: string;
}

export interface ResolveCloudOptions {
  /** A clouds.yaml entry; default `OS_CLOUD`. Without either the OS_* variables are used. */
  cloud?: string;
  env?: NodeJS.ProcessEnv;
  /** clouds.yaml files to search, first found wins (default: the OpenStack client's search path). */
  cloudsFiles?: string[];
}

type Raw = Record<string, unknown>;

function str(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function isObject(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function merge(a: Raw, b: Raw): Raw {
  const out: Raw = { ...a };
  for (const [k, v] of Object.entries(b))
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Raw, v) : v;
  return out;
}

/** The OpenStack client's search path for `name` (clouds.yaml or secure.yaml). */
export function defaultCloudsFiles(env: NodeJS.ProcessEnv, name = 'clouds.yaml'): string[] {
  const explicit = name === 'clouds.yaml' ? env.OS_CLIENT_CONFIG_FILE : env.OS_CLIENT_SECURE_FILE;
  const config = env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config');
  return [
    ...(explicit ? [explicit] : []),
    join(process.cwd(), name),
    join(config, 'openstack', name),
    join('/etc/openstack', name),
  ];
}

async function readFirst(files: string[]): Promise<{ path: string; data: Raw } | undefined> {
  for (const path of files) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `cannot read ${path}: ${(err as Error).message}`, {
        path,
        cause: err,
      });
    }
    let data: unknown;
    try {
      data = parseYaml(text);
    } catch (cause) {
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `${path} is not valid YAML`, { path, cause });
    }
    if (!isObject(data))
      throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `${path} is not a mapping`, { path });
    return { path, data };
  }
  return undefined;
}

function authType(raw: string | undefined, auth: Raw): CloudAuth['type'] {
  const t = (raw ?? '').toLowerCase().replace(/^v3/, '').replace(/[-_]/g, '');
  if (t === 'none' || t === 'noauth') return 'none';
  if (t === 'password') return 'password';
  if (t === 'applicationcredential') return 'application_credential';
  if (t === 'token' || t === 'admintoken') return 'token';
  if (t !== '') throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `unsupported auth_type ${raw}`);
  if (str(auth.application_credential_secret)) return 'application_credential';
  if (str(auth.password)) return 'password';
  if (str(auth.token)) return 'token';
  return 'none';
}

function need(value: string | undefined, what: string): string {
  if (value === undefined) throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `${what} is required`);
  return value;
}

/** A CloudConfig from clouds.yaml-style keys (`auth_type`, `auth: {auth_url, …}`, `region_name`, …). */
export function cloudFromEntry(entry: Raw): CloudConfig {
  const auth = isObject(entry.auth) ? entry.auth : {};
  const type = authType(str(entry.auth_type), auth);
  const scope: ProjectScope = {};
  const set = (key: keyof ProjectScope, value: unknown) => {
    const v = str(value);
    if (v !== undefined) scope[key] = v;
  };
  set('projectId', auth.project_id ?? auth.tenant_id);
  set('projectName', auth.project_name ?? auth.tenant_name);
  set('projectDomainId', auth.project_domain_id);
  set('projectDomainName', auth.project_domain_name);
  set('domainId', auth.domain_id);
  set('domainName', auth.domain_name);
  const user = {
    ...(str(auth.username) ? { username: str(auth.username) } : {}),
    ...(str(auth.user_id) ? { userId: str(auth.user_id) } : {}),
    ...(str(auth.user_domain_id) ? { userDomainId: str(auth.user_domain_id) } : {}),
    ...(str(auth.user_domain_name) ? { userDomainName: str(auth.user_domain_name) } : {}),
  };
  let cloudAuth: CloudAuth;
  const authUrl = str(auth.auth_url);
  switch (type) {
    case 'none':
      cloudAuth = { type: 'none' };
      break;
    case 'token':
      cloudAuth = {
        type: 'token',
        token: need(str(auth.token), 'auth.token'),
        ...(authUrl ? { authUrl } : {}),
        ...scope,
      };
      break;
    case 'password':
      cloudAuth = {
        type: 'password',
        authUrl: need(authUrl, 'auth.auth_url'),
        password: need(str(auth.password), 'auth.password'),
        ...user,
        ...scope,
      };
      if (!user.username && !user.userId)
        throw new GlanceConnectorError('ERR_GLANCE_CONFIG', 'auth.username or auth.user_id is required');
      break;
    case 'application_credential': {
      const id = str(auth.application_credential_id);
      const name = str(auth.application_credential_name);
      if (!id && !name)
        throw new GlanceConnectorError(
          'ERR_GLANCE_CONFIG',
          'auth.application_credential_id or auth.application_credential_name is required',
        );
      if (!id && !user.username && !user.userId)
        throw new GlanceConnectorError(
          'ERR_GLANCE_CONFIG',
          'an application credential given by name needs auth.username or auth.user_id',
        );
      cloudAuth = {
        type: 'application_credential',
        authUrl: need(authUrl, 'auth.auth_url'),
        secret: need(str(auth.application_credential_secret), 'auth.application_credential_secret'),
        ...(id ? { id } : {}),
        ...(name ? { name } : {}),
        ...user,
      };
      break;
    }
  }
  const iface = (str(entry.interface) ?? str(entry.endpoint_type) ?? 'public').replace(/URL$/, '');
  if (iface !== 'public' && iface !== 'internal' && iface !== 'admin')
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `unknown interface ${iface}`);
  const endpoint = str(entry.image_endpoint_override) ?? str(auth.endpoint) ?? str(entry.endpoint);
  const verify = entry.verify === undefined ? true : entry.verify !== false && entry.verify !== 'false';
  const cloud: CloudConfig = { auth: cloudAuth, interface: iface, verify };
  if (endpoint) cloud.imageEndpoint = endpoint;
  const region = str(entry.region_name);
  if (region) cloud.regionName = region;
  const cacert = str(entry.cacert);
  if (cacert) cloud.cacert = cacert;
  if (cloudAuth.type === 'none' && !cloud.imageEndpoint)
    throw new GlanceConnectorError(
      'ERR_GLANCE_CONFIG',
      'without authentication the image endpoint must be given',
    );
  if (cloudAuth.type === 'token' && !cloudAuth.authUrl && !cloud.imageEndpoint)
    throw new GlanceConnectorError(
      'ERR_GLANCE_CONFIG',
      'a token without auth_url needs the image endpoint (OS_IMAGE_URL or image_endpoint_override)',
    );
  return cloud;
}

/** The clouds.yaml-style entry the OS_* variables describe. */
export function entryFromEnv(env: NodeJS.ProcessEnv): Raw {
  const auth: Raw = {};
  const map: [string, string][] = [
    ['OS_AUTH_URL', 'auth_url'],
    ['OS_USERNAME', 'username'],
    ['OS_USER_ID', 'user_id'],
    ['OS_PASSWORD', 'password'],
    ['OS_USER_DOMAIN_NAME', 'user_domain_name'],
    ['OS_USER_DOMAIN_ID', 'user_domain_id'],
    ['OS_PROJECT_NAME', 'project_name'],
    ['OS_TENANT_NAME', 'project_name'],
    ['OS_PROJECT_ID', 'project_id'],
    ['OS_TENANT_ID', 'project_id'],
    ['OS_PROJECT_DOMAIN_NAME', 'project_domain_name'],
    ['OS_PROJECT_DOMAIN_ID', 'project_domain_id'],
    ['OS_DOMAIN_NAME', 'domain_name'],
    ['OS_DOMAIN_ID', 'domain_id'],
    ['OS_APPLICATION_CREDENTIAL_ID', 'application_credential_id'],
    ['OS_APPLICATION_CREDENTIAL_NAME', 'application_credential_name'],
    ['OS_APPLICATION_CREDENTIAL_SECRET', 'application_credential_secret'],
    ['OS_TOKEN', 'token'],
  ];
  for (const [name, key] of map) if (env[name] && auth[key] === undefined) auth[key] = env[name];
  const entry: Raw = { auth };
  if (env.OS_AUTH_TYPE) entry.auth_type = env.OS_AUTH_TYPE;
  if (env.OS_REGION_NAME) entry.region_name = env.OS_REGION_NAME;
  if (env.OS_INTERFACE) entry.interface = env.OS_INTERFACE;
  if (env.OS_IMAGE_URL ?? env.OS_ENDPOINT)
    entry.image_endpoint_override = env.OS_IMAGE_URL ?? env.OS_ENDPOINT;
  if (env.OS_CACERT) entry.cacert = env.OS_CACERT;
  if (env.OS_INSECURE && /^(1|true|yes)$/i.test(env.OS_INSECURE)) entry.verify = false;
  return entry;
}

/**
 * The cloud to use: the clouds.yaml entry `options.cloud` (or `OS_CLOUD`), with secure.yaml merged over it;
 * otherwise the OS_* variables. `ERR_GLANCE_CONFIG` when the entry is missing or incomplete.
 */
export async function resolveCloud(options: ResolveCloudOptions = {}): Promise<CloudConfig> {
  const env = options.env ?? process.env;
  const name = options.cloud ?? env.OS_CLOUD;
  if (!name) {
    const entry = entryFromEnv(env);
    if (!Object.keys(entry.auth as Raw).length && !entry.image_endpoint_override)
      throw new GlanceConnectorError(
        'ERR_GLANCE_CONFIG',
        'no cloud configured: set OS_CLOUD (clouds.yaml), the OS_* variables, or `cloud` in the configuration',
      );
    return cloudFromEntry(entry);
  }
  const files = options.cloudsFiles ?? defaultCloudsFiles(env);
  const clouds = await readFirst(files);
  if (!clouds)
    throw new GlanceConnectorError(
      'ERR_GLANCE_CONFIG',
      `cloud ${name}: no clouds.yaml in ${files.join(', ')}`,
    );
  const all = isObject(clouds.data.clouds) ? clouds.data.clouds : {};
  const found = all[name];
  if (!isObject(found))
    throw new GlanceConnectorError('ERR_GLANCE_CONFIG', `cloud ${name} is not in ${clouds.path}`, {
      path: clouds.path,
    });
  let entry: Raw = found;
  const secure = options.cloudsFiles ? undefined : await readFirst(defaultCloudsFiles(env, 'secure.yaml'));
  const secureEntry = secure && isObject(secure.data.clouds) ? secure.data.clouds[name] : undefined;
  if (isObject(secureEntry)) entry = merge(entry, secureEntry);
  return cloudFromEntry(entry);
}
