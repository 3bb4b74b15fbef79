// The pure parts, by tables: formats, properties, the mapping, the plan, configuration, clouds, the event input.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEvent } from '../src/cli.js';
import {
  architecture,
  cloudFromEntry,
  type DesiredImage,
  entryFromEnv,
  factsFromMetadata,
  type GlanceConnectorError,
  type GlanceImage,
  imageEndpointFromCatalog,
  type ManagedImage,
  minRamMiB,
  osDistro,
  osVersion,
  parseConnectorConfig,
  parseDeclaredFormat,
  parseMapping,
  parseSize,
  planSync,
  resolveCloud,
  resolveTarget,
  tokenRequestBody,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const dir = tempDir('hepix-glance-decisions-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as GlanceConnectorError).code;
  }
  return undefined;
}
async function acode(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: GlanceConnectorError) => e.code,
  );
}

describe('hv:format', () => {
  it.each([
    ['QCOW2', { disk: 'qcow2' }],
    ['raw.gz', { disk: 'raw', compression: 'gzip' }],
    ['OVA', { archive: 'ova' }],
    ['tar.gz', { archive: 'ova', compression: 'gzip' }],
    ['vmdk.xz', { disk: 'vmdk', compression: 'xz' }],
    ['vpc.bz2', { disk: 'vhd', compression: 'bzip2' }],
    ['ext3.zst', { disk: 'raw', compression: 'zstd' }],
    ['iso', { disk: 'iso' }],
  ])('%s', (text, want) => {
    expect(parseDeclaredFormat(text)).toEqual({ text, ...want });
  });
  it('absent, unknown, unsupported', () => {
    expect(parseDeclaredFormat(undefined)).toBeUndefined();
    expect(parseDeclaredFormat('')).toBeUndefined();
    expect(code(() => parseDeclaredFormat('cpio.bz2'))).toBe('ERR_GLANCE_FORMAT_UNSUPPORTED');
    expect(code(() => parseDeclaredFormat('raw.zip'))).toBe('ERR_GLANCE_COMPRESSION_UNSUPPORTED');
    expect(code(() => parseDeclaredFormat('img.lz4'))).toBe('ERR_GLANCE_COMPRESSION_UNSUPPORTED');
  });
});

describe('properties the consumers read', () => {
  it.each([
    [{ 'sl:osname': 'Ubuntu', 'sl:os': 'Linux' }, 'ubuntu'],
    [{ 'sl:os': 'Linux', 'sl:osversion': 'SL 6.4' }, 'scientific'],
    [{ 'sl:os': 'CentOS', 'sl:osversion': '7' }, 'centos'],
    [{ 'sl:osname': 'AlmaLinux', 'sl:os': 'Linux' }, 'almalinux'],
    [{ 'sl:osname': 'Red Hat Enterprise Linux' }, 'rhel'],
    [{ 'sl:os': 'Windows' }, 'windows'],
    [{ 'sl:os': 'Linux' }, 'linux'],
    [{}, undefined],
  ])('os_distro of %j is %s', (image, want) => {
    expect(osDistro(image)).toBe(want);
  });
  it.each([
    ['Ubuntu 22.04 LTS', '22.04'],
    ['SL 6.4', '6.4'],
    ['9', '9'],
    ['rolling', 'rolling'],
  ])('os_version of %s is %s', (v, want) => {
    expect(osVersion({ 'sl:osversion': v })).toBe(want);
  });
  it.each([
    ['amd64', 'x86_64'],
    ['x86_64', 'x86_64'],
    ['i386', 'i686'],
    ['arm64', 'aarch64'],
    ['ppc64le', 'ppc64le'],
  ])('architecture of %s is %s', (a, want) => {
    expect(architecture({ 'sl:arch': a })).toBe(want);
  });
  it.each([
    ['512', 512],
    [2048, 2048],
    [String(2 * 1024 ** 3), 2048],
    ['', 0],
    ['lots', 0],
  ])('min_ram of hv:ram_minimum %s is %i MiB', (v, want) => {
    expect(minRamMiB({ 'hv:ram_minimum': v })).toBe(want);
  });
  it('facts need an identifier and a sha512', () => {
    expect(code(() => factsFromMetadata({}))).toBe('ERR_GLANCE_EVENT');
    expect(code(() => factsFromMetadata({ 'dc:identifier': 'x', 'sl:checksum:sha512': 'abc' }))).toBe(
      'ERR_GLANCE_EVENT',
    );
  });
});

