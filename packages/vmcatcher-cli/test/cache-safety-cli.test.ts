// Site safety through the real bins against loopback servers (issue "site safety"): every case failed before
// the fix. Each refusal has its code and exit status and leaves the store and the cache as they were.
import { randomUUID } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readIndex } from '@hepix/image-cache';
import { openStore, type Store } from '@hepix/imagelist-store';
import { type ImageServer, makePki, type TestPki as Pki, startImageServer } from '@hepix/test-support';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  imageData,
  prepareStore,
  publish,
  SIGNER,
  sha512,
  type TestImage,
} from '../../image-cache/test/helpers.js';
import { binDir, run } from './helpers/bins.js';

const SUB = 'c0ffee00-5afe-4222-8333-444455556666';
const SUB2 = 'c0ffee00-5afe-4222-8333-444455556667';

let root: string;
let bin: string;
let pki: Pki;
let server: ImageServer;
let work: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hepix-cache-safety-cli-'));
  bin = await binDir(root);
  pki = await makePki(join(root, 'pki'));
  server = await startImageServer();
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  work = await mkdtemp(join(root, 'case-'));
  server.images.clear();
  server.requests.length = 0;
  server.range = true;
});

function image(identifier: string, size: number, on: ImageServer = server): TestImage {
  const data = imageData(size);
  const path = `/images/${randomUUID()}.img`;
  on.images.set(path, { data });
  return { identifier, data, uri: `${on.url}${path}` };
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: work,
    VMCATCHER_RDBMS: `sqlite:///${join(work, 'vmcatcher.db')}`,
    VMCATCHER_CACHE_DIR_CACHE: join(work, 'cache'),
    ...extra,
  };
}

const tool = (name: string, args: string[], e: NodeJS.ProcessEnv = env()) =>
  run(name, args, { cwd: work, env: e });

async function site(ids: string[], imgs: TestImage[], listExtra?: Record<string, unknown>): Promise<void> {
  const store = await prepareStore(join(work, 'vmcatcher.db'), SUB, ids);
  try {
    await publish(store, pki, work, SUB, imgs, listExtra ? { listExtra } : {});
  } finally {
    await store.close();
  }
}

async function withDb<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(`sqlite:///${join(work, 'vmcatcher.db')}`);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe('vmcatcher_cache: no write leaves the cache directories', () => {
  it('never follows a symlink planted at partial/<uuid>; caches the image as a regular file; exits 88', async () => {
    const id = 'c0ffee01-0000-4000-8000-000000000001';
    const img = image(id, 150_000);
    await site([id], [img]);
    const outside = join(work, 'etc-shadow');
    await writeFile(outside, 'root:secret\n');
    await mkdir(join(work, 'cache', 'partial'), { recursive: true });
    await symlink(outside, join(work, 'cache', 'partial', id));
    const r = await tool('vmcatcher_cache', ['--json']);
    expect(r.code).toBe(88);
    expect(r.stderr).toMatch(
      /partial\/c0ffee01-0000-4000-8000-000000000001 \(a symlink\) was not created by vmcatcher/,
    );
    expect(await readFile(outside, 'utf8')).toBe('root:secret\n');
    expect(await readlink(join(work, 'cache', 'partial', id))).toBe(outside);
    expect((await lstat(join(work, 'cache', id))).isFile()).toBe(true);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    expect(JSON.parse(r.stdout).failed).toEqual([
      expect.objectContaining({ code: 'ERR_CACHE_UNSAFE_FILE', identifier: id }),
    ]);
  });

  it('leaves a foreign file in partial/ alone and downloads to a name of its own (exit 0)', async () => {
    const id = 'c0ffee01-0000-4000-8000-000000000002';
    const img = image(id, 50_000);
    await site([id], [img]);
    await mkdir(join(work, 'cache', 'partial'), { recursive: true });
    await writeFile(join(work, 'cache', 'partial', id), 'an admin’s notes');
    const r = await tool('vmcatcher_cache', []);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/was not created by vmcatcher; leaving it alone/);
    expect(await readFile(join(work, 'cache', 'partial', id), 'utf8')).toBe('an admin’s notes');
    expect(server.requests.every((q) => q.range === undefined)).toBe(true);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
  });
});

