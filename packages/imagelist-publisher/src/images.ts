// Image annotations of the marketplace keys, published by the next list upload: `sl:deprecated` (a reason:
// subscribers should move away from the image) and `sl:locations` (further URLs of the same bytes, after
// `hv:uri`). Old subscribers ignore both. Locations are stored as the JSON text of an array and published as
// an array.
import type { Metadata, PublisherImage, PublisherRepository } from '@hepix/imagelist-store';
import { internal, PublisherError } from './errors.js';

/** The image's `sl:locations` (the strings of the stored JSON array; none when absent or not an array). */
export function imageLocations(metadata: Metadata): string[] {
  const text = metadata['sl:locations'];
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The stored image, or ERR_PUBLISHER_NOT_FOUND. */
export async function requireImage(store: PublisherRepository, image: string): Promise<PublisherImage> {
  let record: PublisherImage | undefined;
  try {
    record = await store.getImage(image);
  } catch (err) {
    throw internal(err, `reading image ${image}`);
  }
  if (!record)
    throw new PublisherError('ERR_PUBLISHER_NOT_FOUND', `image ${image} does not exist`, { subject: image });
  return record;
}

async function write(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw internal(err, what);
  }
}

/** Marks an image deprecated with a reason (published as `sl:deprecated`); replaces an earlier reason. */
export async function deprecateImage(
  store: PublisherRepository,
  image: string,
  reason: string,
): Promise<void> {
  const text = typeof reason === 'string' ? reason.trim() : '';
  if (!text)
    throw new PublisherError('ERR_PUBLISHER_INVALID_ARGUMENT', `deprecating image ${image} needs a reason`, {
      subject: image,
    });
  await requireImage(store, image);
  await write(`deprecating image ${image}`, () => store.setImageKeys(image, { 'sl:deprecated': text }));
}

/** Removes the deprecation of an image; `changed` is false when it was not deprecated. */
export async function undeprecateImage(
  store: PublisherRepository,
  image: string,
): Promise<{ changed: boolean }> {
  const record = await requireImage(store, image);
  if (!Object.hasOwn(record.metadata, 'sl:deprecated')) return { changed: false };
  await write(`undeprecating image ${image}`, () => store.deleteImageKey(image, 'sl:deprecated'));
  return { changed: true };
}

function checkLocation(image: string, url: string, record: PublisherImage): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new PublisherError('ERR_PUBLISHER_INVALID_ARGUMENT', `'${url}' is not a URL`, {
      subject: image,
      cause,
    });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new PublisherError(
      'ERR_PUBLISHER_INVALID_ARGUMENT',
      `a location must be an http or https URL, not '${url}'`,
      {
        subject: image,
      },
    );
  if (url === record.metadata['hv:uri'])
    throw new PublisherError('ERR_PUBLISHER_INVALID_ARGUMENT', `'${url}' is the image's hv:uri already`, {
      subject: image,
    });
  return url;
}

/** Adds a further URL of the image's bytes (kept in order; `added` is false when it was listed already). */
export async function addImageLocation(
  store: PublisherRepository,
  image: string,
  url: string,
): Promise<{ locations: string[]; added: boolean }> {
  const record = await requireImage(store, image);
  checkLocation(image, url, record);
  const locations = imageLocations(record.metadata);
  if (locations.includes(url)) return { locations, added: false };
  locations.push(url);
  await write(`adding a location to image ${image}`, () =>
    store.setImageKeys(image, { 'sl:locations': JSON.stringify(locations) }),
  );
  return { locations, added: true };
}

/** Removes a location; `ERR_PUBLISHER_NOT_FOUND` when the image does not list it. */
export async function removeImageLocation(
  store: PublisherRepository,
  image: string,
  url: string,
): Promise<{ locations: string[] }> {
  const record = await requireImage(store, image);
  const locations = imageLocations(record.metadata);
  if (!locations.includes(url))
    throw new PublisherError('ERR_PUBLISHER_NOT_FOUND', `image ${image} has no location ${url}`, {
      subject: image,
    });
  const rest = locations.filter((l) => l !== url);
  await write(`removing a location of image ${image}`, () =>
    rest.length
      ? store.setImageKeys(image, { 'sl:locations': JSON.stringify(rest) })
      : store.deleteImageKey(image, 'sl:locations'),
  );
  return { locations: rest };
}