describe('the mapping', () => {
  const mapping = parseMapping({
    rules: [
      { vo: 'atlas', subscription: 'list-1', project: 'p-atlas-1', visibility: 'private' },
      { vo: 'atlas', project: 'p-atlas', visibility: 'shared', members: ['b', 'a', 'a'] },
      { subscription: 'list-2', visibility: 'public' },
    ],
  });
  it.each([
    [
      { vo: 'atlas', subscription: 'list-1' },
      { project: 'p-atlas-1', visibility: 'private', members: [] },
    ],
    [
      { vo: 'atlas', subscription: 'list-9' },
      { project: 'p-atlas', visibility: 'shared', members: ['a', 'b'] },
    ],
    [
      { vo: 'cms', subscription: 'list-2' },
      { visibility: 'public', members: [] },
    ],
    [{ vo: 'cms', subscription: 'list-3' }, undefined],
  ])('%j goes to %j', (facts, want) => {
    expect(resolveTarget(mapping, facts)).toEqual(want);
  });
  it.each([
    [{ rules: [{ visibility: 'private' }] }],
    [{ rules: [{ vo: 'x', visibility: 'secret' }] }],
    [{ rules: [{ vo: 'x', visibility: 'private', members: ['a'] }] }],
    [{ rules: [{ vo: 'x', members: 'a' }] }],
    [{ rules: {} }],
    [{ default: { visibility: 'public' }, extra: 1 }],
    [[]],
  ])('refuses %j', (doc) => {
    expect(code(() => parseMapping(doc))).toBe('ERR_GLANCE_CONFIG');
  });
});

const SHA = (c: string) => c.repeat(128);
function managed(
  id: string,
  sha: string,
  status = 'active',
  extra: Partial<GlanceImage> = {},
  members: string[] = [],
): ManagedImage {
  return {
    image: {
      id: `g-${id}-${sha[0]}-${status}`,
      status,
      visibility: 'private',
      tags: ['vmcatcher'],
      vmcatcher_event_dc_identifier: id,
      vmcatcher_event_sl_checksum_sha512: sha,
      ...extra,
    },
    members,
  };
}
function desired(id: string, sha: string, path?: string): DesiredImage {
  return {
    facts: { identifier: id, subscription: 's', sha512: sha, size: 1, image: { 'dc:title': id } },
    target: { visibility: 'private', members: [] },
    ...(path ? { path } : {}),
  };
}
const opts = { expire: 'delete' as const, tag: 'vmcatcher' };
const kinds = (a: ReturnType<typeof planSync>) =>
  a.map((x) => `${x.kind} ${'glanceId' in x ? x.glanceId : x.identifier}`);

describe('planSync', () => {
  it('uploads what is cached and not in Glance', () => {
    expect(kinds(planSync([desired('a', SHA('1'), '/c/a')], [], opts))).toEqual(['upload a']);
  });
  it('replaces an older version: upload first, the old one listed to retire', () => {
    const plan = planSync([desired('a', SHA('2'), '/c/a')], [managed('a', SHA('1'))], opts);
    expect(plan).toMatchObject([{ kind: 'upload', replaces: ['g-a-1-active'] }]);
  });
  it('while the new version is not cached: deactivates the old one, deletes nothing', () => {
    expect(kinds(planSync([desired('a', SHA('2'))], [managed('a', SHA('1'))], opts))).toEqual([
      'deactivate g-a-1-active',
    ]);
  });
  it('retires what is no longer endorsed (delete or keep deactivated)', () => {
    expect(kinds(planSync([], [managed('a', SHA('1'))], opts))).toEqual([
      'deactivate g-a-1-active',
      'delete g-a-1-active',
    ]);
    expect(kinds(planSync([], [managed('a', SHA('1'))], { ...opts, expire: 'deactivate' }))).toEqual([
      'deactivate g-a-1-active',
    ]);
    expect(
      kinds(planSync([], [managed('a', SHA('1'), 'deactivated')], { ...opts, expire: 'deactivate' })),
    ).toEqual([]);
  });
  it('cleans up unfinished uploads and duplicates, keeps the active copy', () => {
    const plan = planSync(
      [desired('a', SHA('1'), '/c/a')],
      [managed('a', SHA('1'), 'queued'), managed('a', SHA('1'), 'deactivated'), managed('a', SHA('1'))],
      opts,
    );
    expect(kinds(plan)).toEqual(['delete g-a-1-queued', 'delete g-a-1-deactivated', 'update g-a-1-active']);
  });
  it('ignores deleted images and images of other identifiers stay separate', () => {
    const plan = planSync(
      [desired('a', SHA('1'), '/c/a')],
      [managed('a', SHA('1'), 'deleted'), managed('b', SHA('3'))],
      opts,
    );
    expect(kinds(plan)).toEqual(['upload a', 'deactivate g-b-3-active', 'delete g-b-3-active']);
  });
});