describe('vmcatcher_cache: images come from the network only', () => {
  it('refuses a file: image URI (exit 87) unless --allow-file-uris or VMCATCHER_CACHE_ALLOW_FILE_URIS=1', async () => {
    const id = 'c0ffee02-0000-4000-8000-000000000001';
    const data = imageData(20_000);
    const local = join(work, 'mirror.img');
    await writeFile(local, data);
    await chmod(local, 0o600);
    await site([id], [{ identifier: id, data, uri: `file://${local}` }]);
    const before = await withDb((s) => s.subscriber.listImages());
    const refused = await tool('vmcatcher_cache', []);
    expect(refused.code).toBe(87);
    expect(refused.stderr).toMatch(/image URI is a local file \(file:\), refused/);
    await expect(stat(join(work, 'cache', id))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readIndex(join(work, 'cache', 'partial'))).toEqual({});
    expect(await withDb((s) => s.subscriber.listImages())).toEqual(before);
    const allowed = await tool('vmcatcher_cache', ['--allow-file-uris']);
    expect(allowed.code).toBe(0);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(data));
    await rm(join(work, 'cache'), { recursive: true });
    expect((await tool('vmcatcher_cache', [], env({ VMCATCHER_CACHE_ALLOW_FILE_URIS: '1' }))).code).toBe(0);
  });

  it('refuses an image redirect from https to http (exit 82)', async () => {
    const tls = await startImageServer({
      cert: await readFile(join(pki.dir, 'server/cert.pem')),
      key: await readFile(join(pki.dir, 'server/key.pem')),
    });
    try {
      const id = 'c0ffee02-0000-4000-8000-000000000002';
      const plain = image(id, 10_000);
      tls.redirects.set('/down.img', plain.uri);
      await site([id], [{ ...plain, uri: `${tls.url}/down.img` }]);
      await withDb((s) => s.subscriber.updateSubscription(SUB, { trustAnchor: 'igtf' }));
      const r = await tool('vmcatcher_cache', ['--cert-dir', pki.certDir]);
      expect(r.code).toBe(82);
      expect(server.requests).toEqual([]);
    } finally {
      await tls.close();
    }
  });
});

describe('vmcatcher_cache: https image servers with grid host certificates', () => {
  it('verifies the image servers of an igtf subscription against --cert-dir / VMCATCHER_DIR_CERT', async () => {
    const tls = await startImageServer({
      cert: await readFile(join(pki.dir, 'server/cert.pem')),
      key: await readFile(join(pki.dir, 'server/key.pem')),
    });
    try {
      const id = 'c0ffee03-0000-4000-8000-000000000001';
      const img = image(id, 30_000, tls);
      await site([id], [img]);
      await withDb((s) => s.subscriber.updateSubscription(SUB, { trustAnchor: 'igtf' }));
      // No CA directory: the subscription's trust anchor cannot be used (exit 14), nothing is fetched.
      const missing = await tool('vmcatcher_cache', ['--cert-dir', join(work, 'no-such-dir')]);
      expect(missing.code).toBe(14);
      expect(tls.requests).toEqual([]);
      const viaEnv = await tool('vmcatcher_cache', [], env({ VMCATCHER_DIR_CERT: pki.certDir }));
      expect(viaEnv.stderr).toBe('');
      expect(viaEnv.code).toBe(0);
      expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
      // A browser subscription does not trust the grid CA: not authenticated (exit 50).
      await withDb(async (s) => {
        await s.subscriber.updateSubscription(SUB, { trustAnchor: 'browser' });
        await s.subscriber.setImageCache(id, false);
      });
      await tool('vmcatcher_cache', []);
      await withDb((s) => s.subscriber.setImageCache(id, true));
      expect((await tool('vmcatcher_cache', ['--cert-dir', pki.certDir])).code).toBe(50);
    } finally {
      await tls.close();
    }
  });
});

