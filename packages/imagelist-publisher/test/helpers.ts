// A fresh SQLite store per test, a local upload target for one public host, and a snapshot of everything the
// publisher's repository holds (to prove that a refused operation changed nothing).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type PublisherRepository, type Store } from '@hepix/imagelist-store';
import { createUploadFacade, parseUploadConfig, type UploadFacade } from '@hepix/upload-facade';
import { expect } from 'vitest';

export const DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';

export interface Fixture {
  dir: string;
  store: Store;
  /** Files under `https://img.example/` land in `www`. */
  www: string;
  facade: () => UploadFacade;
  dispose: () => Promise<void>;
}

export async function fixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'hepix-publisher-'));
  const store = await openStore(`sqlite:///${join(dir, 'store.db')}`);
  const www = join(dir, 'www');
  const config = parseUploadConfig(
    `[t]\nserver = "img.example"\nprotocol = "local"\nuriMatch = "https://img.example/"\nuriReplace = ${JSON.stringify(`${www}/`)}\n`,
  );
  const facades: UploadFacade[] = [];
  return {
    dir,
    store,
    www,
    facade: () => {
      const f = createUploadFacade({ config });
      facades.push(f);
      return f;
    },
    dispose: async () => {
      for (const f of facades) await f.dispose();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Everything the publisher repository holds. */
export async function snapshot(p: PublisherRepository) {
  return {
    lists: await Promise.all((await p.listImageLists()).map((id) => p.getImageListContents(id))),
    images: await Promise.all((await p.listImages()).map((id) => p.getImage(id))),
    endorsers: await Promise.all((await p.listEndorsers()).map((dn) => p.getEndorser(dn))),
  };
}

/** Awaits a rejection and checks its code; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  const err = (await promise.then(
    () => {
      throw new Error(`expected a rejection with ${code}`);
    },
    (e: unknown) => e,
  )) as Error & { code: string };
  expect(err.code, err.message).toBe(code);
  return err;
}