describe('configuration', () => {
  it('sizes', () => {
    expect(parseSize('100G', 'x')).toBe(100 * 1024 ** 3);
    expect(parseSize('512 MiB', 'x')).toBe(512 * 1024 ** 2);
    expect(parseSize(4096, 'x')).toBe(4096);
    expect(code(() => parseSize('big', 'x'))).toBe('ERR_GLANCE_CONFIG');
  });
  it('reads a configuration with a mapping file beside it', async () => {
    const d = join(dir, 'conf');
    mkdirSync(d);
    writeFileSync(join(d, 'mapping.yaml'), 'rules:\n  - vo: dteam\n    visibility: public\n');
    const c = await parseConnectorConfig(
      {
        mapping: 'mapping.yaml',
        formats: 'qcow2, raw',
        max_virtual_size: '2T',
        limits: { cpu_seconds: 60 },
        expire: 'deactivate',
      },
      d,
    );
    expect(c).toMatchObject({
      formats: ['qcow2', 'raw'],
      maxVirtualSize: 2 * 1024 ** 4,
      limits: { cpuSeconds: 60 },
      expire: 'deactivate',
      mapping: { rules: [{ vo: 'dteam', visibility: 'public', members: [] }] },
    });
  });
  it.each([
    [{ formats: ['qcow3'] }],
    [{ expire: 'never' }],
    [{ sandbox: 'docker' }],
    [{ limits: { memory: 1 } }],
    [{ maximum: 1 }],
    [{ mapping: 'missing.yaml' }],
  ])('refuses %j', async (doc) => {
    expect(await acode(parseConnectorConfig(doc, dir))).toBe('ERR_GLANCE_CONFIG');
  });
});

describe('clouds', () => {
  it('reads OS_* variables', () => {
    const c = cloudFromEntry(
      entryFromEnv({
        OS_AUTH_URL: 'https://keystone.example.org:5000/v3',
        OS_USERNAME: 'u',
        OS_PASSWORD: 'p',
        OS_PROJECT_NAME: 'proj',
        OS_USER_DOMAIN_NAME: 'Default',
        OS_PROJECT_DOMAIN_ID: 'default',
        OS_REGION_NAME: 'R1',
        OS_INTERFACE: 'internal',
      }),
    );
    expect(c).toEqual({
      auth: {
        type: 'password',
        authUrl: 'https://keystone.example.org:5000/v3',
        username: 'u',
        password: 'p',
        userDomainName: 'Default',
        projectName: 'proj',
        projectDomainId: 'default',
      },
      regionName: 'R1',
      interface: 'internal',
      verify: true,
    });
  });
  it('reads clouds.yaml by OS_CLOUD, with secure.yaml kept apart only when searching', async () => {
    const f = join(dir, 'clouds.yaml');
    writeFileSync(
      f,
      'clouds:\n  a:\n    auth_type: token\n    auth: { token: t0k, endpoint: "http://127.0.0.1:1" }\n    verify: false\n',
    );
    expect(await resolveCloud({ env: { OS_CLOUD: 'a' }, cloudsFiles: [f] })).toEqual({
      auth: { type: 'token', token: 't0k' },
      imageEndpoint: 'http://127.0.0.1:1',
      interface: 'public',
      verify: false,
    });
    expect(await acode(resolveCloud({ env: { OS_CLOUD: 'b' }, cloudsFiles: [f] }))).toBe('ERR_GLANCE_CONFIG');
    expect(await acode(resolveCloud({ env: {} }))).toBe('ERR_GLANCE_CONFIG');
  });
  it.each([
    [{ auth_type: 'password', auth: { auth_url: 'http://k', password: 'p' } }],
    [
      {
        auth_type: 'v3applicationcredential',
        auth: { auth_url: 'http://k', application_credential_secret: 's' },
      },
    ],
    [
      {
        auth_type: 'v3applicationcredential',
        auth: { auth_url: 'http://k', application_credential_name: 'n', application_credential_secret: 's' },
      },
    ],
    [{ auth_type: 'none' }],
    [{ auth_type: 'token', auth: { token: 't' } }],
    [{ auth_type: 'oidc' }],
    [{ auth_type: 'none', image_endpoint_override: 'http://g', interface: 'private' }],
  ])('refuses %j', (entry) => {
    expect(code(() => cloudFromEntry(entry))).toBe('ERR_GLANCE_CONFIG');
  });
  it('Keystone request bodies and the catalog', () => {
    expect(tokenRequestBody({ type: 'application_credential', authUrl: 'x', id: 'i', secret: 's' })).toEqual({
      auth: {
        identity: { methods: ['application_credential'], application_credential: { id: 'i', secret: 's' } },
      },
    });
    expect(
      tokenRequestBody({ type: 'password', authUrl: 'x', username: 'u', password: 'p', projectId: 'pid' }),
    ).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'u', domain: { id: 'default' }, password: 'p' } },
        },
        scope: { project: { id: 'pid' } },
      },
    });
    const catalog = [
      { type: 'identity', endpoints: [{ interface: 'public', url: 'http://k' }] },
      {
        type: 'image',
        endpoints: [
          { interface: 'public', region_id: 'R1', url: 'https://g1/v2/' },
          { interface: 'public', region_id: 'R2', url: 'https://g2' },
          { interface: 'internal', region_id: 'R1', url: 'http://g1-internal' },
        ],
      },
    ];
    expect(imageEndpointFromCatalog(catalog, 'public')).toBe('https://g1');
    expect(imageEndpointFromCatalog(catalog, 'public', 'R2')).toBe('https://g2');
    expect(imageEndpointFromCatalog(catalog, 'internal')).toBe('http://g1-internal');
    expect(imageEndpointFromCatalog(catalog, 'admin')).toBeUndefined();
  });
});

