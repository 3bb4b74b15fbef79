// Publishing a list end to end in-process: a real store, the real local backend, signatures checked with
// `openssl smime -verify` and with the subscriber's openList; every refusal leaves store and files alone.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateImageList } from '@hepix/hepix-imagelist-schema';
import { openList } from '@hepix/imagelist-client';
import { TrustStore } from '@hepix/smime-x509';
import { issueCert, makePki, opensslVerify, type TestPki } from '@hepix/test-support';
import { createUploadFacade, parseUploadConfig } from '@hepix/upload-facade';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  addImageLocation,
  deprecateImage,
  loadSigner,
  previewImageList,
  publishImageList,
  removeImageLocation,
  undeprecateImage,
} from '../src/index.js';
import { expectCode, type Fixture, fixture, snapshot } from './helpers.js';

const LIST = '9b6fad19-d913-4cca-b77d-c4b4fcd9dc36';
const IMAGE = '7b1aea46-8776-4447-9450-00e720fc042c';
const decoder = join(import.meta.dirname, '../../marketplace/test/fixtures/legacy-decoder.py');

let pki: TestPki;
let other: TestPki;
beforeAll(() => {
  pki = makePki();
  other = makePki(undefined, 'Eve Example');
});

let f: Fixture;
beforeEach(async () => {
  f = await fixture();
  const p = f.store.publisher;
  await p.addEndorser(pki.endorser.subject, {
    'hv:ca': pki.caSubject,
    'dc:creator': 'Owen Synge',
    'hv:email': 'owen@example.org',
  });
  await p.addImageList(LIST, {
    'dc:title': 'Test list',
    'dc:description': 'DESY images',
    'hv:uri': `https://img.example/lists/${LIST}.smime`,
  });
  await p.bindEndorser(LIST, pki.endorser.subject);
  await p.addImage(IMAGE, {
    'dc:title': 'Worker node',
    'dc:description': 'SL6 worker node',
    'sl:arch': 'x86_64',
    'sl:os': 'Linux',
    'sl:osversion': 'SL 6.4',
    'sl:comments': '', // as AppDB lists carry it
    'hv:hypervisor': 'kvm',
    'hv:uri': `https://img.example/images/${IMAGE}.img`,
    'hv:size': '1024',
    'sl:checksum:sha512': 'ab'.repeat(64),
    'hv:version': '0.0.1',
  });
  await p.bindImage(LIST, IMAGE);
});
afterEach(async () => f.dispose());

const signer = () => loadSigner({ certificateFile: pki.endorser.cert, keyFile: pki.endorser.key });
const files = () =>
  existsSync(f.www)
    ? readdirSync(f.www, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => e.name)
    : [];
const published = () => join(f.www, 'lists', `${LIST}.smime`);

