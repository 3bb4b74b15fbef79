// Runs one Request against the store and the upload facade. Returns what to print; never prints itself.
import { readFile } from 'node:fs/promises';
import type { PublisherRepository } from '@hepix/imagelist-store';
import { VmcasterError } from './errors.js';
import type { ImportOutcome } from './import.js';
import type { SignerIdentity } from './publish.js';
import type { Action, Entity } from './request.js';
import type { UploadPhase, UploadTarget } from './upload-image.js';

// The crypto, schema and transfer modules are loaded only by the actions that need them: listing and editing
// metadata then start as fast as the store allows.
const publishModule = () => import('./publish.js');
const importModule = () => import('./import.js');
const serialize = async (doc: unknown) =>
  (await import('@hepix/hepix-imagelist-schema')).serializeImageList(doc).trimEnd();

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ExecuteContext {
  store: PublisherRepository;
  /** Creates the upload target on first use (it needs the configuration file). */
  target: () => Promise<UploadTarget>;
  certificateFile: string;
  keyFile: string;
  passphrase: () => Promise<string | undefined>;
  /** Subject and issuer of the signing certificate, if one can be read (for `--imagelist-show`). */
  signerIdentity?: () => Promise<SignerIdentity | undefined>;
  lifetimeDays: number;
  caDir: string;
  noVerify: boolean;
  tlsCa?: string;
  now?: () => Date;
  log: (level: LogLevel, message: string) => void;
  onProgress?: (phase: UploadPhase, done: number, total: number | undefined) => void;
  /** Aborts a running upload (Ctrl-C): nothing is left at the target and the store is not changed. */
  signal?: AbortSignal;
}

export interface Output {
  /** Lines for humans. */
  text: string[];
  /** The same result for `--json`. */
  json: unknown;
  /** Non-zero when the action ran but the result is not good (an invalid list shown). */
  exitCode?: number;
  /** Extra lines for stderr (validation issues). */
  warnings?: string[];
}

const out = (text: string[], json: unknown): Output => ({ text, json });

function notFound(entity: Entity, id: string): VmcasterError {
  const what = entity === 'imagelist' ? 'image list' : entity;
  return new VmcasterError('ERR_VMCASTER_NOT_FOUND', `${what} ${id} does not exist`, { subject: id });
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
        const doc = await (await publishModule()).exportImageList(store, action.id);
        return out([await serialize(doc)], doc);
      }
      if (action.entity === 'imagelist') {
        const signer = await ctx.signerIdentity?.().catch(() => undefined);
        const { document: doc, issues } = await (await publishModule()).previewImageList(store, action.id, {
          signer,
          now: (ctx.now ?? (() => new Date()))(),
          lifetimeDays: ctx.lifetimeDays,
        });
        return {
          text: [await serialize(doc)],
          json: doc,
          ...(issues.length
            ? {
                exitCode: 20,
                warnings: [
                  `image list ${action.id} would not pass strict validation:`,
                  ...issues.map((i) => `  ${i}`),
                ],
              }
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
      try {
        if (action.entity === 'endorser') await store.addEndorser(action.id);
        else if (action.entity === 'imagelist') await store.addImageList(action.id);
        else await store.addImage(action.id);
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_STORE_CONFLICT')
          throw new VmcasterError(
            'ERR_VMCASTER_CONFLICT',
            `${action.entity === 'imagelist' ? 'image list' : action.entity} ${action.id} already exists`,
            { subject: action.id, cause: err },
          );
        throw err;
      }
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
      let value: string;
      if (action.kind === 'set') value = action.value;
      else {
        try {
          value = (await readFile(action.file, 'utf8')).replace(/\r?\n$/, '');
        } catch (cause) {
          throw new VmcasterError(
            'ERR_VMCASTER_NOT_FOUND',
            `cannot read ${action.file}: ${(cause as Error).message}`,
            { cause },
          );
        }
      }
      await getMetadata(store, action.entity, action.id);
      try {
        await setKeys(store, action.entity, action.id, { [action.key]: value });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_STORE_INVALID')
          throw new VmcasterError(
            'ERR_VMCASTER_USAGE',
            `the key ${action.key} cannot be set: ${(err as Error).message}`,
            { cause: err },
          );
        throw err;
      }
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
        {
          [verb]: true,
          imageList: action.imageList,
          endorser: action.endorser,
        },
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
        {
          [verb]: true,
          imageList: action.imageList,
          image: action.image,
        },
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
      const { importSignedImageList, importJsonImageList } = await importModule();
      const r =
        action.kind === 'import-smime'
          ? await importSignedImageList(store, action.file, {
              caDir: ctx.caDir,
              noVerify: ctx.noVerify,
              now: ctx.now,
            })
          : await importJsonImageList(store, action.file);
      return out(importText(r), r);
    }
    case 'download': {
      if (ctx.noVerify)
        ctx.log('warn', 'importing the downloaded list WITHOUT verifying its signature (--no-verify)');
      const r = await (await importModule()).downloadImageList(store, action.imageList, {
        caDir: ctx.caDir,
        noVerify: ctx.noVerify,
        now: ctx.now,
        tlsCa: ctx.tlsCa,
        log: (l, m) => ctx.log(l, m),
      });
      return out([`downloaded ${r.uri}`, ...importText(r)], r);
    }
    case 'upload-image': {
      const { uploadImage } = await import('./upload-image.js');
      const r = await uploadImage({
        store,
        target: ctx.target,
        image: action.image,
        file: action.file,
        now: ctx.now,
        log: (l, m) => ctx.log(l, m),
        onProgress: ctx.onProgress,
        signal: ctx.signal,
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
      const { loadSigner } = await import('./signer.js');
      const { publishImageList } = await publishModule();
      const signer = await loadSigner({
        certificateFile: ctx.certificateFile,
        keyFile: ctx.keyFile,
        passphrase: ctx.passphrase,
      });
      const r = await publishImageList({
        store,
        target: ctx.target,
        imageList: action.imageList,
        signer,
        keyLabel: ctx.keyFile,
        signal: ctx.signal,
        lifetimeDays: ctx.lifetimeDays,
        now: ctx.now,
        log: (l, m) => ctx.log(l, m),
      });
      return out(
        [
          `published image list ${r.imageList} version ${r.version} to ${r.uri}`,
          `  created ${r.created}, expires ${r.expires}`,
        ],
        { imageList: r.imageList, uri: r.uri, version: r.version, created: r.created, expires: r.expires },
      );
    }
    case 'help':
    case 'version':
      return out([], null);
  }
}
