// Runs one Request: composes @hepix/imagelist-publisher and the store, and says what to print. It never prints
// itself and holds no domain logic.
import { readFile } from 'node:fs/promises';
import type { Logger } from '@hepix/common';
import type { ImportOutcome, SignerIdentity, TargetSource, UploadPhase } from '@hepix/imagelist-publisher';
import type { PublisherRepository } from '@hepix/imagelist-store';
import type { TlsTrust, Transport } from '@hepix/transport';
import { CliError } from './errors.js';
import { STATUS } from './exit.js';
import type { Action, Entity } from './request.js';

// The publisher library (crypto, schema, transfers) is loaded only by the actions that need it: listing and
// editing metadata then start as fast as the store allows.
const publisher = () => import('@hepix/imagelist-publisher');
const serialize = async (doc: unknown) =>
  (await import('@hepix/hepix-imagelist-schema')).serializeImageList(doc).trimEnd();

export interface SigningSettings {
  /** PEM certificate or PKCS#12 file. */
  certificateFile: string;
  keyFile: string;
  /** `certificateFile` is PKCS#12 (`--p12-cert`). */
  pkcs12: boolean;
  passphrase: () => Promise<string | undefined>;
}

export interface ExecuteContext {
  store: PublisherRepository;
  /** Creates the upload target on first use (it needs the configuration file). */
  target: TargetSource;
  signing: SigningSettings;
  /** Subject and issuer of the signing certificate, if one can be read without a passphrase (for a preview). */
  signerIdentity?: () => Promise<SignerIdentity | undefined>;
  lifetimeDays: number;
  caDir: string;
  noVerify: boolean;
  /** The HTTP client for downloads, created on first use. */
  transport: () => Promise<Transport>;
  /** How https servers of downloads are authenticated. */
  tls: TlsTrust;
  now?: () => Date;
  log: Logger;
  onProgress?: (phase: UploadPhase, done: number, total: number | undefined) => void;
  /** Aborts a running upload (Ctrl-C): nothing is left at the target and the store is not changed. */
  signal?: AbortSignal;
}

export interface Output {
  /** Lines for humans. */
  text: string[];
  /** The same result for `--json`. */
  json: unknown;
  /** Set when the action ran but the result is not good (an invalid list shown). */
  exitCode?: number;
  /** Extra lines for stderr (validation issues). */
  warnings?: string[];
}

const out = (text: string[], json: unknown): Output => ({ text, json });