describe('image identifiers are scoped by subscription', () => {
  async function twoSubscriptions(id: string) {
    const mine = image(id, 20_000);
    const theirs = image(id, 25_000);
    await site([id], [mine]);
    await withDb(async (s) => {
      await s.subscriber.createEndorser('endorser-2', [
        { subject: '/C=DE/O=GermanGrid/CN=Another Endorser', issuer: SIGNER.issuer },
      ]);
      await s.subscriber.createSubscription({
        identifier: SUB2,
        description: 'another endorser',
        uri: 'http://127.0.0.1/other-list',
        endorser: 'endorser-2',
        updateMode: 1,
        trustAnchor: 'browser',
      });
      await publish(s, pki, work, SUB2, [theirs]);
    });
    return { mine, theirs };
  }

  it('vmcatcher_image -a of an identifier in two subscriptions is refused (exit 41) unless --subscription says which', async () => {
    const id = 'c0ffee04-0000-4000-8000-000000000001';
    await twoSubscriptions(id);
    const before = await withDb((s) => s.subscriber.getImages(id));
    const refused = await tool('vmcatcher_image', ['-a', '-u', id]);
    expect(refused.code).toBe(41);
    expect(refused.stderr).toContain(SUB);
    expect(refused.stderr).toContain(SUB2);
    expect(refused.stderr).toContain('--subscription');
    expect(await withDb((s) => s.subscriber.getImages(id))).toEqual(before);
    const chosen = await tool('vmcatcher_image', ['-a', '-u', id, '--subscription', SUB2]);
    expect(chosen.code).toBe(0);
    const after = await withDb((s) => s.subscriber.getImages(id));
    expect(after.map((i) => [i.subscription, i.cache]).sort()).toEqual([
      [SUB, true],
      [SUB2, true],
    ]);
    const listed = await tool('vmcatcher_image', ['-l', '--subscription', SUB2]);
    expect(listed.stdout).toBe(`${id}\t3\t${SUB2}\n`);
  });

  it('vmcatcher_cache keeps the two images apart: neither replaces the other’s file', async () => {
    const id = 'c0ffee04-0000-4000-8000-000000000002';
    const { mine, theirs } = await twoSubscriptions(id);
    expect((await tool('vmcatcher_cache', [])).code).toBe(0);
    await tool('vmcatcher_image', ['-a', '-u', id, '--subscription', SUB2]);
    const events = join(work, 'events.jsonl');
    const r = await tool('vmcatcher_cache', [
      '-x',
      `vmcatcher_eventHndlExpl --generator minium --output_file=${events}`,
    ]);
    expect(r.code).toBe(0);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(mine.data));
    expect(sha512(await readFile(join(work, 'cache', `${id}+1`)))).toBe(sha512(theirs.data));
    const lines = (await readFile(events, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.VMCATCHER_EVENT_TYPE === 'AvailablePostfix')).toEqual([
      expect.objectContaining({
        VMCATCHER_EVENT_DC_IDENTIFIER: id,
        VMCATCHER_EVENT_FILENAME: `${id}+1`,
        VMCATCHER_EVENT_IL_DC_IDENTIFIER: SUB2,
      }),
    ]);
    expect(lines.some((l) => l.VMCATCHER_EVENT_TYPE.startsWith('Expire'))).toBe(false);
  });
});

