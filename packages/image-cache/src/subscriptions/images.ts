// The image rows the store records for an opened list.
import { imageSize } from '@hepix/hepix-imagelist-schema';
import { metadataString as str, type OpenedList } from '@hepix/imagelist-client';
import type { RecordImageListInput } from '@hepix/imagelist-store';

/**
 * The image rows of an opened list. The schema has already dropped invalid images (openList warns about each);
 * an image without `dc:identifier` or a second one with the same identifier is skipped here, with a warning.
 */
export function imageInstances(
  opened: Pick<OpenedList, 'identifier' | 'images'>,
  warn: (message: string) => void,
): RecordImageListInput['images'] {
  const seen = new Set<string>();
  const out: RecordImageListInput['images'] = [];
  for (const image of opened.images) {
    const identifier = str(image['dc:identifier']);
    if (!identifier) {
      warn(`Image list '${opened.identifier}' has an image without dc:identifier; skipped`);
      continue;
    }
    if (seen.has(identifier)) {
      warn(`Image list '${opened.identifier}' lists image '${identifier}' twice; the first is used`);
      continue;
    }
    seen.add(identifier);
    let size = 0;
    try {
      size = Number(imageSize(image as never));
    } catch {
      size = Number(str(image['hv:size'])) || 0;
    }
    const row: RecordImageListInput['images'][number] = {
      identifier,
      title: str(image['dc:title']),
      description: str(image['dc:description']),
      hypervisor: str(image['hv:hypervisor']),
      sha512: str(image['sl:checksum:sha512']),
      uri: str(image['hv:uri']),
      os: str(image['sl:os']),
      osversion: str(image['sl:osversion']),
      arch: str(image['sl:arch']),
      version: str(image['hv:version']),
      size,
      comments: str(image['sl:comments']),
      image,
    };
    if (image['hv:format'] !== undefined) row.format = str(image['hv:format']);
    out.push(row);
  }
  return out;
}
