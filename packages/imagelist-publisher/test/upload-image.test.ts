// uploadImage against a real SQLite store and the real local upload backend: compression as hv:format asks
// (with the system bzip2 and xz), the new URI and version, and every refusal leaving store and files alone.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLevel } from '@hepix/common';
import { createUploadFacade, parseUploadConfig } from '@hepix/upload-facade';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectCompression, newImageUri, nextVersion, PublisherError, uploadImage } from '../src/index.js';
import { expectCode, type Fixture, fixture, snapshot } from './helpers.js';

const sha512 = (p: string) => createHash('sha512').update(readFileSync(p)).digest('hex');

let f: Fixture;
let source: string;
beforeEach(async () => {
  f = await fixture();
  await f.store.publisher.addImageList('L');
  source = join(f.dir, 'disk.raw');
  writeFileSync(source, Buffer.concat([randomBytes(256 * 1024), Buffer.alloc(768 * 1024)]));
});
afterEach(async () => f.dispose());

async function newImage(format?: string, extra: Record<string, string> = {}): Promise<string> {
  const id = randomUUID();
  await f.store.publisher.addImage(id, {
    'hv:uri': `https://img.example/images/${id}.img`,
    ...(format ? { 'hv:format': format } : {}),
    ...extra,
  });
  await f.store.publisher.bindImage('L', id);
  return id;
}

/** The files (not directories: an upload may create those) under the published directory. */
const files = () =>
  existsSync(f.www)
    ? readdirSync(f.www, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name))
        .sort()
    : [];