describe('the event input', () => {
  it('takes the JSON on standard input', () => {
    const e = {
      type: 'AvailablePostfix',
      session: 's',
      metadata: { 'dc:identifier': 'x' },
      dirs: { cache: '/c' },
    };
    expect(readEvent(`${JSON.stringify(e)}\n`, { VMCATCHER_EVENT_TYPE: 'AvailablePostfix' })).toEqual(e);
  });
  it('falls back to the VMCATCHER_* variables (the original vmcatcher)', () => {
    expect(
      readEvent('', {
        VMCATCHER_EVENT_TYPE: 'ExpirePostfix',
        VMCATCHER_EVENT_UUID_SESSION: 's1',
        VMCATCHER_EVENT_DC_IDENTIFIER: 'img',
        VMCATCHER_EVENT_SL_CHECKSUM_SHA512: SHA('a'),
        VMCATCHER_EVENT_HV_FORMAT: 'qcow2',
        VMCATCHER_EVENT_VO: 'dteam',
        VMCATCHER_CACHE_DIR_CACHE: '/c',
      }),
    ).toEqual({
      type: 'ExpirePostfix',
      session: 's1',
      metadata: {
        'dc:identifier': 'img',
        'sl:checksum:sha512': SHA('a'),
        'hv:image.hv:format': 'qcow2',
        'hv:imagelist.ad:vo': 'dteam',
      },
      dirs: { cache: '/c' },
    });
  });
  it('reads the object URL of an s3:// cache from the variables too', () => {
    const url = `s3://vmcatcher/site-a/sha512/${SHA('a').slice(0, 2)}/${SHA('a')}`;
    expect(
      readEvent('', {
        VMCATCHER_EVENT_TYPE: 'AvailablePostfix',
        VMCATCHER_EVENT_DC_IDENTIFIER: 'img',
        VMCATCHER_EVENT_SL_CHECKSUM_SHA512: SHA('a'),
        VMCATCHER_EVENT_CACHE_URL: url,
        VMCATCHER_CACHE_DIR_CACHE: 's3://vmcatcher/site-a',
      }),
    ).toMatchObject({
      metadata: { 'dc:identifier': 'img', 'vmcatcher:cache.url': url },
      dirs: { cache: 's3://vmcatcher/site-a' },
    });
  });
  it.each([
    ['not json', {}],
    ['{"session":"x"}', {}],
    ['{"type":"AvailablePostfix"}', { VMCATCHER_EVENT_TYPE: 'ExpirePostfix' }],
    ['', {}],
  ])('refuses %s', (stdin, env) => {
    expect(code(() => readEvent(stdin, env))).toBe('ERR_GLANCE_EVENT');
  });
});