describe('publishImageList', () => {
  it('signs, uploads and then records the new version; empty values are published with a warning', async () => {
    const logs: string[] = [];
    const now = new Date('2030-01-02T03:04:05Z');
    const r = await publishImageList({
      store: f.store.publisher,
      target: f.facade(),
      imageList: LIST,
      signer: await signer(),
      now: () => now,
      lifetimeDays: 10,
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
    expect(r).toMatchObject({
      version: '0.0.1',
      created: '2030-01-02T03:04:05Z',
      expires: '2030-01-12T03:04:05Z',
      uri: `https://img.example/lists/${LIST}.smime`,
      warnings: [`image ${IMAGE}: sl:comments is empty`],
    });
    expect(logs).toContain(`warn: image ${IMAGE}: sl:comments is empty (published as it is)`);
    const content = opensslVerify(published(), pki.certDir);
    expect(content).toBe(r.content.replace(/\n/g, '\r\n'));
    const doc = JSON.parse(content);
    expect(doc['hv:imagelist']['hv:images'][0]['hv:image']['sl:comments']).toBe('');
    expect(doc['hv:imagelist']['hv:endorser']).toEqual({
      'hv:x509': {
        'hv:dn': pki.endorser.subject,
        'hv:ca': pki.caSubject,
        'dc:creator': 'Owen Synge',
        'hv:email': 'owen@example.org',
      },
    });
    validateImageList(doc, { mode: 'compatible' });
    // The subscriber's checks accept it (signer == hv:endorser), at the time it was created.
    const opened = await openList(readFileSync(published()), {
      trust: await TrustStore.fromDirectory(pki.certDir),
      at: new Date(now.getTime() + 1000),
    });
    expect(opened).toMatchObject({ identifier: LIST, version: '0.0.1' });
    expect((await f.store.publisher.getImageList(LIST))?.metadata).toMatchObject({
      'hv:version': '0.0.1',
      'dc:date:created': '2030-01-02T03:04:05Z',
      'dc:source': `https://img.example/lists/${LIST}.smime`,
    });
    const again = await publishImageList({
      store: f.store.publisher,
      target: f.facade(),
      imageList: LIST,
      signer: await signer(),
    });
    expect(again.version).toBe('0.0.2');
  });

  it('publishes sl:deprecated and sl:locations; the original decoder still accepts the list and keeps the image', async () => {
    const p = f.store.publisher;
    await deprecateImage(p, IMAGE, '  superseded by SL7  ');
    expect(await addImageLocation(p, IMAGE, 'https://mirror.example/a.img')).toMatchObject({ added: true });
    expect(await addImageLocation(p, IMAGE, 'http://mirror2.example/a.img')).toEqual({
      added: true,
      locations: ['https://mirror.example/a.img', 'http://mirror2.example/a.img'],
    });
    expect(await addImageLocation(p, IMAGE, 'https://mirror.example/a.img')).toMatchObject({ added: false });
    const r = await publishImageList({
      store: p,
      target: f.facade(),
      imageList: LIST,
      signer: await signer(),
    });
    const image = JSON.parse(r.content)['hv:imagelist']['hv:images'][0]['hv:image'];
    expect(image['sl:deprecated']).toBe('superseded by SL7');
    expect(image['sl:locations']).toEqual(['https://mirror.example/a.img', 'http://mirror2.example/a.img']);
    const py = spawnSync('python3', [decoder], {
      input: opensslVerify(published(), pki.certDir),
      encoding: 'utf8',
    });
    expect(py.stderr).toBe('');
    expect(JSON.parse(py.stdout)).toEqual({ accepted: true, reason: '', images: [IMAGE] });

    expect(await removeImageLocation(p, IMAGE, 'https://mirror.example/a.img')).toEqual({
      locations: ['http://mirror2.example/a.img'],
    });
    await removeImageLocation(p, IMAGE, 'http://mirror2.example/a.img');
    expect(await undeprecateImage(p, IMAGE)).toEqual({ changed: true });
    expect(await undeprecateImage(p, IMAGE)).toEqual({ changed: false });
    const r2 = await publishImageList({
      store: p,
      target: f.facade(),
      imageList: LIST,
      signer: await signer(),
    });
    const image2 = JSON.parse(r2.content)['hv:imagelist']['hv:images'][0]['hv:image'];
    expect(image2).not.toHaveProperty('sl:deprecated');
    expect(image2).not.toHaveProperty('sl:locations');
  });

  it('refuses bad annotations without changing anything', async () => {
    const p = f.store.publisher;
    await addImageLocation(p, IMAGE, 'https://mirror.example/a.img');
    const before = await snapshot(p);
    await expectCode(deprecateImage(p, IMAGE, '   '), 'ERR_PUBLISHER_INVALID_ARGUMENT');
    await expectCode(deprecateImage(p, 'nope', 'why'), 'ERR_PUBLISHER_NOT_FOUND');
    await expectCode(undeprecateImage(p, 'nope'), 'ERR_PUBLISHER_NOT_FOUND');
    await expectCode(
      addImageLocation(p, IMAGE, 'ftp://mirror.example/a.img'),
      'ERR_PUBLISHER_INVALID_ARGUMENT',
    );
    await expectCode(addImageLocation(p, IMAGE, 'not a url'), 'ERR_PUBLISHER_INVALID_ARGUMENT');
    await expectCode(
      addImageLocation(p, IMAGE, `https://img.example/images/${IMAGE}.img`),
      'ERR_PUBLISHER_INVALID_ARGUMENT',
    );
    await expectCode(addImageLocation(p, 'nope', 'https://m.example/x'), 'ERR_PUBLISHER_NOT_FOUND');
    await expectCode(removeImageLocation(p, IMAGE, 'https://other.example/a.img'), 'ERR_PUBLISHER_NOT_FOUND');
    expect(await snapshot(p)).toEqual(before);
  });

  describe('refusals leave the store and the published files as they were', () => {
    async function refused(code: string, setup: () => Promise<void>, run: () => Promise<unknown>) {
      await setup();
      const before = { db: await snapshot(f.store.publisher), files: files() };
      const err = await expectCode(run(), code);
      expect({ db: await snapshot(f.store.publisher), files: files() }).toEqual(before);
      return err;
    }
    const publish = async (extra: Partial<Parameters<typeof publishImageList>[0]> = {}) =>
      publishImageList({
        store: f.store.publisher,
        target: f.facade(),
        imageList: LIST,
        signer: await signer(),
        ...extra,
      });

    it('an empty value subscribers need (hv:uri of an image): LIST_INCOMPLETE with the problem', async () => {
      const err = (await refused(
        'ERR_PUBLISHER_LIST_INCOMPLETE',
        () => f.store.publisher.setImageKeys(IMAGE, { 'hv:uri': '', 'sl:checksum:sha512': '' }),
        () => publish(),
      )) as unknown as { details: string[] };
      expect(err.details.join('\n')).toMatch(/hv:uri/);
      expect(err.details.join('\n')).toMatch(/sl:checksum:sha512/);
    });
    it('no hv:uri on the list', async () => {
      await refused(
        'ERR_PUBLISHER_LIST_NO_URI',
        () => f.store.publisher.deleteImageListKey(LIST, 'hv:uri'),
        () => publish(),
      );
    });
    it('a certificate of no bound endorser', async () => {
      await refused(
        'ERR_PUBLISHER_ENDORSER_MISMATCH',
        async () => {},
        async () =>
          publish({
            signer: await loadSigner({ certificateFile: other.endorser.cert, keyFile: other.endorser.key }),
          }),
      );
    });
    it('no keyUsage, no digitalSignature', async () => {
      const none = issueCert(pki, 'no-ku', pki.endorser.subject, {
        extensions: ['basicConstraints = critical, CA:false'],
      });
      await refused(
        'ERR_PUBLISHER_KEY_USAGE',
        async () => {},
        async () => publish({ signer: await loadSigner({ certificateFile: none.cert, keyFile: none.key }) }),
      );
      const enc = issueCert(pki, 'no-ds', pki.endorser.subject, {
        extensions: ['basicConstraints = critical, CA:false', 'keyUsage = critical, keyEncipherment'],
      });
      await refused(
        'ERR_PUBLISHER_NO_DIGITAL_SIGNATURE',
        async () => {},
        async () => publish({ signer: await loadSigner({ certificateFile: enc.cert, keyFile: enc.key }) }),
      );
    });
    it('a key that is not the certificate’s', async () => {
      const err = await refused(
        'ERR_PUBLISHER_KEY',
        async () => {},
        async () =>
          publish({
            signer: await loadSigner({ certificateFile: pki.endorser.cert, keyFile: other.endorser.key }),
            keyLabel: other.endorser.key,
          }),
      );
      expect(err.message).toMatch(/does not belong to the signing certificate/);
    });
    it('no upload configuration for the list host: LIST_TARGET', async () => {
      const elsewhere = createUploadFacade({
        config: parseUploadConfig(
          '[x]\nserver = "other.example"\nprotocol = "local"\nuriMatch = "https://other.example/"\nuriReplace = "/tmp/x/"\n',
        ),
      });
      await refused(
        'ERR_PUBLISHER_LIST_TARGET',
        async () => {},
        () => publish({ target: elsewhere }),
      );
    });
    it('an unknown list', async () => {
      await refused(
        'ERR_PUBLISHER_NOT_FOUND',
        async () => {},
        () => publish({ imageList: 'nope' }),
      );
    });
  });
});

describe('previewImageList', () => {
  it('shows the next version and dates, all endorsers without a signer, and the strict issues', async () => {
    const p = f.store.publisher;
    await p.addEndorser('/CN=Second', { 'hv:ca': '/CN=CA' });
    await p.bindEndorser(LIST, '/CN=Second');
    const now = new Date('2030-01-01T00:00:00Z');
    const preview = await previewImageList(p, LIST, { now, lifetimeDays: 28 });
    expect(preview.document['hv:imagelist']['hv:version']).toBe('0.0.1');
    expect(Array.isArray(preview.document['hv:imagelist']['hv:endorser'])).toBe(true);
    expect(preview.warnings).toEqual([`image ${IMAGE}: sl:comments is empty`]);
    // Two endorsers cannot be published: strict mode wants one object.
    expect(preview.issues.join('\n')).toMatch(/hv:endorser/);
    const signed = await previewImageList(p, LIST, {
      now,
      lifetimeDays: 28,
      signer: { subject: pki.endorser.subject, issuer: pki.caSubject },
    });
    expect(signed.issues).toEqual([]);
    expect(signed.document['hv:imagelist']['hv:endorser']).toMatchObject({
      'hv:x509': { 'hv:dn': pki.endorser.subject },
    });
    expect((await p.getImageList(LIST))?.metadata['hv:version']).toBeUndefined();
  });
});
