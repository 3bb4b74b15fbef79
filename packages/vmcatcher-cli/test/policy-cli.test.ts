// The site policy, deprecation and mirrors through the built bins, as an administrator runs them: lists signed
// with the openssl CLI and served from loopback, images from a loopback image server, policy files on disk.
// `vmcatcher_subscribe -U` (availability, --json, max-list-age), `vmcatcher_cache` (never downloaded, expired
// with VMCATCHER_EVENT_REASON, mirrors), `vmcatcher_image -l/-i/--policy-check`, `vmcatcher policy check`.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ImageServer,
  makePki,
  makeTempDir,
  signList,
  startHttpServer,
  startImageServer,
  type TestPki,
  type TestServer,
} from '@hepix/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binDir, run } from './helpers/bins.js';

const DAY = 86_400_000;
/** Each case runs the bins a dozen times or more; on a loaded 2-core machine one spawn takes seconds. */
const LONG = { timeout: 300_000 };
let tmp: string;
let bin: string;
let pki: TestPki;
let lists: TestServer;
let images: ImageServer;
let mirror: ImageServer;

beforeAll(async () => {
  tmp = makeTempDir('hepix-policy-cli-');
  bin = await binDir(tmp);
  pki = makePki(join(tmp, 'pki'));
  lists = await startHttpServer();
  images = await startImageServer();
  mirror = await startImageServer();
}, 120_000);