function notFound(entity: Entity, id: string): CliError {
  const what = entity === 'imagelist' ? 'image list' : entity;
  return new CliError('ERR_CLI_NOT_FOUND', `${what} ${id} does not exist`);
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new CliError('ERR_CLI_NOT_FOUND', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

async function getMetadata(
  store: PublisherRepository,
  entity: Entity,
  id: string,
): Promise<Record<string, string>> {
  const record =
    entity === 'endorser'
      ? await store.getEndorser(id)
      : entity === 'imagelist'
        ? await store.getImageList(id)
        : await store.getImage(id);
  if (!record) throw notFound(entity, id);
  return record.metadata;
}

async function setKeys(store: PublisherRepository, entity: Entity, id: string, meta: Record<string, string>) {
  if (entity === 'endorser') await store.setEndorserKeys(id, meta);
  else if (entity === 'imagelist') await store.setImageListKeys(id, meta);
  else await store.setImageKeys(id, meta);
}

function importText(r: ImportOutcome): string[] {
  const lines = [
    `${r.created ? 'created' : 'updated'} image list ${r.identifier}${r.metadataUpdated ? '' : ' (stored version is newer; metadata kept)'}`,
  ];
  for (const i of r.images)
    lines.push(`  image ${i.identifier}: ${i.created ? 'created' : i.metadataUpdated ? 'updated' : 'kept'}`);
  for (const e of r.endorsers) lines.push(`  endorser ${e.dn}: ${e.created ? 'created' : 'known'}`);
  if (r.signer) lines.push(`  signed by ${r.signer.subject} (issuer ${r.signer.issuer})`);
  return lines;
}

export async function execute(action: Action, ctx: ExecuteContext): Promise<Output> {
  const { store } = ctx;
  const now = ctx.now ?? (() => new Date());
  switch (action.kind) {
    case 'list': {
      const ids =
        action.entity === 'endorser'
          ? await store.listEndorsers()
          : action.entity === 'imagelist'
            ? await store.listImageLists()
            : await store.listImages();
      return out(ids, ids);
    }
    case 'show': {
      if (action.entity === 'imagelist' && action.stored) {
        const doc = await (await publisher()).exportImageList(store, action.id);
        return out([await serialize(doc)], doc);
      }
      if (action.entity === 'imagelist') {
        const signer = await ctx.signerIdentity?.().catch(() => undefined);
        const {
          document: doc,
          issues,
          warnings,
        } = await (await publisher()).previewImageList(store, action.id, {
          signer,
          now: now(),
          lifetimeDays: ctx.lifetimeDays,
        });
        const notes = warnings.map((w) => `${w} (published as it is)`);
        return {
          text: [await serialize(doc)],
          json: doc,
          ...(issues.length
            ? {
                exitCode: STATUS.LIST_INCOMPLETE,
                warnings: [
                  ...notes,
                  `image list ${action.id} would not pass strict validation:`,
                  ...issues.map((i) => `  ${i}`),
                ],
              }
            : notes.length
              ? { warnings: notes }
              : {}),
        };
      }
      if (action.entity === 'endorser') {
        const e = await store.getEndorser(action.id);
        if (!e) throw notFound('endorser', action.id);
        const json = { 'hv:dn': e.dn, ...e.metadata };
        return out([JSON.stringify(json, null, 4)], { ...json, imageLists: e.imageLists });
      }
      const img = await store.getImage(action.id);
      if (!img) throw notFound('image', action.id);
      const json = { 'dc:identifier': img.identifier, ...img.metadata };
      return out([JSON.stringify(json, null, 4)], { ...json, imageLists: img.imageLists });
    }
    case 'add': {
      if (action.entity === 'endorser') await store.addEndorser(action.id);
      else if (action.entity === 'imagelist') await store.addImageList(action.id);
      else await store.addImage(action.id);
      return out([`added ${action.entity} ${action.id}`], { added: action.entity, id: action.id });
    }
    case 'del': {
      await getMetadata(store, action.entity, action.id);
      if (action.entity === 'endorser') await store.deleteEndorser(action.id);
      else if (action.entity === 'imagelist') await store.deleteImageList(action.id);
      else await store.deleteImage(action.id);
      return out([`deleted ${action.entity} ${action.id}`], { deleted: action.entity, id: action.id });
    }
    case 'keys': {
      const meta = await getMetadata(store, action.entity, action.id);
      const keys = Object.keys(meta).sort();
      return out(keys, keys);
    }
    case 'set':
    case 'set-from-file': {
      const value =
        action.kind === 'set'
          ? action.value
          : (await readInput(action.file)).toString('utf8').replace(/\r?\n$/, '');
      await getMetadata(store, action.entity, action.id);
      await setKeys(store, action.entity, action.id, { [action.key]: value });
      return out([`${action.id}: ${action.key} = ${JSON.stringify(value)}`], {
        id: action.id,
        key: action.key,
        value,
      });
    }
    case 'unset': {
      await getMetadata(store, action.entity, action.id);
      if (action.entity === 'endorser') await store.deleteEndorserKey(action.id, action.key);
      else if (action.entity === 'imagelist') await store.deleteImageListKey(action.id, action.key);
      else await store.deleteImageKey(action.id, action.key);
      return out([`${action.id}: ${action.key} deleted`], { id: action.id, deleted: action.key });
    }
    case 'bind':
    case 'unbind': {
      await getMetadata(store, 'imagelist', action.imageList);
      await getMetadata(store, 'endorser', action.endorser);
      if (action.kind === 'bind') await store.bindEndorser(action.imageList, action.endorser);
      else await store.unbindEndorser(action.imageList, action.endorser);
      const verb = action.kind === 'bind' ? 'bound' : 'unbound';
      return out(
        [
          `${verb} endorser ${action.endorser} ${action.kind === 'bind' ? 'to' : 'from'} image list ${action.imageList}`,
        ],
        { [verb]: true, imageList: action.imageList, endorser: action.endorser },
      );
    }
    case 'bind-image':
    case 'unbind-image': {
      await getMetadata(store, 'imagelist', action.imageList);
      if (action.kind === 'bind-image') {
        if (!(await store.getImage(action.image))) await store.addImage(action.image);
        await store.bindImage(action.imageList, action.image);
      } else {
        await getMetadata(store, 'image', action.image);
        await store.unbindImage(action.imageList, action.image);
      }
      const verb = action.kind === 'bind-image' ? 'bound' : 'unbound';
      return out(
        [
          `${verb} image ${action.image} ${action.kind === 'bind-image' ? 'to' : 'from'} image list ${action.imageList}`,
        ],
        { [verb]: true, imageList: action.imageList, image: action.image },
      );
    }
    case 'list-endorsers':
    case 'list-images': {
      const list = await store.getImageList(action.imageList);
      if (!list) throw notFound('imagelist', action.imageList);
      const ids = action.kind === 'list-endorsers' ? list.endorsers : list.images;
      return out(ids, ids);
    }
    case 'import-smime':
    case 'import-json': {
      if (action.kind === 'import-smime' && ctx.noVerify)
        ctx.log('warn', `importing ${action.file} WITHOUT verifying its signature (--no-verify)`);
      const data = await readInput(action.file);
      const p = await publisher();
      const r =
        action.kind === 'import-smime'
          ? await p.importSignedImageList(store, data, {
              caDir: ctx.caDir,
              noVerify: ctx.noVerify,
              now,
              log: ctx.log,
              source: action.file,
            })
          : await p.importJsonImageList(store, data, { source: action.file, log: ctx.log });
      return out(importText(r), r);
    }
    case 'download': {
      if (ctx.noVerify)
        ctx.log('warn', 'importing the downloaded list WITHOUT verifying its signature (--no-verify)');
      const r = await (await publisher()).downloadImageList(store, action.imageList, {
        transport: await ctx.transport(),
        tls: ctx.tls,
        caDir: ctx.caDir,
        noVerify: ctx.noVerify,
        now,
        log: ctx.log,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      return out([`downloaded ${r.uri}`, ...importText(r)], r);
    }
    case 'upload-image': {
      const r = await (await publisher()).uploadImage({
        store,
        target: ctx.target,
        image: action.image,
        file: action.file,
        now,
        log: ctx.log,
        ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      const text = r.changed
        ? [
            `uploaded image ${r.image} version ${r.version} to ${r.uri}`,
            `  size ${r.size}`,
            `  sha512 ${r.sha512}`,
          ]
        : [`image ${r.image} unchanged (version ${r.version}); nothing uploaded`];
      return out(text, r);
    }
    case 'publish': {
      const p = await publisher();
      const signer = await p.loadSigner({
        certificateFile: ctx.signing.certificateFile,
        keyFile: ctx.signing.keyFile,
        pkcs12: ctx.signing.pkcs12,
        passphrase: ctx.signing.passphrase,
      });
      const r = await p.publishImageList({
        store,
        target: ctx.target,
        imageList: action.imageList,
        signer,
        keyLabel: ctx.signing.pkcs12 ? ctx.signing.certificateFile : ctx.signing.keyFile,
        lifetimeDays: ctx.lifetimeDays,
        now,
        log: ctx.log,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      return out(
        [
          `published image list ${r.imageList} version ${r.version} to ${r.uri}`,
          `  created ${r.created}, expires ${r.expires}`,
        ],
        { imageList: r.imageList, uri: r.uri, version: r.version, created: r.created, expires: r.expires },
      );
    }
    case 'deprecate': {
      await (await publisher()).deprecateImage(store, action.image, action.reason);
      return out(
        [`image ${action.image} deprecated: ${action.reason.trim()} (published by the next list upload)`],
        {
          image: action.image,
          deprecated: action.reason.trim(),
        },
      );
    }
    case 'undeprecate': {
      const r = await (await publisher()).undeprecateImage(store, action.image);
      return out(
        [
          r.changed
            ? `image ${action.image} no longer deprecated`
            : `image ${action.image} was not deprecated`,
        ],
        { image: action.image, changed: r.changed },
      );
    }
    case 'add-location':
    case 'remove-location': {
      const p = await publisher();
      const r =
        action.kind === 'add-location'
          ? await p.addImageLocation(store, action.image, action.url)
          : await p.removeImageLocation(store, action.image, action.url);
      const line =
        action.kind === 'remove-location'
          ? `image ${action.image}: location ${action.url} removed`
          : 'added' in r && !r.added
            ? `image ${action.image}: location ${action.url} was listed already`
            : `image ${action.image}: location ${action.url} added`;
      return out([line, ...r.locations.map((l) => `  ${l}`)], {
        image: action.image,
        locations: r.locations,
      });
    }
    case 'help':
    case 'version':
      return out([], null);
  }
}
