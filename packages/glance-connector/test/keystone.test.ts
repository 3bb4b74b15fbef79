// Keystone v3 against the real Keystone of scripts/start-glance.sh (Debian's keystone under uwsgi, SQLite):
// password and application-credential authentication, the image endpoint from the catalog, and an upload to
// the glance-api whose keystone pipeline validates every token.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticate,
  type CloudConfig,
  createGlanceConnector,
  createHttpClient,
  factsFromMetadata,
  type GlanceConnectorError,
  resolveCloud,
} from '../src/index.js';
import { env, rawDisk, sha512File, tempDir, uniqueTag } from './helpers.js';

let dir: string;
const http = createHttpClient();
let admin: { id: string; token: string };
let appCred: { id: string; name: string; secret: string };

async function keystone(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  return fetch(`${env('TEST_KEYSTONE_URL')}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init.token ? { 'x-auth-token': init.token } : {}) },
  });
}

beforeAll(async () => {
  dir = tempDir('hepix-keystone-');
  const t = await authenticate(http, {
    type: 'password',
    authUrl: env('TEST_KEYSTONE_URL'),
    username: env('TEST_KEYSTONE_USER'),
    password: env('TEST_KEYSTONE_PASSWORD'),
    userDomainId: 'default',
    projectName: env('TEST_KEYSTONE_PROJECT'),
    projectDomainId: 'default',
  });
  // The admin user's id, from Keystone's own view of the token.
  const r = await fetch(`${env('TEST_KEYSTONE_URL')}/auth/tokens`, {
    headers: { 'x-auth-token': t.token, 'x-subject-token': t.token },
  });
  const userId = ((await r.json()) as { token: { user: { id: string } } }).token.user.id;
  admin = { id: userId, token: t.token };
  // An application credential made through Keystone's API, as a site would with `openstack application credential create`.
  const name = `vmcatcher-glance-${randomUUID().slice(0, 8)}`;
  const created = await keystone(`/users/${userId}/application_credentials`, {
    method: 'POST',
    token: t.token,
    body: JSON.stringify({ application_credential: { name, description: 'connector test' } }),
  });
  expect(created.status).toBe(201);
  const ac = ((await created.json()) as { application_credential: { id: string; secret: string } })
    .application_credential;
  appCred = { id: ac.id, name, secret: ac.secret };
});
afterAll(async () => {
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Keystone v3', () => {
  it('password: a scoped token and the image endpoint of the catalog', async () => {
    const t = await authenticate(http, {
      type: 'password',
      authUrl: env('TEST_KEYSTONE_URL'),
      username: env('TEST_KEYSTONE_USER'),
      password: env('TEST_KEYSTONE_PASSWORD'),
      userDomainName: 'Default',
      projectName: env('TEST_KEYSTONE_PROJECT'),
      projectDomainName: 'Default',
    });
    expect(t.token.length).toBeGreaterThan(20);
    expect(t.imageEndpoint).toBe(env('TEST_GLANCE_KEYSTONE_URL'));
    expect(t.project?.name).toBe(env('TEST_KEYSTONE_PROJECT'));
    expect(t.expiresAt?.getTime()).toBeGreaterThan(Date.now());
  });

  it('application credential, by id and by name', async () => {
    const byId = await authenticate(http, {
      type: 'application_credential',
      authUrl: env('TEST_KEYSTONE_URL'),
      id: appCred.id,
      secret: appCred.secret,
    });
    expect(byId.imageEndpoint).toBe(env('TEST_GLANCE_KEYSTONE_URL'));
    const byName = await authenticate(http, {
      type: 'application_credential',
      authUrl: env('TEST_KEYSTONE_URL'),
      name: appCred.name,
      userId: admin.id,
      secret: appCred.secret,
    });
    expect(byName.project?.id).toBe(byId.project?.id);
  });

  it('refusals: a wrong password, a wrong secret, an unreachable Keystone', async () => {
    const wrong = await authenticate(http, {
      type: 'password',
      authUrl: env('TEST_KEYSTONE_URL'),
      username: env('TEST_KEYSTONE_USER'),
      password: 'not-the-password',
      projectName: env('TEST_KEYSTONE_PROJECT'),
    }).catch((e: GlanceConnectorError) => e);
    expect(wrong).toMatchObject({ code: 'ERR_GLANCE_AUTH', httpStatus: 401 });
    const secret = await authenticate(http, {
      type: 'application_credential',
      authUrl: env('TEST_KEYSTONE_URL'),
      id: appCred.id,
      secret: 'nope',
    }).catch((e: GlanceConnectorError) => e);
    expect(secret).toMatchObject({ code: 'ERR_GLANCE_AUTH', httpStatus: 401 });
    const down = await authenticate(http, {
      type: 'password',
      authUrl: 'http://127.0.0.1:9/v3',
      username: 'x',
      password: 'y',
    }).catch((e: GlanceConnectorError) => e);
    expect(down).toMatchObject({ code: 'ERR_GLANCE_CONNECT' });
  });

  it('uploads through the keystone-protected Glance with an application credential from clouds.yaml', async () => {
    const clouds = join(dir, 'clouds.yaml');
    writeFileSync(
      clouds,
      [
        'clouds:',
        '  site:',
        '    auth_type: v3applicationcredential',
        '    auth:',
        `      auth_url: ${env('TEST_KEYSTONE_URL')}`,
        `      application_credential_id: "${appCred.id}"`,
        `      application_credential_secret: "${appCred.secret}"`,
        '    region_name: RegionOne',
        '    interface: public',
        '',
      ].join('\n'),
    );
    const cloud: CloudConfig = await resolveCloud({ cloud: 'site', cloudsFiles: [clouds], env: {} });
    expect(cloud).toMatchObject({ auth: { type: 'application_credential' }, regionName: 'RegionOne' });
    const tag = uniqueTag();
    const scratch = join(dir, 'scratch');
    mkdirSync(scratch, { recursive: true });
    const c = createGlanceConnector({ cloud, tag, scratchDir: scratch });
    const id = randomUUID();
    const disk = rawDisk(join(dir, `${id}.raw`));
    const facts = factsFromMetadata({
      'dc:identifier': id,
      'sl:checksum:sha512': sha512File(disk),
      'hv:size': 1 << 20,
      'hv:imagelist.dc:identifier': 'keystone-list',
      'hv:image.hv:format': 'raw',
      'hv:image.dc:title': 'Keystone test image',
    });
    const r = await c.available(facts, disk);
    expect(r.results).toMatchObject([{ ok: true }]);
    const g = await fetch(`${env('TEST_GLANCE_KEYSTONE_URL')}/v2/images/${r.results[0].glanceId}`, {
      headers: { 'x-auth-token': admin.token },
    });
    expect(await g.json()).toMatchObject({ status: 'active', os_hash_value: sha512File(disk), tags: [tag] });
    expect((await c.expire(facts)).actions.map((a) => a.kind)).toEqual(['deactivate', 'delete']);
    // Without a token the same Glance refuses: the keystone pipeline is really in front of it.
    expect((await fetch(`${env('TEST_GLANCE_KEYSTONE_URL')}/v2/images`)).status).toBe(401);
    await c.close();
  });
});