describe('event environment limits', () => {
  it('caches an image with metadata over 128 KiB, the handler gets a capped variable, and the next run works', async () => {
    const id = 'c0ffee05-0000-4000-8000-000000000001';
    const img = { ...image(id, 10_000), extra: { 'dc:description': 'D'.repeat(200 * 1024) } };
    await site([id], [img]);
    const out = join(work, 'lengths');
    const handler = `printf '%s %s %s\\n' "$VMCATCHER_EVENT_TYPE" "\${#VMCATCHER_EVENT_DC_DESCRIPTION}" "$VMCATCHER_EVENT_TRUNCATED" >> '${out}'; cat > /dev/null`;
    const r = await tool('vmcatcher_cache', ['-x', handler]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha512(await readFile(join(work, 'cache', id)))).toBe(sha512(img.data));
    expect((await readFile(out, 'utf8')).split('\n').filter(Boolean)).toEqual([
      'ProcessPrefix 0 ',
      'AvailablePrefix 32768 VMCATCHER_EVENT_DC_DESCRIPTION',
      'AvailablePostfix 32768 VMCATCHER_EVENT_DC_DESCRIPTION',
      'ProcessPostfix 0 ',
    ]);
    expect((await tool('vmcatcher_cache', ['-x', handler])).code).toBe(0);
  });
});

describe('output cannot be forged', () => {
  it('escapes control characters of publisher-controlled fields in vmcatcher_image -l/-i and vmcatcher_subscribe -l', async () => {
    const id = 'c0ffee06-0000-4000-8000-000000000001\tFORGED\t3';
    const img = {
      ...image(id, 1000),
      extra: { 'dc:title': 'title\nimage.dc:title=forged', 'sl:os': 'Linux\r\x1b[2J' },
    };
    await site([id], [img]);
    const listed = await tool('vmcatcher_image', ['-l']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(`c0ffee06-0000-4000-8000-000000000001\\tFORGED\\t3\t3\t${SUB}\n`);
    const info = await tool('vmcatcher_image', ['-i', '-u', id]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('image.dc:title=title\\nimage.dc:title=forged\n');
    expect(info.stdout).toContain('image.sl:os=Linux\\r\\x1b[2J\n');
    expect(info.stdout.split('\n').filter((l) => l.startsWith('image.dc:title='))).toHaveLength(1);
    await withDb((s) => s.subscriber.updateSubscription(SUB, { uri: 'http://127.0.0.1/list\n\tforged' }));
    const subs = await tool('vmcatcher_subscribe', ['-l']);
    expect(subs.stdout).toBe(`${SUB}\tTrue\tBrowser\thttp://127.0.0.1/list\\n\\tforged\n`);
  });

  it('ends quietly when its reader goes away (vmcatcher_image -l | head -1)', async () => {
    const ids = Array.from(
      { length: 3000 },
      (_, i) => `c0ffee07-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    const store = await prepareStore(join(work, 'vmcatcher.db'), SUB, ids);
    await store.close();
    const r = await run(
      'bash',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, for bash
      ['-c', 'set -o pipefail; vmcatcher_image -l | head -1; echo "status ${PIPESTATUS[0]}" >&2'],
      {
        cwd: work,
        env: env(),
      },
    );
    expect(r.stdout).toBe(`${ids[0]}\t1\t${SUB}\n`);
    expect(r.stderr).toBe('status 0\n');
  });
});

describe('secrets are private', () => {
  it('creates the database 0600 and warns, with the chmod to run, about a readable one holding passwords', async () => {
    const db = join(work, 'vmcatcher.db');
    const created = await tool('vmcatcher_image', ['-l']);
    expect(created.code).toBe(0);
    expect((await stat(db)).mode & 0o777).toBe(0o600);
    expect((await stat(work)).mode & 0o777).toBe(0o700); // mkdtemp's: the directory is not changed
    expect(created.stderr).toBe('');
    await withDb((s) =>
      s.subscriber.createSubscription({
        identifier: SUB,
        description: 'private list',
        uri: 'https://TOKEN:x-oauth-basic@appdb.example/list',
      }),
    );
    await chmod(db, 0o644);
    const warned = await tool('vmcatcher_image', ['-l']);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(
      new RegExp(
        `WARNING:db:${db.replaceAll('.', '\\.')} holds Basic-auth passwords and other users can read it \\(mode 0644\\); run: chmod 600 ${db.replaceAll('.', '\\.')}`,
      ),
    );
    await chmod(db, 0o600);
    expect((await tool('vmcatcher_image', ['-l'])).stderr).toBe('');
  });
});