afterAll(async () => {
  await Promise.all([lists?.close(), images?.close(), mirror?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

interface ImageSpec {
  id: string;
  data: Buffer;
  uri: string;
  format?: string;
  size?: number;
  extra?: Record<string, unknown>;
}

/** An image served by `on` (default the main image server). */
function served(size = 4096, on: ImageServer = images, body?: Buffer): { data: Buffer; uri: string } {
  const data = randomBytes(size);
  const path = `/img/${randomUUID()}`;
  on.images.set(path, { data, ...(body ? { body } : {}) });
  return { data, uri: `${on.url}${path}` };
}

function spec(over: Partial<ImageSpec> = {}): ImageSpec {
  const s = served();
  return { id: randomUUID(), ...s, ...over };
}

interface Site {
  dir: string;
  env: NodeJS.ProcessEnv;
  db: string;
  list: string;
  path: string;
  url: string;
  events: string;
}

let version = 0;

function listBytes(site: Site, imgs: ImageSpec[], created = new Date(Date.now() - DAY)): Buffer {
  const doc = {
    'hv:imagelist': {
      'dc:date:created': created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'dc:date:expires': new Date(Date.now() + 300 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'dc:description': 'policy test list',
      'dc:identifier': site.list,
      'dc:source': 'https://example.org/',
      'dc:title': 'policy test list',
      'hv:endorser': {
        'hv:x509': {
          'dc:creator': 'Owen Synge',
          'hv:ca': pki.endorser.issuer,
          'hv:dn': pki.endorser.subject,
          'hv:email': 'owen@example.org',
        },
      },
      'hv:images': imgs.map((i) => ({
        'hv:image': {
          'dc:description': `image ${i.id}`,
          'dc:identifier': i.id,
          'dc:title': `image ${i.id.slice(0, 8)}`,
          'hv:format': i.format ?? 'raw',
          'hv:hypervisor': 'kvm',
          'hv:size': i.size ?? i.data.length,
          'hv:uri': i.uri,
          'hv:version': '1',
          'sl:arch': 'x86_64',
          'sl:checksum:sha512': sha512(i.data),
          'sl:comments': '',
          'sl:os': 'Linux',
          'sl:osversion': '9',
          ...i.extra,
        },
      })),
      'hv:uri': site.url,
      'hv:version': `1.${++version}`,
    },
  };
  return signList(JSON.stringify(doc, null, 2), pki.endorser);
}

function tool(site: Site, name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(name, args, { cwd: site.dir, env: { ...site.env, ...env } });
}

/** A site subscribed (new images subscribed for caching) to a list of `imgs`; not updated yet. */
async function site(name: string, imgs: ImageSpec[], created?: Date): Promise<Site> {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const db = join(dir, 'vmcatcher.db');
  const path = `/${name}/image.list`;
  const events = join(dir, 'events.jsonl');
  const s: Site = {
    dir,
    db,
    list: randomUUID(),
    path,
    url: `${lists.url}${path}`,
    events,
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: dir,
      VMCATCHER_RDBMS: `sqlite:///${db}`,
      VMCATCHER_DIR_CERT: pki.certDir,
      VMCATCHER_CACHE_DIR_CACHE: join(dir, 'cache'),
      VMCATCHER_CACHE_EVENT: `vmcatcher_eventHndlExpl --output_file=${events}`,
      // Never the host's /etc/vmcatcher/policy.cfg: every case names its policy or has none.
      VMCATCHER_POLICY: join(dir, 'no-policy.cfg'),
    },
  };
  writeFileSync(join(dir, 'no-policy.cfg'), '; no rule: deprecated images are refused, as without a file\n');
  lists.serve(path, listBytes(s, imgs, created));
  for (const [cmd, args] of [
    ['vmcatcher', ['endorser', '-C', '-e', 'owen', '-S', pki.endorser.subject, '-I', pki.endorser.issuer]],
    ['vmcatcher_subscribe', ['-s', s.url, '--imagelist-newimage-subscribe']],
  ] as const) {
    const r = await tool(s, cmd, [...args]);
    expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  return s;
}

function policyFile(s: Site, text: string, name = 'policy.cfg'): string {
  const p = join(s.dir, name);
  writeFileSync(p, text);
  return p;
}

/** image → state, as `vmcatcher_image -l` prints it. */
async function states(s: Site, args: string[] = []): Promise<Map<string, number>> {
  const r = await tool(s, 'vmcatcher_image', ['-l', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return new Map(
    r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'))
      .map(([image, state]) => [image, Number(state)]),
  );
}

async function update(s: Site, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await tool(s, 'vmcatcher_subscribe', ['-U', '--json', ...args], env);
  return { ...r, results: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>[]) : [] };
}

function cached(s: Site): string[] {
  const dir = join(s.dir, 'cache');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => !n.startsWith('cache.index') && !['partial', 'expired'].includes(n))
        .sort()
    : [];
}

function eventLines(s: Site): Record<string, string>[] {
  if (!existsSync(s.events)) return [];
  return readFileSync(s.events, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

/** The store's tables as the tools show them, to prove a refusal changed nothing. */
async function snapshot(s: Site) {
  const subs = await tool(s, 'vmcatcher_subscribe', ['-i', '--json']);
  const imgs = await tool(s, 'vmcatcher_subscribe', ['--image-list', '--json']);
  return { subs: subs.stdout, images: imgs.stdout, cache: cached(s) };
}

describe('vmcatcher_subscribe -U under a site policy', () => {
  it(
    'refuses a deny-listed checksum, an endorser outside the allow list, a format and a size: state bit 2 clear, exit 0',
    LONG,
    async () => {
      const denied = spec();
      const qcow = spec({ format: 'QCOW2' });
      const vmdk = spec({ format: 'vmdk' });
      const big = spec({ size: 2 * 1024 * 1024 });
      const ok = spec();
      const s = await site('rules', [denied, qcow, vmdk, big, ok]);
      const policy = policyFile(
        s,
        [
          '[checksums]',
          `deny = ${sha512(denied.data)}`,
          '[limits]',
          'formats = qcow2 raw',
          'max-size = 1M',
          '',
        ].join('\n'),
      );
      const r = await update(s, ['--policy', policy]);
      expect(r.code, r.stderr).toBe(0);
      const [result] = r.results as {
        outcome: string;
        status: number;
        policyRefused: Record<string, string>[];
      }[];
      expect(result).toMatchObject({ outcome: 'updated', status: 0 });
      const byImage = new Map(result.policyRefused.map((p) => [p.image, p]));
      expect(byImage.get(denied.id)).toMatchObject({ rule: 'checksums.deny', reason: 'policy' });
      expect(byImage.get(vmdk.id)).toMatchObject({ rule: 'limits.formats', reason: 'policy' });
      expect(byImage.get(big.id)).toMatchObject({ rule: 'limits.max-size', reason: 'policy' });
      expect(byImage.has(qcow.id)).toBe(false); // formats are case-insensitive
      expect(byImage.has(ok.id)).toBe(false);
      expect(r.stderr).toContain(
        `Image '${vmdk.id}' of subscription '${s.list}' is not available: refused by the site policy (limits.formats)`,
      );
      const st = await states(s, ['--policy', policy]);
      expect([denied, qcow, vmdk, big, ok].map((i) => st.get(i.id))).toEqual([1, 3, 1, 1, 3]);
      // Without the policy (the no-rule file of the site) all five are available.
      expect([...(await states(s)).values()]).toEqual([3, 3, 3, 3, 3]);

      // The cache under the same policy downloads only what it allows.
      const c = await tool(s, 'vmcatcher_cache', ['--policy', policy]);
      expect(c.code, c.stderr).toBe(0);
      expect(cached(s)).toEqual([qcow.id, ok.id].sort());
      const fetched = images.requests.map((q) => q.path);
      for (const refused of [denied, vmdk, big]) expect(fetched).not.toContain(new URL(refused.uri).pathname);

      // An endorser outside the allow list: nothing of that list is available.
      const other = policyFile(s, '[endorsers]\nallow = /DC=ch/DC=cern/.*\n', 'cern-only.cfg');
      const r2 = await update(s, [], { VMCATCHER_POLICY: other });
      expect(r2.code, r2.stderr).toBe(0);
      const refused = (r2.results[0] as { policyRefused: { rule: string }[] }).policyRefused;
      expect(refused.map((p) => p.rule)).toEqual(Array(5).fill('endorsers.allow'));
      expect([...(await states(s, ['--policy', other])).values()]).toEqual([1, 1, 1, 1, 1]);
    },
  );

  it(
    'handles a list older than max-list-age like an expired one: 34, its images unavailable',
    LONG,
    async () => {
      const img = spec();
      const s = await site('list-age', [img], new Date(Date.now() - 45 * DAY));
      // The first update without the rule stores the (old, unexpired) list.
      expect((await update(s)).code).toBe(0);
      expect((await states(s)).get(img.id)).toBe(3);
      const policy = policyFile(s, '[limits]\nmax-list-age = 30d\n');
      const r = await update(s, ['--policy', policy]);
      expect(r.code, r.stderr).toBe(34);
      expect(r.results[0]).toMatchObject({
        outcome: 'rejected',
        code: 'ERR_SUB_LIST_TOO_OLD',
        status: 34,
        markedExpired: true,
      });
      expect(r.stderr).toMatch(/marked expired: refused by the site policy \(limits\.max-list-age\)/);
      // Retired like an expired list: not available even without the rule.
      expect((await states(s)).get(img.id)).toBe(1);
    },
  );

  it('a policy that does not parse: exit 40, the line named, nothing changed', LONG, async () => {
    const img = spec();
    const s = await site('bad-policy', [img]);
    const bad = policyFile(s, '[limits]\nmax-size = 20 parsecs\n');
    const before = await snapshot(s);
    for (const [cmd, args] of [
      ['vmcatcher_subscribe', ['-U', '--policy', bad]],
      ['vmcatcher_cache', ['--policy', bad]],
      ['vmcatcher_image', ['-l', '--policy', bad]],
      ['vmcatcher', ['policy', 'check', img.id, '--policy', bad]],
    ] as const) {
      const r = await tool(s, cmd, [...args]);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(40);
      expect(r.stderr).toContain(`${bad}:2:`);
      expect(r.stderr).toContain('[limits] max-size "20 parsecs": unknown size unit');
    }
    const env = await tool(s, 'vmcatcher_subscribe', ['-U'], {
      VMCATCHER_POLICY: join(s.dir, 'missing.cfg'),
    });
    expect(env.code).toBe(40);
    expect(env.stderr).toContain('missing.cfg: cannot read the policy file: no such file');
    expect(await snapshot(s)).toEqual(before);
    expect(eventLines(s)).toEqual([]);
  });
});

describe('deprecation', () => {
  it('refuse (the default): not available, never cached; -l shows 4 and -i the reason', LONG, async () => {
    const old = spec({ extra: { 'sl:deprecated': 'replaced by 2.0' } });
    const keep = spec();
    const s = await site('deprecated-refuse', [old, keep]);
    const r = await update(s);
    expect(r.code, r.stderr).toBe(0);
    expect((r.results[0] as { policyRefused: unknown[] }).policyRefused).toEqual([
      {
        image: old.id,
        rule: 'limits.deprecated',
        detail: expect.stringContaining('replaced by 2.0'),
        reason: 'deprecated',
        deprecated: 'replaced by 2.0',
      },
    ]);
    const st = await states(s);
    expect(st.get(old.id)).toBe(1 | 4);
    expect(st.get(keep.id)).toBe(3);
    const info = await tool(s, 'vmcatcher_image', ['-i', '-u', old.id]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('image.sl:deprecated=replaced by 2.0');
    expect(info.stdout).toContain('policy.refusedBy=limits.deprecated');
    const c = await tool(s, 'vmcatcher_cache', []);
    expect(c.code, c.stderr).toBe(0);
    expect(cached(s)).toEqual([keep.id]);
  });

  it('warn: available and cached, with a warning at every run', LONG, async () => {
    const old = spec({ extra: { 'sl:deprecated': 'use the 2.0 image' } });
    const s = await site('deprecated-warn', [old]);
    const policy = policyFile(s, '[limits]\ndeprecated = warn\n');
    for (let i = 0; i < 2; i++) {
      const r = await update(s, [], { VMCATCHER_POLICY: policy });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/WARNING:.*use the 2\.0 image/);
      const c = await tool(s, 'vmcatcher_cache', [], { VMCATCHER_POLICY: policy });
      expect(c.code, c.stderr).toBe(0);
      expect(c.stderr).toMatch(/WARNING:.*use the 2\.0 image/);
    }
    expect(cached(s)).toEqual([old.id]);
    expect((await states(s, ['--policy', policy])).get(old.id)).toBe(3 | 4);
  });
});

describe('vmcatcher_cache under a policy change', () => {
  it(
    'expires a cached image the new policy refuses, VMCATCHER_EVENT_REASON=policy; deprecation gives deprecated',
    LONG,
    async () => {
      const a = spec();
      const b = spec();
      const s = await site('policy-change', [a, b]);
      expect((await update(s)).code).toBe(0);
      expect((await tool(s, 'vmcatcher_cache', [])).code).toBe(0);
      expect(cached(s)).toEqual([a.id, b.id].sort());
      const policy = policyFile(s, `[images]\ndeny = ${a.id}\n`);
      const c = await tool(s, 'vmcatcher_cache', ['--policy', policy]);
      expect(c.code, c.stderr).toBe(0);
      expect(cached(s)).toEqual([b.id]);
      const expiries = eventLines(s).filter((e) => e.VMCATCHER_EVENT_TYPE.startsWith('Expire'));
      expect(
        expiries.map((e) => [
          e.VMCATCHER_EVENT_TYPE,
          e.VMCATCHER_EVENT_DC_IDENTIFIER,
          e.VMCATCHER_EVENT_REASON,
        ]),
      ).toEqual([
        ['ExpirePrefix', a.id, 'policy'],
        ['ExpirePostfix', a.id, 'policy'],
      ]);
      // The endorser deprecates b: the next run expires it with reason deprecated.
      lists.serve(
        s.path,
        listBytes(s, [a, { ...b, extra: { 'sl:deprecated': 'withdrawn by the endorser' } }]),
      );
      expect((await update(s, ['--policy', policy])).code).toBe(0);
      expect((await tool(s, 'vmcatcher_cache', ['--policy', policy])).code).toBe(0);
      expect(cached(s)).toEqual([]);
      const last = eventLines(s)
        .filter((e) => e.VMCATCHER_EVENT_TYPE.startsWith('Expire'))
        .slice(2);
      expect(
        last.map((e) => [e.VMCATCHER_EVENT_TYPE, e.VMCATCHER_EVENT_DC_IDENTIFIER, e.VMCATCHER_EVENT_REASON]),
      ).toEqual([
        ['ExpirePrefix', b.id, 'deprecated'],
        ['ExpirePostfix', b.id, 'deprecated'],
      ]);
    },
  );
});

describe('mirrors (sl:locations) through vmcatcher_cache', () => {
  it(
    'hv:uri answering 404, then one that hangs: the mirror serves the bytes; each failure logged',
    LONG,
    async () => {
      const missing = served(8192, mirror);
      const gone = {
        id: randomUUID(),
        data: missing.data,
        uri: `${images.url}/img/nothing-here`,
        extra: { 'sl:locations': [missing.uri] },
      };
      const slowData = randomBytes(300_000);
      const slowPath = `/img/${randomUUID()}`;
      images.images.set(slowPath, { data: slowData, rate: 1000 });
      const fast = `${mirror.url}/img/${randomUUID()}`;
      mirror.images.set(new URL(fast).pathname, { data: slowData });
      const hang = {
        id: randomUUID(),
        data: slowData,
        uri: `${images.url}${slowPath}`,
        extra: { 'sl:locations': [fast] },
      };
      const s = await site('mirrors', [gone, hang]);
      expect((await update(s)).code).toBe(0);
      const c = await tool(s, 'vmcatcher_cache', ['--fetch-timeout', '1', '--min-rate', '1000000', '--json']);
      expect(c.code, c.stderr).toBe(0);
      expect(cached(s)).toEqual([gone.id, hang.id].sort());
      for (const i of [gone, hang])
        expect(sha512(readFileSync(join(s.dir, 'cache', i.id)))).toBe(sha512(i.data));
      expect(c.stderr).toMatch(
        /location 1 of 2 failed \(ERR_CACHE_DOWNLOAD\): download failed: HTTP status 404/,
      );
      expect(c.stderr).toMatch(/location 1 of 2 failed \(ERR_CACHE_DEADLINE\)/);
      // The hung transfer's bytes were kept and the mirror asked for the rest.
      const resumed = mirror.requests.find((q) => q.path === new URL(fast).pathname);
      expect(resumed?.status).toBe(206);
    },
  );

  it(
    'a mirror serving wrong bytes is skipped; when every location is wrong: 83 and nothing cached',
    LONG,
    async () => {
      const good = randomBytes(16_384);
      const wrong = Buffer.from(good);
      wrong[100] ^= 1;
      const bad1 = served(16_384, mirror, wrong);
      const bad1Path = new URL(bad1.uri).pathname;
      mirror.images.set(bad1Path, { data: good, body: wrong });
      const ok = served(16_384);
      images.images.set(new URL(ok.uri).pathname, { data: good });
      const one = { id: randomUUID(), data: good, uri: bad1.uri, extra: { 'sl:locations': [ok.uri] } };
      const allWrong = {
        id: randomUUID(),
        data: good,
        uri: bad1.uri,
        extra: { 'sl:locations': [bad1.uri.replace(bad1Path, `${bad1Path}?again`)] },
      };
      const s = await site('wrong-bytes', [one, allWrong]);
      expect((await update(s)).code).toBe(0);
      const c = await tool(s, 'vmcatcher_cache', []);
      expect(c.code).toBe(83);
      expect(cached(s)).toEqual([one.id]);
      expect(c.stderr).toMatch(/location 1 of 2 failed \(ERR_CACHE_VERIFY\)/);
      expect(sha512(readFileSync(join(s.dir, 'cache', one.id)))).toBe(sha512(good));
    },
  );
});

describe('vmcatcher_image --policy-check and vmcatcher policy check', () => {
  it('prints the URL and the rules passed (0), or the refusal and its rule (42); --json', LONG, async () => {
    const allowed = spec({ extra: { 'sl:locations': ['https://mirror.example.org/a.img'] } });
    const denied = spec({ format: 'vmdk' });
    const s = await site('check', [allowed, denied]);
    expect((await update(s)).code).toBe(0);
    const policy = policyFile(s, '[limits]\nformats = raw qcow2\nmax-size = 1G\n');
    const ok = await tool(s, 'vmcatcher_image', ['--policy-check', '-u', allowed.id, '--policy', policy]);
    expect(ok.code, ok.stderr).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines[0]).toBe(allowed.uri);
    expect(lines.slice(1).map((l) => l.split('\t').slice(0, 2))).toEqual([
      ['passed', 'limits.formats'],
      ['passed', 'limits.max-size'],
      ['passed', 'limits.deprecated'],
    ]);
    const no = await tool(s, 'vmcatcher', ['policy', 'check', denied.id, '--policy', policy]);
    expect(no.code).toBe(42);
    expect(no.stdout.split('\n')[0]).toBe("Image isn't valid according to site policy");
    expect(no.stdout).toContain(`refused\t${s.list}\tlimits.formats\t`);
    const json = await tool(s, 'vmcatcher', ['policy', 'check', allowed.id, '--json'], {
      VMCATCHER_POLICY: policy,
    });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      decision: 'allow',
      image: allowed.id,
      url: allowed.uri,
      locations: [allowed.uri, 'https://mirror.example.org/a.img'],
      subscription: s.list,
      policy,
    });
    const unknown = await tool(s, 'vmcatcher_image', ['--policy-check', '-u', randomUUID()]);
    expect(unknown.code).toBe(1);
  });
});