describe('uploadImage', () => {
  for (const [format, kind, program] of [
    ['cpio.bz2', 'bzip2', 'bzip2'],
    ['raw.xz', 'xz', 'xz'],
    ['raw.gz', 'gzip', 'gzip'],
  ] as const) {
    it(`compresses for hv:format ${format}, uploads beside the old file, then records it`, async () => {
      const id = await newImage(format);
      const phases = new Set<string>();
      const at = new Date(Date.UTC(2030, 4, 6, 7, 8, 9));
      const r = await uploadImage({
        store: f.store.publisher,
        target: f.facade(),
        image: id,
        file: source,
        now: () => at,
        onProgress: (phase) => phases.add(phase),
      });
      expect(r).toMatchObject({ changed: true, compressed: kind, version: '0.0.1' });
      expect(r.uri).toBe(`https://img.example/images/${id}_2030-05-06_07-08-09.${format}`);
      const published = join(f.www, 'images', `${id}_2030-05-06_07-08-09.${format}`);
      expect(sha512(published)).toBe(r.sha512);
      expect(detectCompression(readFileSync(published).subarray(0, 8))).toBe(kind);
      expect(Buffer.compare(spawnSync(program, ['-dc', published]).stdout, readFileSync(source))).toBe(0);
      expect([...phases]).toEqual(['compress', 'upload']);
      expect((await f.store.publisher.getImage(id))?.metadata).toMatchObject({
        'hv:uri': r.uri,
        'hv:size': String(r.size),
        'sl:checksum:sha512': r.sha512,
        'hv:version': '0.0.1',
      });
    });
  }

  it('an unchanged file is not uploaded again; a new one bumps the version', async () => {
    const id = await newImage();
    const first = await uploadImage({
      store: f.store.publisher,
      target: f.facade(),
      image: id,
      file: source,
    });
    expect(first).toMatchObject({ changed: true, version: '0.0.1', size: readFileSync(source).length });
    expect(sha512(source)).toBe(first.sha512);
    const before = { db: await snapshot(f.store.publisher), files: files() };
    const logs: [LogLevel, string][] = [];
    const again = await uploadImage({
      store: f.store.publisher,
      target: f.facade(),
      image: id,
      file: source,
      log: (level, message) => logs.push([level, message]),
    });
    expect(again).toMatchObject({ changed: false, version: '0.0.1', uri: first.uri });
    expect(logs).toContainEqual(['warn', expect.stringMatching(/Image unchanged/)]);
    expect({ db: await snapshot(f.store.publisher), files: files() }).toEqual(before);
    writeFileSync(source, randomBytes(1000));
    const next = await uploadImage({
      store: f.store.publisher,
      target: f.facade(),
      image: id,
      file: source,
      now: () => new Date(Date.UTC(2031, 0, 1)),
    });
    expect(next).toMatchObject({
      changed: true,
      version: '0.0.2',
      previousVersion: '0.0.1',
      previousUri: first.uri,
    });
  });

  it('clears sl:locations (the mirrors hold the previous file), with a warning', async () => {
    const id = await newImage(undefined, {
      'sl:locations': '["https://mirror.example/i.img"]',
      'sl:deprecated': 'old',
    });
    const logs: string[] = [];
    const r = await uploadImage({
      store: f.store.publisher,
      target: f.facade(),
      image: id,
      file: source,
      log: (_l, m) => logs.push(m),
    });
    expect(r.clearedLocations).toEqual(['https://mirror.example/i.img']);
    expect(logs.some((m) => m.includes('sl:locations cleared'))).toBe(true);
    const meta = (await f.store.publisher.getImage(id))?.metadata;
    expect(meta?.['sl:locations']).toBe('[]');
    expect(meta?.['sl:deprecated']).toBe('old');
  });

  it('refusals before any transfer leave store and files as they were', async () => {
    const p = f.store.publisher;
    const gz = join(f.dir, 'disk.gz');
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]));
    const xz = await newImage('raw.xz');
    const lone = randomUUID();
    await p.addImage(lone, { 'hv:uri': 'https://img.example/x.img' });
    const noUri = randomUUID();
    await p.addImage(noUri);
    await p.bindImage('L', noUri);
    const badUri = await newImage(undefined, { 'hv:uri': 'not a uri' });
    const before = { db: await snapshot(p), files: files() };
    const up = (image: string, file = source) => uploadImage({ store: p, target: f.facade(), image, file });
    await expectCode(up(xz, gz), 'ERR_PUBLISHER_FORMAT');
    await expectCode(up(lone), 'ERR_PUBLISHER_IMAGE_NOT_BOUND');
    await expectCode(up(noUri), 'ERR_PUBLISHER_IMAGE_NO_URI');
    await expectCode(up(badUri), 'ERR_PUBLISHER_IMAGE_NO_URI');
    await expectCode(up(randomUUID()), 'ERR_PUBLISHER_NOT_FOUND');
    await expectCode(up(xz, join(f.dir, 'missing.raw')), 'ERR_PUBLISHER_NOT_FOUND');
    await expectCode(up(xz, f.dir), 'ERR_PUBLISHER_NOT_FOUND');
    expect({ db: await snapshot(p), files: files() }).toEqual(before);
  });

  it('upload failures: the image configuration (IMAGE_TARGET), the transfer (TRANSFER), the caller’s own errors', async () => {
    const p = f.store.publisher;
    const id = await newImage();
    const before = await snapshot(p);
    const elsewhere = createUploadFacade({
      config: parseUploadConfig(
        '[x]\nserver = "other.example"\nprotocol = "local"\nuriMatch = "https://other.example/"\nuriReplace = "/tmp/x/"\n',
      ),
    });
    await expectCode(
      uploadImage({ store: p, target: elsewhere, image: id, file: source }),
      'ERR_PUBLISHER_IMAGE_TARGET',
    );
    // The target directory cannot be created: a file is in the way.
    writeFileSync(join(f.dir, 'blocker'), 'x');
    const blocked = createUploadFacade({
      config: parseUploadConfig(
        `[t]\nserver = "img.example"\nprotocol = "local"\nuriMatch = "https://img.example/"\nuriReplace = ${JSON.stringify(`${join(f.dir, 'blocker')}/`)}\n`,
      ),
    });
    const transfer = await expectCode(
      uploadImage({ store: p, target: blocked, image: id, file: source }),
      'ERR_PUBLISHER_TRANSFER',
    );
    expect((transfer.cause as { code?: string }).code).toBe('ERR_UPLOAD_FAILED');
    // A target factory's own error passes through untouched.
    const mine = new PublisherError('ERR_PUBLISHER_INVALID_ARGUMENT', 'no configuration, says the caller');
    expect(
      await uploadImage({
        store: p,
        target: async () => Promise.reject(mine),
        image: id,
        file: source,
      }).catch((e) => e),
    ).toBe(mine);
    expect(await snapshot(p)).toEqual(before);
  });

  it('an abort is ERR_PUBLISHER_ABORTED and changes nothing', async () => {
    const p = f.store.publisher;
    const id = await newImage('raw.gz');
    const big = join(f.dir, 'big.raw');
    writeFileSync(big, randomBytes(48 * 1024 * 1024));
    const before = { db: await snapshot(p), files: files() };
    for (const file of [big, source]) {
      const ac = new AbortController();
      await expectCode(
        uploadImage({
          store: p,
          target: f.facade(),
          image: id,
          file,
          signal: ac.signal,
          onProgress: () => ac.abort(),
        }),
        'ERR_PUBLISHER_ABORTED',
      );
    }
    expect({ db: await snapshot(p), files: files() }).toEqual(before);
    // And through the local copy loop of a large uncompressed upload.
    const plain = await newImage();
    const b2 = { db: await snapshot(p), files: files() };
    const ac = new AbortController();
    await expectCode(
      uploadImage({
        store: p,
        target: f.facade(),
        image: plain,
        file: big,
        signal: ac.signal,
        onProgress: (phase, done) => phase === 'upload' && done > 0 && ac.abort(),
      }),
      'ERR_PUBLISHER_ABORTED',
    );
    expect({ db: await snapshot(p), files: files() }).toEqual(b2);
  });
});

describe('new image URIs and versions', () => {
  const at = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  it('keeps scheme, host, port and directory; names the file <uuid>_<UTC stamp>.<hv:format>', () => {
    expect(newImageUri('https://h.example:2880/vm/images/old.img', 'u-1', 'raw.gz', at)).toBe(
      'https://h.example:2880/vm/images/u-1_2024-01-02_03-04-05.raw.gz',
    );
    expect(newImageUri('http://h/x', 'u', undefined, at)).toBe('http://h/u_2024-01-02_03-04-05.img');
  });
  it('rejects a non-URI', () => {
    expect(() => newImageUri('not a uri', 'u', undefined, at)).toThrow(/invalid hv:uri/);
  });
  it.each([
    [undefined, '0.0.1'],
    ['', '0.0.1'],
    ['beta', '0.0.1'],
    ['0.0.9', '0.0.10'],
    ['0.0.1a', '0.0.2a'],
    ['3', '4'],
  ])('nextVersion(%j) = %j', (previous, next) => {
    expect(nextVersion(previous)).toBe(next);
  });
});
